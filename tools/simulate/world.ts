/**
 * The simulated ICS before any policy acts on it: every trust's waiting list (one pathway per
 * patient) and the stream of cancelled appointments over the simulated days. It depends only on
 * the config and the seed, so every policy is run against the same world.
 */
import {
  AppointmentType, breachDate, Candidate, MS_PER_DAY, MS_PER_MINUTE, PRIORITIES, Priority, priorityRank, utcDate, wallClockIn, zonedTimeToUtc,
} from '@app/domain';
import { lognormalCdf, lognormalSigma, SimConfig } from './config';
import { Rng } from './random';

export interface Pathway {
  idx: number;
  /** As the matching engine would read it from the waiting list: open, no live offer. */
  candidate: Candidate;
  trust: number;
  /** `trust|tfc|type`: the index the matcher walks. */
  key: string;
  /** 0 = IMD quintile 1, most deprived. */
  quintile: number;
  /** Place in the ICS-wide ranking order (domain `compareCandidates`), for merging lists. */
  rankPos: number;
  /** Site of the current appointment, when booked (its slot is freed if the patient moves). */
  currentSite: string | null;
  /** When the patient would be seen without the exchange: the booked date, or an expected one. */
  projectedMs: number;
  /** The day the 52-week wait is passed. */
  week52Ms: number;
  /** Chance that this patient answers an offer at some point (within the window, or later). */
  respondEver: number;
  offerable: boolean;
}

export interface ReleasedSlot {
  /** Slot number: base slots 0..n-1; a slot freed by a move is `baseCount + pathway idx`. */
  id: number;
  releaseMs: number;
  trust: number;
  site: string;
  tfc: string;
  type: AppointmentType;
  startMs: number;
  byHospital: boolean;
  /** The pathway whose old appointment this was, for a slot freed by a move; else -1. */
  chainOf: number;
}

export interface World {
  config: SimConfig;
  startMs: number;
  trusts: string[];
  pathways: Pathway[];
  /** Offerable pathways (consent and a mobile) per `trust|tfc|type`, in ranking order. */
  localIndex: Map<string, Int32Array>;
  /** The same, only patients who also accept other trusts' slots. */
  crossIndex: Map<string, Int32Array>;
  releases: ReleasedSlot[];
  /** Pathways per deprivation quintile (all, offerable or not), for rates per head. */
  pathwaysByQuintile: number[];
}

export const indexKey = (trust: number, tfc: string, type: AppointmentType) => `${trust}|${tfc}|${type}`;

/** Local calendar days from the start date, turned into instants through the domain's zone rules. */
class LocalCalendar {
  private readonly noonCache = new Map<number, number>();
  private readonly y: number;
  private readonly m: number;
  private readonly d: number;

  constructor(
    startDate: string,
    private readonly timeZone: string,
  ) {
    [this.y, this.m, this.d] = startDate.split('-').map(Number);
  }

  /** Instant of local wall time `minute` (after midnight) on day `day`; DST never changes in clinic hours. */
  at(day: number, minute: number): number {
    let noon = this.noonCache.get(day);
    if (noon === undefined) {
      const date = new Date((utcDate(this.y, this.m, this.d) as Date).getTime() + day * MS_PER_DAY);
      noon = zonedTimeToUtc({ year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate(), hour: 12, minute: 0 }, this.timeZone).getTime();
      this.noonCache.set(day, noon);
    }
    return noon + (minute - 720) * MS_PER_MINUTE;
  }

  isWorkingDay(day: number): boolean {
    const wd = new Date((utcDate(this.y, this.m, this.d) as Date).getTime() + day * MS_PER_DAY).getUTCDay();
    return wd !== 0 && wd !== 6;
  }

  /** Local day number and minute of an instant. */
  local(ms: number): { day: number; minute: number } {
    const w = wallClockIn(new Date(ms), this.timeZone);
    const day = Math.round(((utcDate(w.year, w.month, w.day) as Date).getTime() - (utcDate(this.y, this.m, this.d) as Date).getTime()) / MS_PER_DAY);
    return { day, minute: w.hour * 60 + w.minute };
  }
}

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** Inverse of a piecewise-linear CDF given as [x, F(x)] points. */
function fromCdf(points: Array<[number, number]>, u: number): number {
  for (let i = 1; i < points.length; i++) {
    const [x0, f0] = points[i - 1];
    const [x1, f1] = points[i];
    if (u <= f1) return f1 === f0 ? x0 : x0 + ((u - f0) / (f1 - f0)) * (x1 - x0);
  }
  return points[points.length - 1][0];
}

