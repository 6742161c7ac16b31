/**
 * Who is offered a slot first. Eligible candidates are ordered by clinical priority, then breach
 * date, then RTT clock start (longest wait first), then entry id, a total order that never
 * depends on input order, so the same list always gives the same offers. Every ranked candidate
 * carries an explanation that is stored with the offer.
 */
import { toIsoDate, utcDaysBetween } from './dates';
import { checkEligibility, EligibilityContext } from './eligibility';
import { Priority, priorityRank } from './priority';
import { FreedSlot } from './slot';
import { Candidate } from './waiting-list';

export interface RankExplanation {
  /** 1-based place among the eligible. */
  rank: number;
  priority: Priority;
  /** YYYY-MM-DD */
  breachDate: string;
  /** YYYY-MM-DD */
  rttStart: string;
  daysWaiting: number;
  /** The entry id, which decides only between otherwise equal patients. */
  tieBreak: string;
  sameTrust: boolean;
  /** e.g. "P2, breaches 2026-02-07, waiting since 2026-01-10 (317 days)" */
  summary: string;
}

export interface RankedCandidate {
  candidate: Candidate;
  explanation: RankExplanation;
}

/**
 * Negative when `a` is offered before `b`. Entry ids compare by code unit, not locale, so the
 * order is the same on every machine.
 */
export function compareCandidates(a: Candidate, b: Candidate): number {
  return (
    priorityRank(a.priority) - priorityRank(b.priority) ||
    a.breachDate.getTime() - b.breachDate.getTime() ||
    a.rttStart.getTime() - b.rttStart.getTime() ||
    (a.entryId < b.entryId ? -1 : a.entryId > b.entryId ? 1 : 0)
  );
}

/** The eligible candidates for `slot`, best first, each with why it stands where it does. */
export function rankCandidates(cs: Candidate[], slot: FreedSlot, ctx: EligibilityContext): RankedCandidate[] {
  return cs
    .filter((c) => checkEligibility(c, slot, ctx).eligible)
    .sort(compareCandidates)
    .map((candidate, i) => ({ candidate, explanation: explain(candidate, i + 1, slot, ctx.now) }));
}

export function explain(c: Candidate, rank: number, slot: FreedSlot, now: Date): RankExplanation {
  const breach = toIsoDate(c.breachDate);
  const rttStart = toIsoDate(c.rttStart);
  const daysWaiting = utcDaysBetween(c.rttStart, now);
  return {
    rank,
    priority: c.priority,
    breachDate: breach,
    rttStart,
    daysWaiting,
    tieBreak: c.entryId,
    sameTrust: c.trustOds === slot.trustOds,
    summary: `${c.priority}, breaches ${breach}, waiting since ${rttStart} (${daysWaiting} ${daysWaiting === 1 ? 'day' : 'days'})`,
  };
}
