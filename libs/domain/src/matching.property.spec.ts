/**
 * Matching against an oracle. The oracle below is DESIGN.md's "Matching rules" written out
 * plainly over the raw candidate and slot fields, without calling `checkEligibility`,
 * `compareCandidates` or anything they use (dates are compared as calendar-day strings, the local
 * day comes from `Intl`), so a mistake in the production rules is not repeated by the check.
 * For random waiting lists, slots, distances and policies:
 * - `rankCandidates` returns exactly the patients the rules allow, in the rules' order;
 * - `planBatchWaves` (a clinic's slots at once) gives each slot the best patients the rules allow
 *   whom no earlier slot took: nobody in two waves, nobody passed over, nothing inside the notice.
 * The generated cases are counted, so a generator that stopped producing eligible patients (and
 * made every comparison trivially `[] = []`) fails instead of passing.
 */
import fc from 'fast-check';
import { planBatchWaves } from './batch-waves';
import { EligibilityContext } from './eligibility';
import { selectWave } from './offer';
import { effectiveWaveSize, MatchingPolicy } from './policy';
import { rankCandidates } from './ranking';
import { ClinicConstraints, FreedSlot } from './slot';
import { aCandidate, aContext, aSlot, day, T0 } from './testing/factories';
import { candidateListArb, mostly } from './testing/arbitraries';
import { Candidate } from './waiting-list';

// ---- the oracle: DESIGN.md "Matching rules", written out -------------------------------------

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** DESIGN.md: "clinical priority (P1a, P1b, P2, P3, P4)", most urgent first. */
const PRIORITY_ORDER = ['P1a', 'P1b', 'P2', 'P3', 'P4'];

/** YYYY-MM-DD of a date carried as UTC midnight (birth dates, unavailable periods). */
const calendarDay = (d: Date): string => d.toISOString().slice(0, 10);
/** YYYY-MM-DD on a wall clock in `timeZone`: the day the patient would attend. */
const localDay = (at: Date, timeZone: string): string =>
  new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(at);

/** Completed years on `onDay` (YYYY-MM-DD) for someone born on `born` (YYYY-MM-DD). */
function ageOn(born: string, onDay: string): number {
  const years = Number(onDay.slice(0, 4)) - Number(born.slice(0, 4));
  return onDay.slice(5) < born.slice(5) ? years - 1 : years;
}

interface World { now: Date; policy: MatchingPolicy; distanceKm: (c: Candidate, slot: FreedSlot) => number | null }

function allowedByTheRules(c: Candidate, slot: FreedSlot, w: World): boolean {
  const slotDay = localDay(slot.start, w.policy.timeZone);
  // Same TFC and appointment type; the clinic's age band and sex fit.
  if (c.tfc !== slot.tfc || c.appointmentType !== slot.appointmentType) return false;
  const k = slot.constraints ?? {};
  const age = ageOn(calendarDay(c.birthDate), slotDay);
  if (k.minAgeYears !== undefined && age < k.minAgeYears) return false;
  if (k.maxAgeYears !== undefined && age > k.maxAgeYears) return false;
  if (k.sex !== undefined && c.sex !== k.sex) return false;
  // The entry is open and holds no live offer.
  if (c.status !== 'open' || c.hasLiveOffer) return false;
  // Opted in, a valid mobile, never said STOP.
  if (!c.offerConsent || !c.mobileValid || c.smsStopped) return false;
  // Own trust always; another trust only with ICS-wide consent and a site they named or can reach.
  if (c.trustOds !== slot.trustOds) {
    if (!c.icsWideConsent) return false;
    const named = c.acceptableSites === 'ANY' || c.acceptableSites.includes(slot.siteOds);
    const km = w.distanceKm(c, slot);
    const inReach = c.maxTravelKm !== null && km !== null && km <= c.maxTravelKm;
    if (!named && !inReach) return false;
  }
  // At least minGainDays sooner than the appointment they hold.
  if (c.currentAppointmentStart !== null && slot.start.getTime() > c.currentAppointmentStart.getTime() - w.policy.minGainDays * DAY_MS) return false;
  // Not on a day they marked unavailable (both ends included).
  if (c.unavailable.some((p) => calendarDay(p.from) <= slotDay && slotDay <= calendarDay(p.to))) return false;
  // Nothing from the cut-off (start − minimum notice) on.
  if (w.now.getTime() >= slot.start.getTime() - w.policy.minNoticeHours * HOUR_MS) return false;
  return true;
}

