/**
 * What a patient's YES to an offer earns, decided from the offer, its slot and the booking (if any)
 * as they stand under the slot's lock. The first valid YES claims the slot; every other YES gets
 * the truth, and none ever makes a second booking.
 */
import { isInsideMinimumNotice } from './notice';
import { OfferStatus } from './offer';
import { MatchingPolicy } from './policy';

export interface AcceptanceFacts {
  offer: { status: OfferStatus | string; expiresAt: Date };
  slot: { status: string; start: Date };
  /** The booking this offer already made, when it was accepted before. */
  booking?: { status: 'pending' | 'confirmed' | 'failed' | string };
  /** The database refused a second active booking for the slot: another YES won a race. */
  lostRace?: boolean;
}

export type AcceptanceDecision =
  /** Book it: the offer is live and this patient's, the slot still offered and outside the notice window. */
  | { kind: 'claim' }
  /** This patient's offer was already accepted: repeat the confirmation once the PAS has confirmed, else say nothing new. */
  | { kind: 'repeat'; resendConfirmation: boolean }
  /** Too late: the slot has gone, the offer ended, or the slot is now inside the minimum notice. */
  | { kind: 'no-longer-available'; why: string };

export function decideAcceptance(f: AcceptanceFacts, now: Date, policy: MatchingPolicy): AcceptanceDecision {
  if (f.offer.status === 'accepted') return { kind: 'repeat', resendConfirmation: f.booking?.status === 'confirmed' };
  if (f.lostRace) return { kind: 'no-longer-available', why: 'another patient claimed the slot first' };
  if (f.offer.status !== 'live') return { kind: 'no-longer-available', why: `offer is ${f.offer.status}` };
  if (f.slot.status !== 'offering') return { kind: 'no-longer-available', why: `slot is ${f.slot.status}` };
  if (f.offer.expiresAt <= now) return { kind: 'no-longer-available', why: 'offer expired' };
  if (isInsideMinimumNotice(f.slot.start, now, policy)) return { kind: 'no-longer-available', why: 'slot is inside the minimum notice' };
  return { kind: 'claim' };
}
