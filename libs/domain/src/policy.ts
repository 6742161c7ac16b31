/**
 * The matching policy: the knobs an ICS may turn (wave size, offer lifetime, minimum notice,
 * useful gain, quiet hours, broadcast or one-at-a-time). It is versioned because every offer
 * records the policy it was made under, and the dashboard shows the one in force.
 */
import { DomainError } from './errors';
import { isValidTimeZone } from './time-zone';

export type OfferStrategy = 'broadcast' | 'sequential';

/** Wall-clock times `HH:MM` in the policy's time zone; `end` before `start` wraps midnight. */
export interface QuietHours {
  start: string;
  end: string;
}

/**
 * What one specialty may set differently (e.g. sequential offers for a clinic whose patients need
 * a phone call first, or shorter offers for a busy service). Safety rules (minimum notice, quiet
 * hours) are ICS-wide and cannot be overridden per specialty.
 */
export interface TfcPolicyOverride {
  waveSize?: number;
  offerTtlMinutes?: number;
  minOfferTtlMinutes?: number;
  minGainDays?: number;
  strategy?: OfferStrategy;
}

export const TFC_OVERRIDE_FIELDS = Object.freeze(['waveSize', 'offerTtlMinutes', 'minOfferTtlMinutes', 'minGainDays', 'strategy'] as const);

export interface MatchingPolicy {
  version: number;
  /** Patients offered one slot at once; the first valid YES wins. */
  waveSize: number;
  /** How long a wave lives before the next goes out (shortened near the cut-off). */
  offerTtlMinutes: number;
  /**
   * The shortest a wave's TTL is cut to as the cut-off nears (patients need time to read a text);
   * below it only the cut-off itself shortens a wave. Absent means 15.
   */
  minOfferTtlMinutes?: number;
  /** No offer for, and no booking into, a slot starting sooner than this. */
  minNoticeHours: number;
  /** A slot must be at least this many days earlier than the patient's current appointment. */
  minGainDays: number;
  /** No SMS in this window; null means none. */
  quietHours: QuietHours | null;
  strategy: OfferStrategy;
  /** IANA zone for quiet hours and slot dates, e.g. 'Europe/London'. */
  timeZone: string;
  /** Per treatment function code (e.g. '330'): settings that differ from the ICS-wide ones. */
  tfcOverrides?: Readonly<Record<string, TfcPolicyOverride>>;
}

export const DEFAULT_POLICY: MatchingPolicy = Object.freeze({
  version: 1,
  waveSize: 3,
  offerTtlMinutes: 120,
  minOfferTtlMinutes: 15,
  minNoticeHours: 24,
  minGainDays: 7,
  quietHours: Object.freeze({ start: '20:00', end: '08:00' }),
  strategy: 'broadcast',
  timeZone: 'Europe/London',
  tfcOverrides: Object.freeze({}),
}) as MatchingPolicy;

export const DEFAULT_MIN_OFFER_TTL_MINUTES = 15;

const HH_MM = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** Minutes after local midnight for `HH:MM`, or null when it is not a 24-hour clock time. */
export function clockTimeToMinutes(hhmm: string): number | null {
  const m = HH_MM.exec(hhmm);
  return m ? Number(m[1]) * 60 + Number(m[2]) : null;
}

/**
 * `QUIET_HOURS` as configured: `'20:00-08:00'` to a window, empty or absent to none. A malformed
 * value throws rather than silently meaning "no quiet hours", which would text patients at night.
 */
export function parseQuietHours(s: string | undefined): QuietHours | null {
  if (s === undefined || s.trim() === '') return null;
  const m = /^\s*(\d{2}:\d{2})\s*-\s*(\d{2}:\d{2})\s*$/.exec(s);
  const start = m && clockTimeToMinutes(m[1]);
  const end = m && clockTimeToMinutes(m[2]);
  if (!m || start === null || end === null) {
    throw new DomainError('invalid-quiet-hours', `quiet hours "${s}" are not HH:MM-HH:MM (24-hour clock)`);
  }
  if (start === end) {
    throw new DomainError('invalid-quiet-hours', `quiet hours "${s}" start and end at the same time`);
  }
  return { start: m[1], end: m[2] };
}

