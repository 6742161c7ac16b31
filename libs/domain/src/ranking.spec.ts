import fc from 'fast-check';
import { compareCandidates, rankCandidates } from './ranking';
import { checkEligibility, EligibilityContext } from './eligibility';
import { isInsideMinimumNotice } from './notice';
import { breachDate, PRIORITIES, priorityRank } from './priority';
import { Candidate } from './waiting-list';
import { aCandidate, aContext, aSlot, day, T0 } from './testing/factories';

describe('compareCandidates / rankCandidates', () => {
  it('ranks by priority first, whatever the wait', () => {
    const p2 = aCandidate({ entryId: 'a', priority: 'P2', rttStart: day('2026-10-01') });
    const p1b = aCandidate({ entryId: 'b', priority: 'P1b', rttStart: day('2026-11-22') });
    const p4 = aCandidate({ entryId: 'c', priority: 'P4', rttStart: day('2025-01-01') });
    expect(rankCandidates([p4, p2, p1b], aSlot(), aContext()).map((r) => r.candidate.entryId)).toEqual(['b', 'a', 'c']);
  });

  it('then by breach date, then RTT start (longest wait), then entry id', () => {
    const base = { priority: 'P3' as const };
    const laterBreach = aCandidate({ ...base, entryId: 'a', rttStart: day('2026-01-01'), breachDate: day('2026-05-01') });
    const earlierBreach = aCandidate({ ...base, entryId: 'b', rttStart: day('2026-02-01'), breachDate: day('2026-04-01') });
    const sameBreachLongerWait = aCandidate({ ...base, entryId: 'c', rttStart: day('2025-12-01'), breachDate: day('2026-05-01') });
    const tieB = aCandidate({ ...base, entryId: 'z', rttStart: day('2026-01-01'), breachDate: day('2026-05-01') });
    const ranked = rankCandidates([tieB, laterBreach, sameBreachLongerWait, earlierBreach], aSlot(), aContext());
    expect(ranked.map((r) => r.candidate.entryId)).toEqual(['b', 'c', 'a', 'z']);
    expect(ranked.map((r) => r.explanation.rank)).toEqual([1, 2, 3, 4]);
  });

  it('compares entry ids by code unit, not locale', () => {
    const upper = aCandidate({ entryId: 'B' });
    const lower = aCandidate({ entryId: 'a' });
    expect(compareCandidates(upper, lower)).toBeLessThan(0);
  });

  it('leaves out the ineligible, and explains each place', () => {
    const a = aCandidate({ entryId: 'pw-a', priority: 'P2', rttStart: day('2026-01-10') });
    const b = aCandidate({ entryId: 'pw-b', priority: 'P3', trustOds: 'RYJ' });
    const paused = aCandidate({ entryId: 'pw-p', priority: 'P1a', status: 'paused' });
    const ranked = rankCandidates([b, paused, a], aSlot(), aContext());
    expect(ranked.map((r) => r.candidate)).toEqual([a, b]);
    expect(ranked[0].explanation).toEqual({
      rank: 1,
      priority: 'P2',
      breachDate: '2026-02-07',
      rttStart: '2026-01-10',
      daysWaiting: 317,
      tieBreak: 'pw-a',
      sameTrust: true,
      summary: 'P2, breaches 2026-02-07, waiting since 2026-01-10 (317 days)',
    });
    expect(ranked[1].explanation).toMatchObject({ rank: 2, priority: 'P3', sameTrust: false, tieBreak: 'pw-b' });
  });

  it('says "1 day" for one day', () => {
    const c = aCandidate({ priority: 'P1b', rttStart: day('2026-11-22') });
    expect(rankCandidates([c], aSlot(), aContext())[0].explanation.summary).toBe('P1b, breaches 2026-11-25, waiting since 2026-11-22 (1 day)');
  });

  it('offers nothing for a slot inside the notice window', () => {
    expect(rankCandidates([aCandidate()], aSlot({ start: new Date('2026-11-24T08:00:00Z') }), aContext())).toEqual([]);
  });
});

