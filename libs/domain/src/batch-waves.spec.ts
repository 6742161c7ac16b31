/**
 * `planBatchWaves`: first waves for many slots of one specialty from one ranked list.
 * Examples first, then properties against the one-slot-at-a-time model (rank, then `selectWave`
 * with the patients earlier waves took), which is what the exchange did before batching.
 */
import fc from 'fast-check';
import { BatchSlot, planBatchWaves } from './batch-waves';
import { checkEligibility } from './eligibility';
import { noticeCutoff } from './notice';
import { selectWave } from './offer';
import { MatchingPolicy } from './policy';
import { rankCandidates } from './ranking';
import { FreedSlot } from './slot';
import { aCandidate, aContext, aSlot, day, T0 } from './testing/factories';
import { candidateListArb, mostly } from './testing/arbitraries';
import { Candidate } from './waiting-list';

const HOUR = 3_600_000;
const at = (hours: number) => new Date(T0.getTime() + hours * HOUR);
const ctx = { now: T0, policy: aContext().policy };
const ids = (w: { wave: Array<{ candidate: Candidate }> }) => w.wave.map((r) => r.candidate.entryId);

describe('planBatchWaves', () => {
  const list = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((e, i) => aCandidate({ entryId: e, patientId: `p-${e}`, rttStart: day(`2026-0${i + 1}-01`) }));

  it('serves the slot nearest its cut-off first, and never puts a patient in two waves', () => {
    const far = aSlot({ slotId: 'far', start: at(96) });
    const near = aSlot({ slotId: 'near', start: at(30) });
    const plan = planBatchWaves([{ slot: far, size: 3 }, { slot: near, size: 3 }], list, ctx);
    expect(plan.map((w) => w.slot.slotId)).toEqual(['near', 'far']);
    expect(ids(plan[0])).toEqual(['a', 'b', 'c']);
    expect(ids(plan[1])).toEqual(['d', 'e', 'f']);
    // Ranks are places among everyone eligible for that slot: the far slot's first offer is 4th.
    expect(plan[1].wave.map((r) => r.explanation.rank)).toEqual([4, 5, 6]);
    expect(plan.map((w) => w.short)).toEqual([false, false]);
  });

  it('keeps every eligibility rule per slot: a patient who cannot reach one site still serves another', () => {
    const own = aSlot({ slotId: 'rqm', trustOds: 'RQM', siteOds: 'RQM01', start: at(30) });
    const other = aSlot({ slotId: 'ryj', trustOds: 'RYJ', siteOds: 'RYJ02', start: at(40) });
    const homeOnly = list.map((c) => ({ ...c, icsWideConsent: false }));
    const plan = planBatchWaves([{ slot: own, size: 3 }, { slot: other, size: 3 }], homeOnly, ctx);
    expect(ids(plan[0])).toEqual(['a', 'b', 'c']);
    expect(ids(plan[1])).toEqual([]);
    expect(plan[1].short).toBe(true);
    // The slot inside its notice gets nobody; the other is served as if alone.
    const late = aSlot({ slotId: 'late', start: at(10) });
    const plan2 = planBatchWaves([{ slot: late, size: 3 }, { slot: own, size: 3 }], list, ctx);
    expect(ids(plan2[0])).toEqual([]);
    expect(ids(plan2[1])).toEqual(['a', 'b', 'c']);
  });

  it('leaves out patients the caller knows are taken, and a second pathway of a patient already chosen', () => {
    const slot = aSlot({ start: at(30) });
    const twoLists = [...list, aCandidate({ entryId: 'a2', patientId: 'p-a', trustOds: 'RYJ', rttStart: day('2025-12-01') })];
    const [w] = planBatchWaves([{ slot, size: 3 }], twoLists, ctx, new Set(['p-b']));
    expect(ids(w)).toEqual(['a2', 'c', 'd']);
    expect(w.wave.map((r) => r.explanation.rank)).toEqual([1, 4, 5]);
  });

  it('asks for more rows only when a slot could not be filled', () => {
    const plan = planBatchWaves([1, 2, 3].map((i) => ({ slot: aSlot({ slotId: `s${i}`, start: at(30 + i) }), size: 3 })), list, ctx);
    expect(plan.map((w) => w.wave.length)).toEqual([3, 3, 1]);
    expect(plan.map((w) => w.short)).toEqual([false, false, true]);
  });
});

const listArb = candidateListArb(40, 15);

