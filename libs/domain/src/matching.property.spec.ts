/**
 * Properties of matching many slots against one waiting list, the way the exchange does it:
 * rank (eligibility + order), then `selectWave` with the patients who already hold a live offer.
 * For random lists, slots, distances and policies:
 * - every offered patient is eligible for their slot at the moment of the offer;
 * - no eligible, free patient is passed over for a lower-ranked one (no ineligible outranks an eligible);
 * - no patient ever holds two live offers, and a wave never names a patient twice;
 * - nothing is offered inside the notice window.
 */
import fc from 'fast-check';
import { checkEligibility, EligibilityContext } from './eligibility';
import { isInsideMinimumNotice } from './notice';
import { selectWave } from './offer';
import { effectiveWaveSize, MatchingPolicy } from './policy';
import { compareCandidates, rankCandidates } from './ranking';
import { FreedSlot } from './slot';
import { aCandidate, aContext, aSlot, T0 } from './testing/factories';
import { candidateListArb, mostly } from './testing/arbitraries';
import { Candidate } from './waiting-list';

const listArb = candidateListArb(30);

const slotArb = (i: number) =>
  fc.record({
    trustOds: mostly('RQM', 'RYJ'),
    siteOds: fc.constantFrom('RQM01', 'RYJ02'),
    tfc: mostly('330', '130'),
    hoursAhead: fc.integer({ min: 0, max: 24 * 20 }),
    sex: fc.option(fc.constantFrom('M' as const, 'F' as const), { freq: 4 }),
  }).map(({ hoursAhead, sex, ...s }): FreedSlot => aSlot({ ...s, slotId: `s${i}`, start: new Date(T0.getTime() + hoursAhead * 3_600_000), constraints: sex ? { sex } : undefined }));

const slotsArb = fc.integer({ min: 1, max: 8 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => slotArb(i))));

const policyArb = fc.record({
  waveSize: fc.integer({ min: 1, max: 4 }),
  strategy: fc.constantFrom('broadcast' as const, 'sequential' as const),
  minNoticeHours: fc.constantFrom(0, 24, 48),
  minGainDays: fc.constantFrom(0, 7),
});

/** Distances per (patient, site): some known, some not. */
const distancesArb = fc.dictionary(fc.string({ unit: fc.constantFrom('p', '1', '2', '3', 'R', 'Y'), minLength: 2, maxLength: 4 }), fc.integer({ min: 0, max: 40 }));

interface Offer { slot: FreedSlot; candidate: Candidate }

/** The exchange's loop, pure: each slot in turn, patients with a live offer are left out. */
function matchAll(list: Candidate[], slots: FreedSlot[], policy: MatchingPolicy, distances: Record<string, number>) {
  const live = new Map<string, Offer>();
  const waves: Array<{ slot: FreedSlot; ctx: EligibilityContext; wave: Offer[]; ranked: Candidate[] }> = [];
  for (const slot of slots) {
    const view = list.map((c) => ({ ...c, hasLiveOffer: live.has(c.patientId) }));
    const ctx: EligibilityContext = { ...aContext({}, policy), distanceKmFor: (c) => distances[`${c.patientId}${slot.siteOds}`] ?? null };
    const ranked = rankCandidates(view, slot, ctx);
    const wave = selectWave(ranked, effectiveWaveSize(ctx.policy), new Set(live.keys())).map((r) => ({ slot, candidate: r.candidate }));
    for (const o of wave) {
      expect(live.has(o.candidate.patientId)).toBe(false);
      live.set(o.candidate.patientId, o);
    }
    waves.push({ slot, ctx, wave, ranked: ranked.map((r) => r.candidate) });
  }
  return { live, waves };
}

const settings = { numRuns: 200 };

describe('matching many slots against one list', () => {
  it('offers only eligible patients, never inside the notice window, never twice to one patient', () => {
    fc.assert(
      fc.property(listArb, slotsArb, policyArb, distancesArb, (list, slots, p, distances) => {
        const { live, waves } = matchAll(list, slots, { ...aContext().policy, ...p }, distances);
        const offered = waves.flatMap((w) => w.wave);
        expect(new Set(offered.map((o) => o.candidate.patientId)).size).toBe(offered.length);
        expect(live.size).toBe(offered.length);
        for (const { slot, ctx, wave } of waves) {
          if (isInsideMinimumNotice(slot.start, ctx.now, ctx.policy)) expect(wave).toEqual([]);
          expect(wave.length).toBeLessThanOrEqual(effectiveWaveSize(ctx.policy));
          for (const o of wave) expect(checkEligibility(o.candidate, slot, ctx)).toEqual({ eligible: true });
        }
      }),
      settings,
    );
  });

  it('passes over no eligible, free patient in favour of a lower-ranked one', () => {
    fc.assert(
      fc.property(listArb, slotsArb, policyArb, distancesArb, (list, slots, p, distances) => {
        const { waves } = matchAll(list, slots, { ...aContext().policy, ...p }, distances);
        waves.forEach(({ slot, ctx, wave }, i) => {
          const worstChosen = wave[wave.length - 1]?.candidate;
          if (!worstChosen) return;
          const heldBefore = new Set(waves.slice(0, i).flatMap((w) => w.wave.map((o) => o.candidate.patientId)));
          const inWave = new Set(wave.map((o) => o.candidate.patientId));
          for (const c of list) {
            const better = compareCandidates(c, worstChosen) < 0;
            const eligibleIfFree = checkEligibility({ ...c, hasLiveOffer: false }, slot, ctx).eligible;
            // Anyone ranked above the last patient offered was offered (perhaps on another of their
            // pathways), or was ineligible, or already held a live offer for an earlier slot.
            if (better && eligibleIfFree) expect(inWave.has(c.patientId) || heldBefore.has(c.patientId)).toBe(true);
          }
        });
      }),
      settings,
    );
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