/** Priority, then breach date, then RTT start (longest wait first), then entry id. */
function theRulesOrder(a: Candidate, b: Candidate): number {
  const keys = (c: Candidate) => [PRIORITY_ORDER.indexOf(c.priority), c.breachDate.getTime(), c.rttStart.getTime()];
  const [ka, kb] = [keys(a), keys(b)];
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] - kb[i];
  return a.entryId === b.entryId ? 0 : a.entryId < b.entryId ? -1 : 1;
}

const oracleRanking = (list: Candidate[], slot: FreedSlot, w: World): Candidate[] =>
  list.filter((c) => allowedByTheRules(c, slot, w)).sort(theRulesOrder);

// ---- generated worlds -------------------------------------------------------------------------

/** The shared list generator, plus the fields it leaves at their defaults. */
const listArb = candidateListArb(30).chain((list) =>
  fc.tuple(...list.map(() => fc.record({
    appointmentType: mostly('NEW' as const, 'FUP' as const),
    mobileValid: mostly(true, false),
    birthDate: fc.date({ min: day('1930-01-01'), max: day('2020-12-31'), noInvalidDate: true }).map((d) => day(calendarDay(d))),
    unavailable: fc.array(
      fc.record({ fromDay: fc.integer({ min: -2, max: 22 }), days: fc.integer({ min: 0, max: 4 }) })
        .map(({ fromDay, days }) => ({ from: day(calendarDay(new Date(T0.getTime() + fromDay * DAY_MS))), to: day(calendarDay(new Date(T0.getTime() + (fromDay + days) * DAY_MS))) })),
      { maxLength: 2 },
    ),
    // The list's breach dates follow from priority and RTT start, so equal breach dates would mean
    // equal RTT starts and the third ranking key would never decide: shift some by whole weeks.
    breachShiftWeeks: mostly(0, -2, -1, 1, 2),
  }))).map((extra): Candidate[] => list.map((c, i) => {
    const { breachShiftWeeks, ...fields } = extra[i];
    return { ...c, ...fields, breachDate: new Date(c.breachDate.getTime() + breachShiftWeeks * 7 * DAY_MS) };
  })));

/** One slot in four is at a clinic with an age band or for one sex. */
const constraintsArb: fc.Arbitrary<ClinicConstraints | undefined> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  {
    weight: 1,
    arbitrary: fc.record({
      sex: fc.constantFrom('M' as const, 'F' as const),
      minAgeYears: fc.constantFrom(0, 18, 65),
      maxAgeYears: fc.constantFrom(17, 64, 120),
    }, { requiredKeys: [] }),
  },
);

const slotArb = (i: number) =>
  fc.record({
    trustOds: mostly('RQM', 'RYJ'),
    siteOds: fc.constantFrom('RQM01', 'RYJ02'),
    tfc: mostly('330', '130'),
    appointmentType: mostly('NEW' as const, 'FUP' as const),
    minutesAhead: fc.integer({ min: 0, max: 24 * 60 * 20 }),
    constraints: constraintsArb,
  }).map(({ minutesAhead, ...s }): FreedSlot => aSlot({ ...s, slotId: `s${i}`, start: new Date(T0.getTime() + minutesAhead * 60_000) }));

const slotsArb = fc.integer({ min: 1, max: 6 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => slotArb(i))));

const policyArb = fc.record({
  waveSize: fc.integer({ min: 1, max: 4 }),
  strategy: fc.constantFrom('broadcast' as const, 'sequential' as const),
  minNoticeHours: fc.constantFrom(0, 24, 48),
  minGainDays: fc.constantFrom(0, 7),
  // Slot days differ from UTC days in Auckland (UTC+13 in November) for half of every day.
  timeZone: mostly('Europe/London', 'Pacific/Auckland'),
}).map((p): MatchingPolicy => ({ ...aContext().policy, ...p }));