const slotArb = (i: number) =>
  fc.record({
    trustOds: mostly('RQM', 'RYJ'),
    siteOds: fc.constantFrom('RQM01', 'RYJ02'),
    hoursAhead: fc.integer({ min: 0, max: 24 * 20 }),
    sex: fc.option(fc.constantFrom('M' as const, 'F' as const), { freq: 4 }),
    size: fc.integer({ min: 0, max: 4 }),
  }).map(({ hoursAhead, sex, size, ...s }): BatchSlot => ({
    slot: aSlot({ ...s, slotId: `s${i}`, start: new Date(T0.getTime() + hoursAhead * HOUR), constraints: sex ? { sex } : undefined }),
    size,
  }));

const slotsArb = fc.integer({ min: 1, max: 10 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => slotArb(i))));
const heldArb = fc.uniqueArray(fc.integer({ min: 0, max: 15 }).map((p) => `p${p}`), { maxLength: 4 });
const distancesArb = fc.dictionary(fc.string({ unit: fc.constantFrom('p', '1', '2', '3', 'R', 'Y'), minLength: 2, maxLength: 4 }), fc.integer({ min: 0, max: 40 }));
const policyArb = fc.record({ minNoticeHours: fc.constantFrom(0, 24, 48), minGainDays: fc.constantFrom(0, 7) });

describe('planBatchWaves, properties', () => {
  const settings = { numRuns: 300 };
  const setup = (p: Partial<MatchingPolicy>, distances: Record<string, number>) => {
    const policy = { ...aContext().policy, ...p };
    const distanceKmFor = (c: Candidate, slot: FreedSlot) => distances[`${c.patientId}${slot.siteOds}`] ?? null;
    return { now: T0, policy, distanceKmFor };
  };

  it('is planning the slots one at a time in order of cut-off, each after the last one\'s offers went live', () => {
    fc.assert(
      fc.property(listArb, slotsArb, heldArb, policyArb, distancesArb, (list, slots, held, p, distances) => {
        const bctx = setup(p, distances);
        const plan = planBatchWaves(slots, list, bctx, new Set(held));
        const byCutoff = [...slots].sort((a, b) => noticeCutoff(a.slot.start, bctx.policy).getTime() - noticeCutoff(b.slot.start, bctx.policy).getTime() || (a.slot.slotId < b.slot.slotId ? -1 : 1));
        const live = new Set(held);
        byCutoff.forEach(({ slot, size }, i) => {
          const ranked = rankCandidates(list, slot, { now: T0, policy: bctx.policy, distanceKmFor: (c) => bctx.distanceKmFor(c, slot) });
          const alone = selectWave(ranked, size, live);
          expect(plan[i].slot.slotId).toBe(slot.slotId);
          expect(plan[i].wave).toEqual(alone);
          for (const r of alone) live.add(r.candidate.patientId);
        });
      }),
      settings,
    );
  });

  it('puts no patient in two waves or in a held one, offers only the eligible, and fills a wave unless the list ran out', () => {
    fc.assert(
      fc.property(listArb, slotsArb, heldArb, policyArb, distancesArb, (list, slots, held, p, distances) => {
        const bctx = setup(p, distances);
        const plan = planBatchWaves(slots, list, bctx, new Set(held));
        const offered = plan.flatMap((w) => w.wave.map((r) => r.candidate.patientId));
        expect(new Set(offered).size).toBe(offered.length);
        for (const h of held) expect(offered).not.toContain(h);
        for (const w of plan) {
          const size = slots.find((s) => s.slot.slotId === w.slot.slotId)!.size;
          expect(w.wave.length).toBeLessThanOrEqual(size);
          expect(w.short).toBe(w.wave.length < size);
          for (const r of w.wave) {
            expect(checkEligibility(r.candidate, w.slot, { now: T0, policy: bctx.policy, distanceKmFor: (c) => bctx.distanceKmFor(c, w.slot) })).toEqual({ eligible: true });
          }
          if (w.short) {
            // Nobody eligible and free was left for it.
            const free = list.filter((c) => !offered.includes(c.patientId) && !held.includes(c.patientId));
            for (const c of free) expect(checkEligibility(c, w.slot, { now: T0, policy: bctx.policy, distanceKmFor: (x) => bctx.distanceKmFor(x, w.slot) }).eligible).toBe(false);
          }
        }
      }),
      settings,
    );
  });
});