export function buildWorld(config: SimConfig): World {
  const rng = new Rng(config.seed);
  const tz = config.policy.timeZone;
  const cal = new LocalCalendar(config.startDate, tz);
  const startMs = cal.at(0, 0);
  const trusts = config.trusts.map((t) => t.ods);
  const wl = config.waitingList;
  const pt = config.patients;
  const dep = config.deprivation;
  const [open, close] = config.appointments.clinicHours.map(minutesOf);
  const grid = config.appointments.slotMinutes;
  const clinicMinute = () => open + grid * rng.int(Math.max(1, Math.floor((close - open) / grid)));
  const tfcShares = config.specialties.map((s) => s.share);
  const priorityShares = PRIORITIES.map((p) => wl.priorityShares[p]);
  const sigma = lognormalSigma(pt.responseMedianMinutes, pt.responseP90Minutes);
  const withinWindow = lognormalCdf(pt.respondWindowMinutes, pt.responseMedianMinutes, sigma);

  /** The first working day on or after `day`. */
  const workingDayFrom = (day: number) => {
    let d = day;
    while (!cal.isWorkingDay(d)) d++;
    return d;
  };

  const pathways: Pathway[] = [];
  const pathwaysByQuintile = [0, 0, 0, 0, 0];
  config.trusts.forEach((trust, t) => {
    const n = Math.round(trust.pathways * config.scale);
    for (let i = 0; i < n; i++) {
      const idx = pathways.length;
      const spec = config.specialties[rng.weighted(tfcShares)];
      const type: AppointmentType = rng.chance(wl.newShare) ? 'NEW' : 'FUP';
      const priority: Priority = PRIORITIES[rng.weighted(priorityShares)];
      const waitDays = Math.floor(fromCdf(wl.waitWeeksCdf, rng.next()) * 7);
      const rttStart = new Date(Math.floor(startMs / MS_PER_DAY) * MS_PER_DAY - waitDays * MS_PER_DAY);
      const quintile = rng.weighted(dep.quintileShares);
      pathwaysByQuintile[quintile]++;
      const mobileValid = rng.chance(dep.mobileShareByQuintile[quintile]);
      const offerConsent = rng.chance(pt.offerConsentShare);
      const icsWideConsent = rng.chance(pt.icsWideConsentShare);
      let acceptableSites: 'ANY' | string[] = [];
      if (icsWideConsent) {
        if (rng.chance(pt.anySiteShare)) acceptableSites = 'ANY';
        else {
          const others = config.trusts.filter((_, j) => j !== t).flatMap((o) => o.sites);
          const named = new Set<string>();
          while (named.size < Math.min(pt.namedOtherSites, others.length)) named.add(others[rng.int(others.length)]);
          acceptableSites = [...named].sort();
        }
      }
      const age = rng.between(wl.ageYears[0], wl.ageYears[1] + 1);
      const birthDate = new Date(Math.floor((startMs - age * 365.25 * MS_PER_DAY) / MS_PER_DAY) * MS_PER_DAY);
      const sex = spec.sex ?? (rng.chance(0.5) ? 'F' : 'M');
      let currentAppointmentStart: Date | null = null;
      let currentSite: string | null = null;
      let projectedMs: number;
      if (rng.chance(wl.bookedShare)) {
        const day = workingDayFrom(Math.floor(rng.between(wl.bookedWeeksAhead[0], wl.bookedWeeksAhead[1]) * 7));
        currentAppointmentStart = new Date(cal.at(day, clinicMinute()));
        currentSite = trust.sites[rng.int(trust.sites.length)];
        projectedMs = currentAppointmentStart.getTime();
      } else {
        projectedMs = startMs + rng.between(wl.unbookedWeeksAhead[0], wl.unbookedWeeksAhead[1]) * 7 * MS_PER_DAY;
      }
      const entryId = `${trust.ods}-${String(i).padStart(6, '0')}`;
      const candidate: Candidate = Object.freeze({
        entryId,
        patientId: `pt-${entryId}`,
        trustOds: trust.ods,
        tfc: spec.tfc,
        appointmentType: type,
        priority,
        rttStart,
        breachDate: breachDate(priority, rttStart),
        birthDate,
        sex,
        currentAppointmentStart,
        offerConsent,
        icsWideConsent,
        acceptableSites,
        maxTravelKm: null,
        unavailable: [],
        status: 'open',
        hasLiveOffer: false,
        mobileValid,
        smsStopped: false,
      }) as Candidate;
      pathways.push({
        idx, candidate, trust: t, key: indexKey(t, spec.tfc, type), quintile, rankPos: 0, currentSite, projectedMs,
        week52Ms: rttStart.getTime() + 364 * MS_PER_DAY,
        respondEver: withinWindow > 0 ? Math.min(1, dep.respondWithinWindowByQuintile[quintile] / withinWindow) : 0,
        offerable: offerConsent && mobileValid,
      });
    }
  });

  // One ICS-wide order: the domain's ranking keys (`compareCandidates`: priority, breach date, RTT
  // start, entry id), read once into numbers because sorting 275,000 pathways through Date objects
  // is slow; a test checks the lists against compareCandidates itself.
  const keys = pathways.map((p) => [priorityRank(p.candidate.priority), p.candidate.breachDate.getTime(), p.candidate.rttStart.getTime()]);
  const order = pathways.map((p) => p.idx).sort((a, b) => {
    const ka = keys[a];
    const kb = keys[b];
    const ea = pathways[a].candidate.entryId;
    const eb = pathways[b].candidate.entryId;
    return ka[0] - kb[0] || ka[1] - kb[1] || ka[2] - kb[2] || (ea < eb ? -1 : ea > eb ? 1 : 0);
  });
  order.forEach((idx, pos) => (pathways[idx].rankPos = pos));
  const local = new Map<string, number[]>();
  const cross = new Map<string, number[]>();
  for (const idx of order) {
    const p = pathways[idx];
    if (!p.offerable) continue;
    push(local, p.key, idx);
    if (p.candidate.icsWideConsent) push(cross, p.key, idx);
  }

  const releases = buildCancellations(config, cal, rng, workingDayFrom, clinicMinute);
  return {
    config, startMs, trusts, pathways, releases, pathwaysByQuintile,
    localIndex: toTyped(local), crossIndex: toTyped(cross),
  };
}

