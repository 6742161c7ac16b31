/**
 * One policy run: a discrete-event simulation of the exchange over the world's cancellations.
 * Every decision the real matching engine makes is taken by the same `@app/domain` function:
 * `planMatch` (cut-off, quiet hours, wave size and lifetime), `rankCandidates` (eligibility and
 * ranking), `selectWave`, `isWaveOver`, `noCandidateRetryAt`, `isInsideMinimumNotice`. What is
 * simulated is only what the engine cannot know: the patients (delivery, whether and when they
 * answer, YES or NO) and the Postgres index walk, done here over in-memory lists kept in ranking
 * order per (trust, TFC, appointment type), so picking candidates is never a scan of the list.
 */
import {
  Candidate, FreedSlot, isInsideMinimumNotice, isWaveOver, MatchingPolicy, MS_PER_DAY, MS_PER_MINUTE, noCandidateRetryAt, noticeCutoff, OfferStatus,
  parseQuietHours, planMatch, policyForTfc, rankCandidates, RankedCandidate, selectWave, assertValidPolicy,
} from '@app/domain';
import { lognormalSigma, Scenario, SimConfig } from './config';
import { keyedNormal, keyedUniform } from './random';
import { RuleAuditor } from './rules';
import { indexKey, Pathway, ReleasedSlot, World } from './world';

/** Notice left when a slot is freed: [label, up to this many hours]. */
export const NOTICE_BANDS: ReadonlyArray<[string, number]> = [['< 3 days', 72], ['3-7 days', 168], ['1-4 weeks', 672], ['4+ weeks', Infinity]];

function noticeBand(rel: ReleasedSlot): number {
  const hours = (rel.startMs - rel.releaseMs) / 3_600_000;
  return NOTICE_BANDS.findIndex(([, upTo]) => hours < upTo);
}

const OPEN = 0;
const BOOKED = 1;
/** Seen through the normal route: the projected appointment date passed before any offer won. */
const SEEN = 2;

export interface Tally {
  slotsFreed: number;
  slotsFreedByMove: number;
  tooLate: number;
  reofferable: number;
  reofferableByMove: number;
  filled: number;
  filledByMove: number;
  unfilled: { 'cut-off': number; 'quiet-hours-until-cut-off': number; 'no-eligible-patient': number };
  waves: number;
  offers: number;
  sms: { offer: number; expired: number; taken: number; confirmed: number; 'no-live-offer': number };
  undeliverable: number;
  declined: number;
  lateReplies: number;
  matchSteps: number;
  candidatesJudged: number;
  daysSooner: number[];
  hoursToFill: number[];
  crossTrustMoves: number;
  breachesAvoided52w: number;
  breachesAvoidedP2: number;
  breachesAvoidedRtt: number;
  reofferableByTrust: number[];
  filledByTrust: number[];
  /** By notice left at release (NOTICE_BANDS): where policies differ most. */
  reofferableByNotice: number[];
  filledByNotice: number[];
  offeredPatientsByQuintile: number[];
  bookedByQuintile: number[];
  /** Simulated time of the last event, so a reader can see how far the tail ran. */
  lastEventMs: number;
}

interface SlotState {
  rel: ReleasedSlot;
  freed: FreedSlot;
  policy: MatchingPolicy;
  state: 'open' | 'filled' | 'unfilled';
  /** Pathways already offered this slot (the engine never offers one slot twice to one entry). */
  offered: Set<number>;
  wave: Wave | null;
  everOffered: boolean;
  /** Only the newest scheduled match step for a slot runs (job ids do this in production). */
  matchToken: number;
  walk?: Walk;
}

/** Where a slot's walk down the index lists has got to. */
interface Walk {
  sources: Array<{ list: Int32Array; pos: number; own: boolean }>;
  /** Passed over but may be offered later (held by another offer, or eligible spares), in ranking order. */
  passedOver: number[];
  /** Rows read over all this slot's walks, bounded by `maxRowsReadPerSlot`. */
  scanned: number;
}

interface Offer {
  slot: SlotState;
  wave: Wave;
  pathway: number;
  status: OfferStatus;
  accepts: boolean;
}

interface Wave {
  slot: SlotState;
  offers: Offer[];
  live: boolean;
}

const enum Kind {
  Release,
  Match,
  Reply,
  Undeliverable,
  Expiry,
  Cutoff,
}

interface SimEvent {
  t: number;
  seq: number;
  kind: Kind;
  ref: unknown;
  token: number;
}

