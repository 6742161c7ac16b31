/**
 * The simulator's model parameters: one versioned JSON file (simulation/config/default.json), any
 * value of which can be overridden from the command line as `--<dotted.path> <value>`. A run is
 * fully described by the config it used and its seed, so both are printed with every result.
 */
import { readFileSync } from 'node:fs';
import { parseQuietHours, Priority, PRIORITIES } from '@app/domain';

export type Scope = 'ics' | 'trust';

export interface Scenario {
  /** Short stable id, used as `policy` in latest.json. */
  name: string;
  label: string;
  /** `ics`: a slot may go to any trust's patient; `trust`: only to the owning trust's own list. */
  scope: Scope;
  strategy: 'broadcast' | 'sequential';
  waveSize: number;
  offerTtlMinutes: number;
}

export interface SimConfig {
  version: number;
  description?: string;
  seed: number;
  days: number;
  /** Multiplies pathways and appointments, for quick runs and tests (1 = full ICS). */
  scale: number;
  /** YYYY-MM-DD, the first simulated day (local midnight, policy time zone). */
  startDate: string;
  trusts: Array<{ ods: string; pathways: number; sites: string[] }>;
  specialties: Array<{ tfc: string; name: string; share: number; sex?: 'M' | 'F' }>;
  waitingList: {
    priorityShares: Record<Priority, number>;
    newShare: number;
    waitWeeksCdf: Array<[number, number]>;
    ageYears: [number, number];
    bookedShare: number;
    bookedWeeksAhead: [number, number];
    unbookedWeeksAhead: [number, number];
  };
  appointments: { perWorkingDayPer1000Pathways: number; newShare: number; clinicHours: [string, string]; slotMinutes: number };
  cancellations: {
    byPatientShare: number;
    byHospitalShare: number;
    noticeBuckets: Array<[number, number, number]>;
    releaseHours: [string, string];
    chainReleaseDelayMinutes: number;
  };
  deprivation: { quintileShares: number[]; mobileShareByQuintile: number[]; respondWithinWindowByQuintile: number[] };
  patients: {
    offerConsentShare: number;
    icsWideConsentShare: number;
    anySiteShare: number;
    namedOtherSites: number;
    smsDeliveredShare: number;
    respondWindowMinutes: number;
    responseMedianMinutes: number;
    responseP90Minutes: number;
    acceptShare: number;
    receiptDelayMinutes: number;
  };
  policy: { minNoticeHours: number; minGainDays: number; minOfferTtlMinutes: number; quietHours: string; timeZone: string };
  matching: { candidateWindowExtra: number; maxRowsReadPerSlot: number };
  scenarios: Scenario[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`simulation config is not usable:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfigFile(path: string): SimConfig {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError([`cannot read ${path}: ${(e as Error).message}`]);
  }
  try {
    return JSON.parse(raw) as SimConfig;
  } catch (e) {
    throw new ConfigError([`${path} is not JSON: ${(e as Error).message}`]);
  }
}

/**
 * Sets one dotted path (`patients.acceptShare`, `trusts.0.pathways`) to a command-line value,
 * parsed to the type the file already has there, so a typo in a name or a word where a number
 * belongs is an error rather than a silently ignored flag.
 */
export function applyOverride(config: SimConfig, path: string, value: string): SimConfig {
  const copy = structuredClone(config) as unknown as Record<string, unknown>;
  const keys = path.split('.');
  let node: Record<string, unknown> = copy;
  for (const k of keys.slice(0, -1)) {
    const next = node[k];
    if (next === null || typeof next !== 'object') throw new ConfigError([`--${path}: "${k}" is not a section of the config`]);
    node = next as Record<string, unknown>;
  }
  const last = keys[keys.length - 1];
  if (!(last in node)) throw new ConfigError([`--${path}: no such parameter (see simulation/config/default.json)`]);
  const current = node[last];
  if (typeof current === 'number') {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new ConfigError([`--${path}: "${value}" is not a number`]);
    node[last] = n;
  } else if (typeof current === 'string') {
    node[last] = value;
  } else if (typeof current === 'boolean') {
    if (value !== 'true' && value !== 'false') throw new ConfigError([`--${path}: "${value}" is not true or false`]);
    node[last] = value === 'true';
  } else {
    try {
      node[last] = JSON.parse(value);
    } catch {
      throw new ConfigError([`--${path}: "${value}" is not JSON (arrays and sections are given as JSON)`]);
    }
  }
  return copy as unknown as SimConfig;
}

const share = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0 && x <= 1;
const positive = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x > 0;
const nonNegative = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0;
const sumsToOne = (xs: number[]) => Math.abs(xs.reduce((a, b) => a + b, 0) - 1) < 1e-6;
const HH_MM = /^([01]\d|2[0-3]):[0-5]\d$/;

/** Every problem with a config, empty when it can be run. */
export function configProblems(c: SimConfig): string[] {
  const p: string[] = [];
  const need = (ok: boolean, msg: string) => {
    if (!ok) p.push(msg);
  };
  need(Number.isInteger(c.version) && c.version >= 1, 'version must be a positive integer');
  need(Number.isInteger(c.seed), 'seed must be an integer');
  need(Number.isInteger(c.days) && c.days >= 1 && c.days <= 366, 'days must be a whole number from 1 to 366');
  need(positive(c.scale) && c.scale <= 10, 'scale must be above 0 and at most 10');
  need(/^\d{4}-\d{2}-\d{2}$/.test(c.startDate ?? '') && !Number.isNaN(Date.parse(`${c.startDate}T00:00:00Z`)), 'startDate must be YYYY-MM-DD');
  need(Array.isArray(c.trusts) && c.trusts.length >= 1, 'trusts must list at least one trust');
  for (const t of c.trusts ?? []) {
    need(/^[A-Z0-9]{3,5}$/.test(t.ods ?? ''), `trust "${t.ods}": ods must be an ODS code`);
    need(nonNegative(t.pathways), `trust ${t.ods}: pathways must not be negative`);
    need(Array.isArray(t.sites) && t.sites.length >= 1, `trust ${t.ods}: needs at least one site`);
  }
  need(Array.isArray(c.specialties) && c.specialties.length >= 1, 'specialties must list at least one');
  for (const s of c.specialties ?? []) {
    need(/^\d{3}$/.test(s.tfc ?? ''), `specialty "${s.tfc}": tfc must be 3 digits`);
    need(share(s.share), `specialty ${s.tfc}: share must be from 0 to 1`);
  }
  if (Array.isArray(c.specialties)) need(sumsToOne(c.specialties.map((s) => s.share)), 'specialty shares must add up to 1');
  const w = c.waitingList;
  if (!w) p.push('waitingList is missing');
  else {
    need(PRIORITIES.every((k) => share(w.priorityShares?.[k])) && sumsToOne(PRIORITIES.map((k) => w.priorityShares[k])), 'waitingList.priorityShares must give P1a..P4 shares adding up to 1');
    need(share(w.newShare) && share(w.bookedShare), 'waitingList.newShare and bookedShare must be from 0 to 1');
    const cdf = w.waitWeeksCdf;
    need(Array.isArray(cdf) && cdf.length >= 2 && cdf[0][1] === 0 && cdf[cdf.length - 1][1] === 1 && cdf.every((x, i) => i === 0 || (x[0] > cdf[i - 1][0] && x[1] >= cdf[i - 1][1])), 'waitingList.waitWeeksCdf must rise from [w, 0] to [w, 1] in increasing weeks');
    for (const k of ['ageYears', 'bookedWeeksAhead', 'unbookedWeeksAhead'] as const) need(isRange(w[k]), `waitingList.${k} must be [low, high] with 0 <= low <= high`);
  }
  const a = c.appointments;
  need(!!a && positive(a.perWorkingDayPer1000Pathways) && share(a.newShare) && positive(a.slotMinutes), 'appointments: perWorkingDayPer1000Pathways and slotMinutes must be positive, newShare a share');
  need(!!a && isClockRange(a.clinicHours), 'appointments.clinicHours must be ["HH:MM", "HH:MM"], start before end');
  const x = c.cancellations;
  if (!x) p.push('cancellations is missing');
  else {
    need(share(x.byPatientShare) && share(x.byHospitalShare) && x.byPatientShare + x.byHospitalShare <= 1, 'cancellations: byPatientShare and byHospitalShare must be shares adding up to at most 1');
    need(Array.isArray(x.noticeBuckets) && x.noticeBuckets.length >= 1 && x.noticeBuckets.every((b) => nonNegative(b[0]) && b[1] > b[0] && share(b[2])) && sumsToOne(x.noticeBuckets.map((b) => b[2])), 'cancellations.noticeBuckets must be [fromHours, toHours, share] with shares adding up to 1');
    need(isClockRange(x.releaseHours), 'cancellations.releaseHours must be ["HH:MM", "HH:MM"], start before end');
    need(nonNegative(x.chainReleaseDelayMinutes), 'cancellations.chainReleaseDelayMinutes must not be negative');
  }
  const d = c.deprivation;
  if (!d) p.push('deprivation is missing');
  else {
    for (const k of ['quintileShares', 'mobileShareByQuintile', 'respondWithinWindowByQuintile'] as const) {
      need(Array.isArray(d[k]) && d[k].length === 5 && d[k].every(share), `deprivation.${k} must be five shares (quintile 1 = most deprived)`);
    }
    if (Array.isArray(d.quintileShares)) need(sumsToOne(d.quintileShares), 'deprivation.quintileShares must add up to 1');
  }
  const pt = c.patients;
  if (!pt) p.push('patients is missing');
  else {
    for (const k of ['offerConsentShare', 'icsWideConsentShare', 'anySiteShare', 'smsDeliveredShare', 'acceptShare'] as const) need(share(pt[k]), `patients.${k} must be from 0 to 1`);
    need(positive(pt.respondWindowMinutes) && positive(pt.responseMedianMinutes), 'patients.respondWindowMinutes and responseMedianMinutes must be positive');
    need(typeof pt.responseP90Minutes === 'number' && pt.responseP90Minutes >= pt.responseMedianMinutes, 'patients.responseP90Minutes must be at least the median');
    need(Number.isInteger(pt.namedOtherSites) && pt.namedOtherSites >= 0, 'patients.namedOtherSites must be a whole number');
    need(nonNegative(pt.receiptDelayMinutes), 'patients.receiptDelayMinutes must not be negative');
  }
  const pol = c.policy;
  if (!pol) p.push('policy is missing');
  else {
    need(nonNegative(pol.minNoticeHours) && nonNegative(pol.minGainDays) && positive(pol.minOfferTtlMinutes), 'policy: minNoticeHours and minGainDays must not be negative, minOfferTtlMinutes positive');
    try {
      parseQuietHours(pol.quietHours);
    } catch (e) {
      p.push(`policy.quietHours: ${(e as Error).message}`);
    }
  }
  need(!!c.matching && Number.isInteger(c.matching.candidateWindowExtra) && c.matching.candidateWindowExtra >= 0 && Number.isInteger(c.matching.maxRowsReadPerSlot) && c.matching.maxRowsReadPerSlot >= 1, 'matching: candidateWindowExtra >= 0 and maxRowsReadPerSlot >= 1, whole numbers');
  need(Array.isArray(c.scenarios) && c.scenarios.length >= 1, 'scenarios must list at least one policy');
  const names = new Set<string>();
  for (const s of c.scenarios ?? []) {
    need(/^[a-z0-9-]+$/.test(s.name ?? ''), `scenario "${s.name}": name must be lower-case letters, digits and dashes`);
    need(!names.has(s.name), `scenario "${s.name}" appears twice`);
    names.add(s.name);
    need(s.scope === 'ics' || s.scope === 'trust', `scenario ${s.name}: scope must be ics or trust`);
    need(s.strategy === 'broadcast' || s.strategy === 'sequential', `scenario ${s.name}: strategy must be broadcast or sequential`);
    need(Number.isInteger(s.waveSize) && s.waveSize >= 1, `scenario ${s.name}: waveSize must be a positive whole number`);
    need(positive(s.offerTtlMinutes), `scenario ${s.name}: offerTtlMinutes must be positive`);
  }
  // The "within the window" share must be reachable by someone who always answers eventually.
  if (pt && d && Array.isArray(d.respondWithinWindowByQuintile) && p.length === 0) {
    const within = lognormalCdf(pt.respondWindowMinutes, pt.responseMedianMinutes, lognormalSigma(pt.responseMedianMinutes, pt.responseP90Minutes));
    need(d.respondWithinWindowByQuintile.every((r) => r <= within + 1e-9), `deprivation.respondWithinWindowByQuintile: at most ${within.toFixed(3)} can answer within ${pt.respondWindowMinutes} minutes with this response-time distribution`);
  }
  return p;
}

export function assertValidConfig(c: SimConfig): SimConfig {
  const problems = configProblems(c);
  if (problems.length > 0) throw new ConfigError(problems);
  return c;
}

function isRange(r: unknown): boolean {
  return Array.isArray(r) && r.length === 2 && nonNegative(r[0]) && nonNegative(r[1]) && r[0] <= r[1];
}

function isClockRange(r: unknown): boolean {
  return Array.isArray(r) && r.length === 2 && HH_MM.test(String(r[0])) && HH_MM.test(String(r[1])) && String(r[0]) < String(r[1]);
}

/** z of the 90th percentile of a standard normal. */
const Z90 = 1.2815515655446004;

/** Log-normal shape from its median and 90th percentile (0 when they are equal: a fixed time). */
export function lognormalSigma(median: number, p90: number): number {
  return Math.log(p90 / median) / Z90;
}

export function lognormalCdf(x: number, median: number, sigma: number): number {
  if (x <= 0) return 0;
  if (sigma === 0) return x >= median ? 1 : 0;
  return normalCdf(Math.log(x / median) / sigma);
}

/** Standard normal CDF (Abramowitz and Stegun 7.1.26; error below 1.5e-7). */
export function normalCdf(z: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(z) / Math.SQRT2);
  const y = 1 - (((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t) * Math.exp(-(z * z) / 2);
  return z >= 0 ? (1 + y) / 2 : (1 - y) / 2;
}

