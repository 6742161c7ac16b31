/**
 * Offers: the short code a patient texts back, the offer lifecycle, and when a wave is over.
 */
import { DomainError } from './errors';

export type OfferStatus = 'live' | 'accepted' | 'declined' | 'expired' | 'superseded' | 'withdrawn' | 'undeliverable';

export const OFFER_STATUSES: readonly OfferStatus[] = Object.freeze([
  'live',
  'accepted',
  'declined',
  'expired',
  'superseded',
  'withdrawn',
  'undeliverable',
] as const);

const CODE_MIN = 1000;
const CODE_COUNT = 9000;
const RANDOM_TRIES = 16;

/**
 * A 4-digit offer code, `1000`-`9999` (no leading zero, which phones and patients drop), not in
 * `taken` (the codes live on the same number, so a reply is never ambiguous). `random` is
 * injected so tests and simulations are reproducible. Random draws first; if the space is
 * crowded, the next free code after the last draw, so it always ends.
 */
export function generateOfferCode(random: () => number, taken: ReadonlySet<string> = new Set()): string {
  let n = 0;
  for (let i = 0; i < RANDOM_TRIES; i++) {
    const r = random();
    if (!(r >= 0 && r < 1)) throw new DomainError('invalid-random', `random() must return a number in [0, 1), got ${r}`);
    n = Math.floor(r * CODE_COUNT);
    const code = String(CODE_MIN + n);
    if (!taken.has(code)) return code;
  }
  for (let step = 1; step < CODE_COUNT; step++) {
    const code = String(CODE_MIN + ((n + step) % CODE_COUNT));
    if (!taken.has(code)) return code;
  }
  throw new DomainError('offer-codes-exhausted', 'every offer code from 1000 to 9999 is taken');
}

export function isOfferCode(s: string): boolean {
  return /^[1-9]\d{3}$/.test(s);
}

/** Only a live offer can be accepted, declined or counted against the one-live-offer rule. */
export function isLive(status: OfferStatus): boolean {
  return status === 'live';
}

/** Every other status is final: an offer leaves `live` once and never comes back. */
export function canTransitionOffer(from: OfferStatus, to: OfferStatus): boolean {
  return from === 'live' && to !== 'live';
}

/**
 * A wave is over once someone accepted, or nobody in it is still live (all declined, expired or
 * unreachable), so the next wave can go out at once instead of waiting for the TTL.
 */
export function isWaveOver(statuses: readonly OfferStatus[]): boolean {
  return statuses.includes('accepted') || !statuses.some(isLive);
}

/**
 * The next wave for a slot: the best-ranked candidates, one offer per patient (a patient on two
 * trusts' lists is still one person with one phone), leaving out patients who already hold a live
 * offer elsewhere. `ranked` is best first; the result keeps that order and has at most `size`.
 * The database's unique index is the last word on "one live offer"; `held` is how the caller
 * tells this function about refusals it met.
 */
export function selectWave<T extends { candidate: { patientId: string } }>(ranked: readonly T[], size: number, held: ReadonlySet<string> = new Set()): T[] {
  const chosen: T[] = [];
  const patients = new Set<string>();
  for (const r of ranked) {
    if (chosen.length >= size) break;
    const p = r.candidate.patientId;
    if (held.has(p) || patients.has(p)) continue;
    patients.add(p);
    chosen.push(r);
  }
  return chosen;
}
