/**
 * What the matching engine does with a slot when its turn comes, as one pure decision: close it
 * (the cut-off has come, or quiet hours last until it), wait for quiet hours to end before choosing
 * patients, or make a wave now. The engine and the outcome simulator both ask this, so a policy
 * compared in simulation behaves as it would in production.
 */
import { MS_PER_MINUTE } from './dates';
import { isInsideMinimumNotice, nextSendableTime, noticeCutoff, waveExpiry } from './notice';
import { effectiveWaveSize, MatchingPolicy } from './policy';

/**
 * A match that falls this close to the end of quiet hours makes its wave now (to be sent then),
 * rather than scheduling itself again a few seconds later.
 */
export const QUIET_DEFER_SLACK_MS = 60_000;

/** With nobody eligible yet, look again this much later: lists change and other offers end. */
export const NO_CANDIDATE_RETRY_MINUTES = 15;

export type MatchStep =
  | { kind: 'close'; reason: 'cut-off' | 'quiet-hours-until-cut-off' }
  /** Choose patients when texts can go, so nobody is held overnight by an offer they cannot see. */
  | { kind: 'defer'; until: Date }
  | { kind: 'offer'; sendAt: Date; expiresAt: Date; waveSize: number };

export function planMatch(slotStart: Date, now: Date, policy: MatchingPolicy): MatchStep {
  if (isInsideMinimumNotice(slotStart, now, policy)) return { kind: 'close', reason: 'cut-off' };
  const sendAt = nextSendableTime(now, policy);
  if (isInsideMinimumNotice(slotStart, sendAt, policy)) return { kind: 'close', reason: 'quiet-hours-until-cut-off' };
  if (sendAt.getTime() - now.getTime() > QUIET_DEFER_SLACK_MS) return { kind: 'defer', until: sendAt };
  return { kind: 'offer', sendAt, expiresAt: waveExpiry(sendAt, slotStart, policy), waveSize: effectiveWaveSize(policy) };
}

/** When to look again for a slot that found nobody eligible, or null when that would be past its cut-off. */
export function noCandidateRetryAt(slotStart: Date, now: Date, policy: MatchingPolicy): Date | null {
  const retry = new Date(now.getTime() + NO_CANDIDATE_RETRY_MINUTES * MS_PER_MINUTE);
  return retry.getTime() < noticeCutoff(slotStart, policy).getTime() ? retry : null;
}