/** Binary min-heap on (time, insertion order): equal times run in the order they were scheduled. */
class EventQueue {
  private readonly heap: SimEvent[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  push(t: number, kind: Kind, ref: unknown, token = 0): void {
    const h = this.heap;
    h.push({ t, seq: this.seq++, kind, ref, token });
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i], h[parent])) break;
      [h[i], h[parent]] = [h[parent], h[i]];
      i = parent;
    }
  }

  pop(): SimEvent | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop() as SimEvent;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l], h[m])) m = l;
        if (r < h.length && before(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}

const before = (a: SimEvent, b: SimEvent) => a.t < b.t || (a.t === b.t && a.seq < b.seq);

/** The matching policy a scenario stands for, validated by the domain like any other. */
export function scenarioPolicy(config: SimConfig, s: Scenario): MatchingPolicy {
  return assertValidPolicy({
    version: 1,
    waveSize: s.waveSize,
    offerTtlMinutes: s.offerTtlMinutes,
    minOfferTtlMinutes: Math.min(config.policy.minOfferTtlMinutes, s.offerTtlMinutes),
    minNoticeHours: config.policy.minNoticeHours,
    minGainDays: config.policy.minGainDays,
    quietHours: parseQuietHours(config.policy.quietHours),
    strategy: s.strategy,
    timeZone: config.policy.timeZone,
    tfcOverrides: {},
  });
}

export function runScenario(world: World, scenario: Scenario): { tally: Tally; auditor: RuleAuditor } {
  return new PolicyRun(world, scenario).run();
}

class PolicyRun {
  private readonly config: SimConfig;
  private readonly basePolicy: MatchingPolicy;
  private readonly status: Uint8Array;
  private readonly live: Uint8Array;
  private readonly offeredEver: Uint8Array;
  /** Per index list, the first position that may still be open (everything before is booked or seen). */
  private readonly heads = new Map<Int32Array, number>();
  private readonly events = new EventQueue();
  private readonly auditor = new RuleAuditor();
  private readonly sexOf: Map<string, 'M' | 'F' | undefined>;
  private readonly sigma: number;
  private readonly tally: Tally;
  private tokens = 0;

  constructor(
    private readonly world: World,
    private readonly scenario: Scenario,
  ) {
    this.config = world.config;
    this.basePolicy = scenarioPolicy(this.config, scenario);
    const n = world.pathways.length;
    this.status = new Uint8Array(n);
    this.live = new Uint8Array(n);
    this.offeredEver = new Uint8Array(n);
    this.sexOf = new Map(this.config.specialties.map((s) => [s.tfc, s.sex]));
    this.sigma = lognormalSigma(this.config.patients.responseMedianMinutes, this.config.patients.responseP90Minutes);
    const trusts = world.trusts.length;
    this.tally = {
      slotsFreed: 0, slotsFreedByMove: 0, tooLate: 0, reofferable: 0, reofferableByMove: 0, filled: 0, filledByMove: 0,
      unfilled: { 'cut-off': 0, 'quiet-hours-until-cut-off': 0, 'no-eligible-patient': 0 },
      waves: 0, offers: 0, sms: { offer: 0, expired: 0, taken: 0, confirmed: 0, 'no-live-offer': 0 }, undeliverable: 0, declined: 0, lateReplies: 0,
      matchSteps: 0, candidatesJudged: 0, daysSooner: [], hoursToFill: [], crossTrustMoves: 0,
      breachesAvoided52w: 0, breachesAvoidedP2: 0, breachesAvoidedRtt: 0,
      reofferableByTrust: new Array(trusts).fill(0), filledByTrust: new Array(trusts).fill(0),
      reofferableByNotice: NOTICE_BANDS.map(() => 0), filledByNotice: NOTICE_BANDS.map(() => 0),
      offeredPatientsByQuintile: [0, 0, 0, 0, 0], bookedByQuintile: [0, 0, 0, 0, 0], lastEventMs: world.startMs,
    };
  }

  run(): { tally: Tally; auditor: RuleAuditor } {
    for (const rel of this.world.releases) this.events.push(rel.releaseMs, Kind.Release, rel);
    for (let e = this.events.pop(); e; e = this.events.pop()) {
      this.tally.lastEventMs = e.t;
      switch (e.kind) {
        case Kind.Release: this.release(e.ref as ReleasedSlot, e.t); break;
        case Kind.Match: {
          const slot = e.ref as SlotState;
          if (slot.matchToken === e.token) this.match(slot, e.t);
          break;
        }
        case Kind.Reply: this.reply(e.ref as Offer, e.t); break;
        case Kind.Undeliverable: this.undeliverable(e.ref as Offer, e.t); break;
        case Kind.Expiry: this.expire(e.ref as Wave, e.t); break;
        case Kind.Cutoff: this.cutoff(e.ref as SlotState); break;
      }
    }
    return { tally: this.tally, auditor: this.auditor };
  }

  private scheduleMatch(slot: SlotState, at: number): void {
    slot.matchToken = ++this.tokens;
    this.events.push(at, Kind.Match, slot, slot.matchToken);
  }

  private release(rel: ReleasedSlot, now: number): void {
    const t = this.tally;
    const byMove = rel.chainOf >= 0;
    t.slotsFreed++;
    if (byMove) t.slotsFreedByMove++;
    const sex = this.sexOf.get(rel.tfc);
    const freed: FreedSlot = {
      slotId: String(rel.id), trustOds: this.world.trusts[rel.trust], siteOds: rel.site, tfc: rel.tfc, appointmentType: rel.type,
      start: new Date(rel.startMs), durationMinutes: this.config.appointments.slotMinutes, constraints: sex ? { sex } : undefined,
    };
    const policy = policyForTfc(this.basePolicy, rel.tfc);
    // Inside the minimum notice at release: recorded as too late and never offered.
    if (isInsideMinimumNotice(freed.start, new Date(now), policy)) {
      t.tooLate++;
      return;
    }
    t.reofferable++;
    if (byMove) t.reofferableByMove++;
    t.reofferableByTrust[rel.trust]++;
    t.reofferableByNotice[noticeBand(rel)]++;
    const slot: SlotState = { rel, freed, policy, state: 'open', offered: new Set(), wave: null, everOffered: false, matchToken: 0 };
    this.events.push(noticeCutoff(freed.start, policy).getTime(), Kind.Cutoff, slot);
    this.scheduleMatch(slot, now);
  }

  private match(slot: SlotState, now: number): void {
    if (slot.state !== 'open' || slot.wave?.live) return;
    this.tally.matchSteps++;
    const step = planMatch(slot.freed.start, new Date(now), slot.policy);
    if (step.kind === 'close') return this.close(slot, step.reason);
    if (step.kind === 'defer') return this.scheduleMatch(slot, step.until.getTime());
    const chosen = this.chooseWave(slot, now, step.waveSize);
    if (chosen.length === 0) {
      const retry = noCandidateRetryAt(slot.freed.start, new Date(now), slot.policy);
      if (retry) this.scheduleMatch(slot, retry.getTime());
      return;
    }
    const wave: Wave = { slot, offers: [], live: true };
    slot.wave = wave;
    slot.everOffered = true;
    this.tally.waves++;
    const sendMs = step.sendAt.getTime();
    const pt = this.config.patients;
    const seed = this.config.seed;
    for (const { candidate } of chosen) {
      const idx = this.indexOf(candidate);
      const p = this.world.pathways[idx];
      const key = slot.rel.id;
      const offer: Offer = { slot, wave, pathway: idx, status: 'live', accepts: keyedUniform(seed, key, idx, 4) < pt.acceptShare };
      wave.offers.push(offer);
      slot.offered.add(idx);
      this.auditor.offerMade(idx, slot.rel.startMs, sendMs, slot.policy);
      this.live[idx] = 1;
      if (!this.offeredEver[idx]) {
        this.offeredEver[idx] = 1;
        this.tally.offeredPatientsByQuintile[p.quintile]++;
      }
      this.tally.offers++;
      this.tally.sms.offer++;
      // What this patient does with this offer is fixed by (seed, slot, patient): the same in every policy.
      if (keyedUniform(seed, key, idx, 1) >= pt.smsDeliveredShare) {
        this.events.push(sendMs + pt.receiptDelayMinutes * MS_PER_MINUTE, Kind.Undeliverable, offer);
      } else if (keyedUniform(seed, key, idx, 2) < p.respondEver) {
        const minutes = pt.responseMedianMinutes * Math.exp(this.sigma * keyedNormal(seed, key, idx, 3));
        this.events.push(sendMs + minutes * MS_PER_MINUTE, Kind.Reply, offer);
      }
    }
    this.events.push(step.expiresAt.getTime(), Kind.Expiry, wave);
  }

  private indexOf(c: Candidate): number {
    return (c as Candidate & { simIdx: number }).simIdx;
  }

  /**
   * The engine's candidate walk: index lists in ranking order, rows the SQL would drop skipped
   * cheaply, the rest judged by the domain (`rankCandidates`) until a wave's worth (plus spares)
   * are eligible or the bounded walk ends; then `selectWave`.
   *
   * A slot remembers where its last walk stopped, and the patients it passed over who may become
   * offerable again (held by another slot's offer, or eligible spares): everything before that
   * point is either offered already for this slot or out for good, so later waves resume instead
   * of re-reading the top of the list. The result is the same as walking from the top each time.
   */
  private chooseWave(slot: SlotState, now: number, size: number): RankedCandidate[] {
    const { rel, policy } = slot;
    const walk = slot.walk ?? (slot.walk = this.startWalk(rel, now));
    for (const src of walk.sources) src.pos = Math.max(src.pos, this.advanceHead(src.list, now));
    const m = this.config.matching;
    const mustBeAfter = rel.startMs + policy.minGainDays * MS_PER_DAY;
    const collected: Candidate[] = [];
    const stillHeld: number[] = [];
    let want = size + m.candidateWindowExtra;
    for (const idx of walk.passedOver) {
      if (!this.isOpen(this.world.pathways[idx], now)) continue;
      if (this.live[idx] || collected.length >= want) stillHeld.push(idx);
      else collected.push(this.candidateNow(this.world.pathways[idx]));
    }
    let ranked: RankedCandidate[] = [];
    const ctx = { now: new Date(now), policy };
    for (;;) {
      let exhausted = false;
      while (collected.length < want) {
        let best = -1;
        let bestPos = Infinity;
        for (let s = 0; s < walk.sources.length; s++) {
          const src = walk.sources[s];
          if (src.pos >= src.list.length) continue;
          const pos = this.world.pathways[src.list[src.pos]].rankPos;
          if (pos < bestPos) {
            best = s;
            bestPos = pos;
          }
        }
        if (best < 0 || walk.scanned >= m.maxRowsReadPerSlot) {
          exhausted = true;
          break;
        }
        const src = walk.sources[best];
        const idx = src.list[src.pos++];
        walk.scanned++;
        const p = this.world.pathways[idx];
        const c = p.candidate;
        if (!src.own && c.acceptableSites !== 'ANY' && !c.acceptableSites.includes(rel.site)) continue;
        if (c.currentAppointmentStart && c.currentAppointmentStart.getTime() < mustBeAfter) continue;
        if (!this.isOpen(p, now)) continue;
        if (this.live[idx]) stillHeld.push(idx);
        else collected.push(this.candidateNow(p));
      }
      this.tally.candidatesJudged += collected.length;
      ranked = rankCandidates(collected, slot.freed, ctx);
      if (ranked.length >= size || exhausted) break;
      want = collected.length + size + m.candidateWindowExtra;
    }
    const chosen = selectWave(ranked, size);
    const chosenIdx = new Set(chosen.map((r) => this.indexOf(r.candidate)));
    const spares = ranked.map((r) => this.indexOf(r.candidate)).filter((i) => !chosenIdx.has(i));
    walk.passedOver = [...stillHeld, ...spares].sort((a, b) => this.world.pathways[a].rankPos - this.world.pathways[b].rankPos);
    return chosen;
  }

  private startWalk(rel: ReleasedSlot, now: number): Walk {
    const sources: Walk['sources'] = [];
    const own = this.world.localIndex.get(indexKey(rel.trust, rel.tfc, rel.type));
    if (own) sources.push({ list: own, pos: this.advanceHead(own, now), own: true });
    if (this.scenario.scope === 'ics') {
      for (let t = 0; t < this.world.trusts.length; t++) {
        if (t === rel.trust) continue;
        const list = this.world.crossIndex.get(indexKey(t, rel.tfc, rel.type));
        if (list) sources.push({ list, pos: this.advanceHead(list, now), own: false });
      }
    }
    return { sources, passedOver: [], scanned: 0 };
  }

  /** The candidate as the waiting list stands now (open, no live offer: the walk skipped the others). */
  private candidateNow(p: Pathway): Candidate {
    const c = { ...p.candidate, status: this.status[p.idx] === OPEN ? 'open' : 'booked', hasLiveOffer: this.live[p.idx] === 1 } as Candidate & { simIdx: number };
    c.simIdx = p.idx;
    return c;
  }

  /** Open on the list: not booked through the exchange, and not yet seen on their own date. */
  private isOpen(p: Pathway, now: number): boolean {
    if (this.status[p.idx] !== OPEN) return false;
    if (p.projectedMs <= now) {
      this.status[p.idx] = SEEN;
      return false;
    }
    return true;
  }

  private advanceHead(list: Int32Array, now: number): number {
    let h = this.heads.get(list) ?? 0;
    while (h < list.length && !this.isOpen(this.world.pathways[list[h]], now)) h++;
    this.heads.set(list, h);
    return h;
  }

  private reply(offer: Offer, now: number): void {
    if (offer.status !== 'live') {
      // A reply to an offer that has ended gets one short polite answer.
      this.tally.lateReplies++;
      this.tally.sms['no-live-offer']++;
      return;
    }
    if (offer.accepts && !isInsideMinimumNotice(offer.slot.freed.start, new Date(now), offer.slot.policy)) return this.book(offer, now);
    this.tally.declined++;
    this.endOffer(offer, 'declined');
    this.afterOfferEnded(offer.wave, now);
  }

  private undeliverable(offer: Offer, now: number): void {
    if (offer.status !== 'live') return;
    this.tally.undeliverable++;
    this.endOffer(offer, 'undeliverable');
    this.afterOfferEnded(offer.wave, now);
  }

  private afterOfferEnded(wave: Wave, now: number): void {
    if (!wave.live || !isWaveOver(wave.offers.map((o) => o.status))) return;
    wave.live = false;
    this.scheduleMatch(wave.slot, now);
  }

  private endOffer(offer: Offer, status: OfferStatus): void {
    offer.status = status;
    this.live[offer.pathway] = 0;
    this.auditor.offerEnded(offer.pathway);
  }

  private book(offer: Offer, now: number): void {
    const { slot, wave } = offer;
    const p = this.world.pathways[offer.pathway];
    const t = this.tally;
    this.auditor.booked(slot.rel.id, offer.pathway, now, slot.rel.startMs, slot.policy);
    this.endOffer(offer, 'accepted');
    for (const other of wave.offers) {
      if (other.status !== 'live') continue;
      this.endOffer(other, 'superseded');
      t.sms.taken++;
    }
    wave.live = false;
    slot.state = 'filled';
    this.status[offer.pathway] = BOOKED;
    t.sms.confirmed++;
    t.filled++;
    t.filledByTrust[slot.rel.trust]++;
    t.filledByNotice[noticeBand(slot.rel)]++;
    if (slot.rel.chainOf >= 0) t.filledByMove++;
    t.bookedByQuintile[p.quintile]++;
    if (p.trust !== slot.rel.trust) t.crossTrustMoves++;
    const start = slot.rel.startMs;
    t.daysSooner.push((p.projectedMs - start) / MS_PER_DAY);
    t.hoursToFill.push((now - slot.rel.releaseMs) / 3_600_000);
    const endOfDay = (ms: number) => ms + MS_PER_DAY;
    if (p.projectedMs >= endOfDay(p.week52Ms) && start < endOfDay(p.week52Ms)) t.breachesAvoided52w++;
    const breach = p.candidate.breachDate.getTime();
    if (p.projectedMs >= endOfDay(breach) && start < endOfDay(breach)) {
      t.breachesAvoidedRtt++;
      if (p.candidate.priority === 'P2') t.breachesAvoidedP2++;
    }
    // The patient's old appointment is cancelled at their home trust, which frees that slot in turn.
    const old = p.candidate.currentAppointmentStart;
    if (old && p.currentSite) {
      const rel: ReleasedSlot = {
        id: this.world.releases.length + p.idx, releaseMs: now + this.config.cancellations.chainReleaseDelayMinutes * MS_PER_MINUTE,
        trust: p.trust, site: p.currentSite, tfc: p.candidate.tfc, type: p.candidate.appointmentType, startMs: old.getTime(), byHospital: false, chainOf: p.idx,
      };
      this.events.push(rel.releaseMs, Kind.Release, rel);
    }
  }

  private expire(wave: Wave, now: number): void {
    if (!wave.live) return;
    this.lapse(wave);
    this.scheduleMatch(wave.slot, now);
  }

  private lapse(wave: Wave): void {
    for (const o of wave.offers) {
      if (o.status !== 'live') continue;
      this.endOffer(o, 'expired');
      this.tally.sms.expired++;
    }
    wave.live = false;
  }

  private cutoff(slot: SlotState): void {
    if (slot.state !== 'open') return;
    if (slot.wave?.live) this.lapse(slot.wave);
    this.close(slot, slot.everOffered ? 'cut-off' : 'no-eligible-patient');
  }

  private close(slot: SlotState, reason: 'cut-off' | 'quiet-hours-until-cut-off' | 'no-eligible-patient'): void {
    if (slot.state !== 'open') return;
    slot.state = 'unfilled';
    slot.matchToken = ++this.tokens;
    this.tally.unfilled[reason === 'cut-off' && !slot.everOffered ? 'no-eligible-patient' : reason]++;
  }
}