/** Distances per (patient, site): some known, some not. */
const distancesArb = fc.dictionary(fc.string({ unit: fc.constantFrom('p', '1', '2', '3', 'R', 'Y'), minLength: 2, maxLength: 4 }), fc.integer({ min: 0, max: 40 }));

const worldOf = (policy: MatchingPolicy, distances: Record<string, number>): World => ({
  now: T0,
  policy,
  distanceKm: (c, slot) => distances[`${c.patientId}${slot.siteOds}`] ?? null,
});

const entryIds = (cs: Array<{ entryId: string }>) => cs.map((c) => c.entryId);
const RUNS = 300;

/** Counts how often the generated cases were interesting; asserted after the run. */
function tally() {
  const seen = { runs: 0, someAllowed: 0, someRefused: 0, severalAllowed: 0 };
  return {
    seen,
    note(allowed: number, total: number) {
      seen.runs++;
      if (allowed > 0) seen.someAllowed++;
      if (allowed > 1) seen.severalAllowed++;
      if (allowed < total) seen.someRefused++;
    },
  };
}

describe('matching against the rules written out (oracle)', () => {
  it('rankCandidates returns exactly the patients the rules allow, in the rules\' order, each with its place', () => {
    const t = tally();
    fc.assert(
      fc.property(listArb, slotArb(0), policyArb, distancesArb, (list, slot, policy, distances) => {
        const w = worldOf(policy, distances);
        const ctx: EligibilityContext = { now: w.now, policy, distanceKmFor: (c) => w.distanceKm(c, slot) };
        const ranked = rankCandidates(list, slot, ctx);
        const expected = oracleRanking(list, slot, w);
        t.note(expected.length, list.length);
        expect(entryIds(ranked.map((r) => r.candidate))).toEqual(entryIds(expected));
        expect(ranked.map((r) => r.explanation.rank)).toEqual(expected.map((_, i) => i + 1));
      }),
      { numRuns: RUNS },
    );
    // The comparison meant something: most lists had someone to rank, and someone left out.
    expect(t.seen.runs).toBe(RUNS);
    expect(t.seen.someAllowed).toBeGreaterThan(RUNS * 0.25);
    expect(t.seen.severalAllowed).toBeGreaterThan(RUNS * 0.15);
    expect(t.seen.someRefused).toBeGreaterThan(RUNS * 0.5);
  });

  it('planBatchWaves gives each slot, nearest cut-off first, the best allowed patients no earlier slot took: nobody twice, nobody passed over', () => {
    const t = tally();
    fc.assert(
      fc.property(listArb, slotsArb, policyArb, distancesArb, (list, slots, policy, distances) => {
        const w = worldOf(policy, distances);
        const size = effectiveWaveSize(policy);
        const plan = planBatchWaves(slots.map((slot) => ({ slot, size })), list, { now: w.now, policy, distanceKmFor: w.distanceKm });

        const byCutoff = [...slots].sort((a, b) => a.start.getTime() - b.start.getTime() || (a.slotId < b.slotId ? -1 : 1));
        expect(plan.map((p) => p.slot.slotId)).toEqual(byCutoff.map((s) => s.slotId));
        const taken = new Set<string>();
        let offered = 0;
        for (const { slot, wave } of plan) {
          const allowed = oracleRanking(list, slot, w);
          t.note(allowed.length, list.length);
          // The first `size` allowed pathways, in order, of patients neither taken nor already in this wave.
          const expected: Candidate[] = [];
          for (const c of allowed) {
            if (expected.length === size) break;
            if (!taken.has(c.patientId) && !expected.some((e) => e.patientId === c.patientId)) expected.push(c);
          }
          expect(entryIds(wave.map((r) => r.candidate))).toEqual(entryIds(expected));
          // Each offer's recorded place is its place among everyone the rules allow for this slot.
          expect(wave.map((r) => r.explanation.rank)).toEqual(expected.map((c) => allowed.indexOf(c) + 1));
          for (const r of wave) taken.add(r.candidate.patientId);
          offered += wave.length;
          if (w.now.getTime() >= slot.start.getTime() - policy.minNoticeHours * HOUR_MS) expect(wave).toEqual([]);
        }
        // No patient holds two offers across the slots.
        expect(taken.size).toBe(offered);
      }),
      { numRuns: RUNS },
    );
    expect(t.seen.someAllowed).toBeGreaterThan(t.seen.runs * 0.25);
    expect(t.seen.someRefused).toBeGreaterThan(t.seen.runs * 0.5);
  });

  it('the oracle itself: spot checks on hand-made cases, so the oracle is not trusted blindly', () => {
    const w = worldOf({ ...aContext().policy, minNoticeHours: 24, minGainDays: 7, timeZone: 'Pacific/Auckland' }, { pRYJ02: 12 });
    const slot = aSlot({ trustOds: 'RYJ', siteOds: 'RYJ02', start: new Date('2026-11-26T12:00:00Z') }); // 27 Nov in Auckland
    const away = aCandidate({ patientId: 'p', trustOds: 'RQM', acceptableSites: [], maxTravelKm: 15 });
    expect(allowedByTheRules(away, slot, w)).toBe(true);
    expect(allowedByTheRules({ ...away, maxTravelKm: 10 }, slot, w)).toBe(false);
    expect(allowedByTheRules({ ...away, icsWideConsent: false }, slot, w)).toBe(false);
    expect(allowedByTheRules({ ...away, unavailable: [{ from: day('2026-11-27'), to: day('2026-11-27') }] }, slot, w)).toBe(false);
    expect(allowedByTheRules({ ...away, unavailable: [{ from: day('2026-11-26'), to: day('2026-11-26') }] }, slot, w)).toBe(true);
    expect(allowedByTheRules({ ...away, currentAppointmentStart: new Date('2026-12-03T12:00:00Z') }, slot, w)).toBe(true);
    expect(allowedByTheRules({ ...away, currentAppointmentStart: new Date('2026-12-03T11:59:00Z') }, slot, w)).toBe(false);
    expect(allowedByTheRules(away, { ...slot, start: new Date(T0.getTime() + 24 * HOUR_MS) }, w)).toBe(false);
    expect(allowedByTheRules({ ...away, birthDate: day('2008-11-27') }, { ...slot, constraints: { minAgeYears: 18 } }, w)).toBe(true);
    expect(allowedByTheRules({ ...away, birthDate: day('2008-11-28') }, { ...slot, constraints: { minAgeYears: 18 } }, w)).toBe(false);
    const [p1b, p2early, p2late] = [
      aCandidate({ entryId: 'z', priority: 'P1b', rttStart: day('2026-10-01') }),
      aCandidate({ entryId: 'b', priority: 'P2', rttStart: day('2026-01-01') }),
      aCandidate({ entryId: 'a', priority: 'P2', rttStart: day('2026-02-01') }),
    ];
    expect(entryIds([p2late, p1b, p2early].sort(theRulesOrder))).toEqual(['z', 'b', 'a']);
  });
});

describe('selectWave', () => {
  const r = (entryId: string, patientId: string) => ({ candidate: aCandidate({ entryId, patientId }) });

  it('takes the best first, one offer per patient, leaving out patients held elsewhere', () => {
    const ranked = [r('a', 'p1'), r('b', 'p1'), r('c', 'p2'), r('d', 'p3'), r('e', 'p4')];
    expect(selectWave(ranked, 3).map((x) => x.candidate.entryId)).toEqual(['a', 'c', 'd']);
    expect(selectWave(ranked, 3, new Set(['p2'])).map((x) => x.candidate.entryId)).toEqual(['a', 'd', 'e']);
    expect(selectWave(ranked, 1).map((x) => x.candidate.entryId)).toEqual(['a']);
    expect(selectWave(ranked, 0)).toEqual([]);
    expect(selectWave([], 3)).toEqual([]);
  });
});