function buildCancellations(
  config: SimConfig, cal: LocalCalendar, rng: Rng, workingDayFrom: (d: number) => number, clinicMinute: () => number,
): ReleasedSlot[] {
  const x = config.cancellations;
  const [relOpen, relClose] = x.releaseHours.map(minutesOf);
  const [open, close] = config.appointments.clinicHours.map(minutesOf);
  const cancelShare = x.byPatientShare + x.byHospitalShare;
  const tfcShares = config.specialties.map((s) => s.share);
  const bucketShares = x.noticeBuckets.map((b) => b[2]);
  const out: ReleasedSlot[] = [];
  for (let day = 0; day < config.days; day++) {
    if (!cal.isWorkingDay(day)) continue;
    config.trusts.forEach((trust, t) => {
      const appointments = (trust.pathways * config.scale * config.appointments.perWorkingDayPer1000Pathways) / 1000;
      const n = rng.poisson(appointments * cancelShare);
      for (let i = 0; i < n; i++) {
        const releaseMs = cal.at(day, rng.between(relOpen, relClose));
        const [fromH, toH] = x.noticeBuckets[rng.weighted(bucketShares)];
        // A clinic runs in clinic hours on working days: a start that lands outside them moves to the next session.
        let { day: d, minute: m } = cal.local(releaseMs + rng.between(fromH, toH) * 3_600_000);
        const grid = config.appointments.slotMinutes;
        m = Math.ceil(m / grid) * grid;
        if (m >= close || !cal.isWorkingDay(d)) {
          d = workingDayFrom(d + (m >= close ? 1 : 0));
          m = clinicMinute();
        } else if (m < open) m = clinicMinute();
        out.push({
          id: 0,
          releaseMs,
          trust: t,
          site: trust.sites[rng.int(trust.sites.length)],
          tfc: config.specialties[rng.weighted(tfcShares)].tfc,
          type: rng.chance(config.appointments.newShare) ? 'NEW' : 'FUP',
          startMs: cal.at(d, m),
          byHospital: rng.chance(x.byHospitalShare / cancelShare),
          chainOf: -1,
        });
      }
    });
  }
  out.sort((a, b) => a.releaseMs - b.releaseMs || a.trust - b.trust);
  out.forEach((s, i) => (s.id = i));
  return out;
}

function push(m: Map<string, number[]>, k: string, v: number): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

function toTyped(m: Map<string, number[]>): Map<string, Int32Array> {
  return new Map([...m].map(([k, v]) => [k, Int32Array.from(v)]));
}