describe('ranking properties', () => {
  // Mostly-passing values so that typical lists mix eligible and ineligible candidates.
  const mostly = <T>(usual: T, ...rare: T[]) => fc.oneof({ weight: 12, arbitrary: fc.constant(usual) }, { weight: 1, arbitrary: fc.constantFrom(...rare) });
  const date = (from: string, to: string) => fc.date({ min: day(from), max: day(to), noInvalidDate: true });
  const sometimes = <T, N>(arb: fc.Arbitrary<T>, none: N) => fc.oneof({ weight: 3, arbitrary: fc.constant(none) }, { weight: 1, arbitrary: arb });

  const candidateFields = fc.record({
    trustOds: mostly('RQM', 'RYJ', 'RAS'),
    tfc: mostly('330', '130'),
    appointmentType: mostly('NEW' as const, 'FUP' as const),
    priority: fc.constantFrom(...PRIORITIES),
    // Few distinct days, so that equal priorities, breach dates and RTT starts are common.
    rttStart: fc.integer({ min: 0, max: 20 }).map((n) => new Date(day('2026-01-01').getTime() + n * 7 * 86_400_000)),
    breachShiftDays: mostly(0, -3, 5),
    birthDate: date('1930-01-01', '2026-01-01'),
    sex: fc.constantFrom('M' as const, 'F' as const, 'U' as const, null),
    currentAppointmentStart: sometimes(date('2026-11-20', '2027-03-01'), null),
    offerConsent: mostly(true, false),
    icsWideConsent: mostly(true, false),
    acceptableSites: fc.oneof(fc.constant('ANY' as const), fc.subarray(['RQM01', 'RQM91', 'RYJ02'])),
    maxTravelKm: fc.option(fc.integer({ min: 0, max: 40 })),
    unavailable: sometimes(fc.array(
      fc.tuple(date('2026-11-01', '2027-01-01'), fc.integer({ min: 0, max: 10 })).map(([from, len]) => ({
        from: new Date(Math.floor(from.getTime() / 86_400_000) * 86_400_000),
        to: new Date(Math.floor(from.getTime() / 86_400_000 + len) * 86_400_000),
      })),
      { minLength: 1, maxLength: 2 },
    ), []),
    status: mostly('open' as const, 'paused' as const, 'booked' as const, 'closed' as const),
    hasLiveOffer: mostly(false, true),
    mobileValid: mostly(true, false),
    smsStopped: mostly(false, true),
  });

  const candidates = fc
    .uniqueArray(fc.tuple(fc.string({ unit: fc.constantFrom('a', 'b', 'A', '1', '-'), minLength: 1, maxLength: 4 }), candidateFields), {
      selector: ([id]) => id,
      maxLength: 25,
    })
    .map((rows) =>
      rows.map(([entryId, { breachShiftDays, ...f }], i): Candidate => ({
        ...f,
        entryId,
        patientId: `patient-${i}`,
        breachDate: new Date(breachDate(f.priority, f.rttStart).getTime() + breachShiftDays * 86_400_000),
      })),
    );

  const slots = fc.record({
    trustOds: mostly('RQM', 'RYJ'),
    siteOds: fc.constantFrom('RQM01', 'RQM91', 'RYJ02'),
    tfc: mostly('330', '130'),
    appointmentType: mostly('NEW' as const, 'FUP' as const),
    start: date('2026-11-23', '2026-12-31'),
    constraints: sometimes(
      fc.record({ minAgeYears: fc.integer({ min: 0, max: 70 }), maxAgeYears: fc.integer({ min: 17, max: 120 }), sex: fc.constantFrom('M' as const, 'F' as const) }, { requiredKeys: [] }),
      undefined,
    ),
  }).map((s) => aSlot(s));

  const contexts = fc
    .record({ hoursBeforeT0: fc.integer({ min: -48, max: 72 }), distanceKm: fc.option(fc.integer({ min: 0, max: 60 })), minNoticeHours: fc.constantFrom(0, 24, 48) })
    .map(({ hoursBeforeT0, distanceKm, minNoticeHours }): EligibilityContext => aContext({ now: new Date(T0.getTime() - hoursBeforeT0 * 3_600_000), distanceKm }, { minNoticeHours }));

  const settings = { numRuns: 300 };

  it('returns exactly the eligible candidates, so no ineligible one can outrank an eligible one', () => {
    fc.assert(
      fc.property(candidates, slots, contexts, (cs, slot, ctx) => {
        const ranked = rankCandidates(cs, slot, ctx).map((r) => r.candidate);
        for (const c of ranked) expect(checkEligibility(c, slot, ctx).eligible).toBe(true);
        const eligible = cs.filter((c) => checkEligibility(c, slot, ctx).eligible);
        expect(new Set(ranked)).toEqual(new Set(eligible));
        expect(ranked).toHaveLength(eligible.length);
      }),
      settings,
    );
  });

  it('never ranks anyone who breaks a hard rule', () => {
    fc.assert(
      fc.property(candidates, slots, contexts, (cs, slot, ctx) => {
        for (const { candidate: c } of rankCandidates(cs, slot, ctx)) {
          expect(c.tfc).toBe(slot.tfc);
          expect(c.appointmentType).toBe(slot.appointmentType);
          expect(c.status).toBe('open');
          expect(c.hasLiveOffer).toBe(false);
          expect(c.offerConsent && c.mobileValid && !c.smsStopped).toBe(true);
          if (c.trustOds !== slot.trustOds) expect(c.icsWideConsent).toBe(true);
          if (slot.constraints?.sex) expect(c.sex).toBe(slot.constraints.sex);
          if (c.currentAppointmentStart) {
            expect(slot.start.getTime()).toBeLessThanOrEqual(c.currentAppointmentStart.getTime() - ctx.policy.minGainDays * 86_400_000);
          }
        }
      }),
      settings,
    );
  });

  it('offers nothing inside the notice window', () => {
    fc.assert(
      fc.property(candidates, slots, contexts, (cs, slot, ctx) => {
        const ranked = rankCandidates(cs, slot, ctx);
        if (isInsideMinimumNotice(slot.start, ctx.now, ctx.policy)) expect(ranked).toEqual([]);
        expect(ranked.every((r) => slot.start.getTime() - ctx.now.getTime() > ctx.policy.minNoticeHours * 3_600_000)).toBe(true);
      }),
      settings,
    );
  });

  it('puts them in compareCandidates order with ranks 1..n and priority never inverted', () => {
    fc.assert(
      fc.property(candidates, slots, contexts, (cs, slot, ctx) => {
        const ranked = rankCandidates(cs, slot, ctx);
        ranked.forEach((r, i) => expect(r.explanation.rank).toBe(i + 1));
        for (let i = 1; i < ranked.length; i++) {
          const [prev, next] = [ranked[i - 1].candidate, ranked[i].candidate];
          expect(compareCandidates(prev, next)).toBeLessThan(0);
          expect(priorityRank(prev.priority)).toBeLessThanOrEqual(priorityRank(next.priority));
        }
      }),
      settings,
    );
  });

  it('gives the same ranking whatever order the candidates arrive in', () => {
    fc.assert(
      fc.property(
        candidates.chain((cs) => fc.tuple(fc.constant(cs), fc.shuffledSubarray(cs, { minLength: cs.length, maxLength: cs.length }))),
        slots,
        contexts,
        ([cs, shuffled], slot, ctx) => {
          const ids = (list: Candidate[]) => rankCandidates(list, slot, ctx).map((r) => r.candidate.entryId);
          expect(ids(shuffled)).toEqual(ids(cs));
        },
      ),
      settings,
    );
  });

  it('compareCandidates is a total order: reflexive, antisymmetric, transitive, and zero only for the same entry', () => {
    fc.assert(
      fc.property(candidates.filter((cs) => cs.length >= 3), (cs) => {
        const [a, b, c] = cs;
        const sign = (n: number) => Math.sign(n);
        expect(compareCandidates(a, a)).toBe(0);
        expect(sign(compareCandidates(a, b))).toBe(-sign(compareCandidates(b, a)));
        expect(compareCandidates(a, b)).not.toBe(0);
        if (compareCandidates(a, b) < 0 && compareCandidates(b, c) < 0) expect(compareCandidates(a, c)).toBeLessThan(0);
      }),
      settings,
    );
  });

  it('keeps entries that compare equal in their input order (stable)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 6 }), (n) => {
        const twins = Array.from({ length: n }, (_, i) => aCandidate({ entryId: 'same', patientId: `p${i}` }));
        expect(rankCandidates(twins, aSlot(), aContext()).map((r) => r.candidate.patientId)).toEqual(twins.map((t) => t.patientId));
      }),
    );
  });

  it('explains each place with the keys that decided it', () => {
    fc.assert(
      fc.property(candidates, slots, contexts, (cs, slot, ctx) => {
        for (const { candidate: c, explanation: e } of rankCandidates(cs, slot, ctx)) {
          expect(e.priority).toBe(c.priority);
          expect(e.breachDate).toBe(c.breachDate.toISOString().slice(0, 10));
          expect(e.rttStart).toBe(c.rttStart.toISOString().slice(0, 10));
          expect(e.tieBreak).toBe(c.entryId);
          expect(e.sameTrust).toBe(c.trustOds === slot.trustOds);
          expect(e.summary).toContain(`${c.priority}, breaches ${e.breachDate}, waiting since ${e.rttStart} (${e.daysWaiting} day`);
        }
      }),
      settings,
    );
  });
});