/**
 * The policy as it applies to one specialty: the ICS-wide settings with that TFC's overrides laid
 * over them. The version stays the policy's own: an override is part of the version it came with.
 */
export function policyForTfc(policy: MatchingPolicy, tfc: string): MatchingPolicy {
  const o = policy.tfcOverrides?.[tfc];
  if (!o) return policy;
  const picked: TfcPolicyOverride = {};
  for (const k of TFC_OVERRIDE_FIELDS) if (o[k] !== undefined) (picked as Record<string, unknown>)[k] = o[k];
  return { ...policy, ...picked };
}

/**
 * Whether two policies say the same thing, whatever their versions and key order: a new version is
 * recorded only for a real change.
 */
export function samePolicySettings(a: MatchingPolicy, b: MatchingPolicy): boolean {
  return canonicalJson(policySettings(a)) === canonicalJson(policySettings(b));
}

/** The settings without the version, with absent optional values filled in, for storing and comparing. */
export function policySettings(p: MatchingPolicy): Omit<MatchingPolicy, 'version'> {
  const { version: _version, ...rest } = p;
  return { ...rest, minOfferTtlMinutes: p.minOfferTtlMinutes ?? DEFAULT_MIN_OFFER_TTL_MINUTES, tfcOverrides: p.tfcOverrides ?? {} };
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** One patient at a time when sequential, whatever waveSize says. */
export function effectiveWaveSize(policy: MatchingPolicy): number {
  return policy.strategy === 'sequential' ? 1 : policy.waveSize;
}

/**
 * Every problem with a policy, empty when it is usable. Config loaders call this at boot so a
 * bad value stops the process instead of producing odd offers later.
 */
export function policyProblems(p: MatchingPolicy): string[] {
  const problems: string[] = [];
  if (!Number.isInteger(p.version) || p.version < 1) problems.push('version must be a positive integer');
  if (!Number.isInteger(p.waveSize) || p.waveSize < 1) problems.push('waveSize must be a positive integer');
  if (!Number.isFinite(p.offerTtlMinutes) || p.offerTtlMinutes <= 0) problems.push('offerTtlMinutes must be positive');
  if (!Number.isFinite(p.minNoticeHours) || p.minNoticeHours < 0) problems.push('minNoticeHours must not be negative');
  if (!Number.isFinite(p.minGainDays) || p.minGainDays < 0) problems.push('minGainDays must not be negative');
  if (p.strategy !== 'broadcast' && p.strategy !== 'sequential') problems.push('strategy must be broadcast or sequential');
  if (!isValidTimeZone(p.timeZone)) problems.push(`timeZone "${p.timeZone}" is not a known time zone`);
  if (p.minOfferTtlMinutes !== undefined && (!Number.isFinite(p.minOfferTtlMinutes) || p.minOfferTtlMinutes <= 0)) {
    problems.push('minOfferTtlMinutes must be positive');
  }
  for (const [tfc, o] of Object.entries(p.tfcOverrides ?? {})) {
    if (!/^\d{3}$/.test(tfc)) problems.push(`tfcOverrides: "${tfc}" is not a 3-digit treatment function code`);
    if (!o || typeof o !== 'object') {
      problems.push(`tfcOverrides.${tfc} must be an object`);
      continue;
    }
    for (const k of Object.keys(o)) {
      if (!(TFC_OVERRIDE_FIELDS as readonly string[]).includes(k)) problems.push(`tfcOverrides.${tfc}.${k} cannot be set per specialty`);
    }
    const merged = { ...p, tfcOverrides: {}, ...o } as MatchingPolicy;
    for (const problem of policyProblems(merged)) problems.push(`tfcOverrides.${tfc}: ${problem}`);
  }
  if (p.quietHours !== null) {
    const start = clockTimeToMinutes(p.quietHours.start);
    const end = clockTimeToMinutes(p.quietHours.end);
    if (start === null || end === null || start === end) problems.push('quietHours must be two different HH:MM times');
  }
  return problems;
}

/** The policy itself when valid; a DomainError listing every problem otherwise. */
export function assertValidPolicy(p: MatchingPolicy): MatchingPolicy {
  const problems = policyProblems(p);
  if (problems.length > 0) throw new DomainError('invalid-policy', `invalid matching policy: ${problems.join('; ')}`);
  return p;
}
