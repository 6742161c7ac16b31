/**
 * First waves for many slots of one specialty at once (a clinic or a consultant's week cancelled):
 * one ranked list of candidates, shared out so that no patient is in two waves and the slot
 * nearest its cut-off is served first. Making them together replaces one transaction per slot,
 * each racing the others for the same top patients, with one pass over the list.
 */
import { checkEligibility, EligibilityContext } from './eligibility';
import { noticeCutoff } from './notice';
import { compareCandidates, explain, RankedCandidate } from './ranking';
import { FreedSlot } from './slot';
import { Candidate } from './waiting-list';

export interface BatchSlot {
  slot: FreedSlot;
  /** How many patients this slot's wave still needs. */
  size: number;
}

export interface BatchWave {
  slot: FreedSlot;
  /** Best first; `explanation.rank` is the place among everyone eligible for this slot, as `rankCandidates` gives it. */
  wave: RankedCandidate[];
  /** The list ran out of eligible, free patients before the wave was full: more rows might fill it. */
  short: boolean;
}

export interface BatchContext extends Omit<EligibilityContext, 'distanceKm' | 'distanceKmFor'> {
  /** The patient's distance to this slot's site, when both are known. */
  distanceKmFor?: (c: Candidate, slot: FreedSlot) => number | null;
}

/**
 * Each slot's wave, in order of cut-off (then slot id, so the plan never depends on input order):
 * each takes the best candidates eligible for it (every rule, per slot) that no earlier slot's
 * wave took and that are not in `held` (patients the caller knows are taken). The same as
 * planning the slots one by one, each after the last one's offers went live.
 */
export function planBatchWaves(slots: readonly BatchSlot[], candidates: readonly Candidate[], ctx: BatchContext, held: ReadonlySet<string> = new Set()): BatchWave[] {
  const ranked = [...candidates].sort(compareCandidates);
  const taken = new Set(held);
  const order = [...slots].sort((a, b) =>
    noticeCutoff(a.slot.start, ctx.policy).getTime() - noticeCutoff(b.slot.start, ctx.policy).getTime() ||
    (a.slot.slotId < b.slot.slotId ? -1 : a.slot.slotId > b.slot.slotId ? 1 : 0));
  return order.map(({ slot, size }) => {
    const slotCtx: EligibilityContext = { now: ctx.now, policy: ctx.policy, distanceKmFor: ctx.distanceKmFor ? (c) => ctx.distanceKmFor!(c, slot) : undefined };
    const wave: RankedCandidate[] = [];
    const inWave = new Set<string>();
    let rank = 0;
    // Walks the list only as far as this wave needs: ranks count every eligible candidate passed,
    // taken or not, so an offer's explanation is the same as ranking the whole list would give.
    for (const c of ranked) {
      if (wave.length >= size) break;
      if (!checkEligibility(c, slot, slotCtx).eligible) continue;
      rank++;
      if (taken.has(c.patientId) || inWave.has(c.patientId)) continue;
      inWave.add(c.patientId);
      wave.push({ candidate: c, explanation: explain(c, rank, slot, ctx.now) });
    }
    for (const p of inWave) taken.add(p);
    return { slot, wave, short: wave.length < size };
  });
}
