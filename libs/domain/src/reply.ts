/**
 * The grammar of a patient's SMS reply to an offer (CONTRACT.md "SMS"). Deliberately small and
 * conservative: a reply we misread books or cancels someone's hospital appointment, while a reply
 * we do not understand only earns a short help message. So:
 *
 *   reply    := STOP-anywhere | START courtesy* | answer
 *   answer   := keyword courtesy? code? courtesy?
 *   keyword  := YES | Y | ACCEPT  (yes)   |   NO | N | DECLINE  (no)
 *   courtesy := PLEASE | THANKS | THANK YOU | THANKYOU       ("YES PLEASE", "NO THANKS 4821")
 *   code     := 3-10 letters or digits, at least one a digit, which may be glued on ("yes4821")
 *
 * Case, extra spaces and punctuation are ignored ("  Yes, 4821!"). STOP or UNSUBSCRIBE anywhere
 * in the message is an opt-out, because texting someone who asked us to stop is the worse error.
 * Not understood, on purpose: "yeah", "ok", "maybe", "4821 YES", and a code split by a space
 * ("YES 12 34"), since joining the pieces would be a guess. Codes come back in upper case.
 */
import { OfferStatus } from './offer';

export type PatientReply =
  | { kind: 'yes'; code: string | null }
  | { kind: 'no'; code: string | null }
  | { kind: 'stop' }
  | { kind: 'start' }
  | { kind: 'unclear' };

const YES_WORDS = new Set(['YES', 'Y', 'ACCEPT']);
const NO_WORDS = new Set(['NO', 'N', 'DECLINE']);
const STOP_WORDS = new Set(['STOP', 'UNSUBSCRIBE']);
const GLUED = /^(YES|Y|ACCEPT|NO|N|DECLINE)(\d[A-Z0-9]{2,9})$/;
const CODE = /^(?=.*\d)[A-Z0-9]{3,10}$/;

const UNCLEAR: PatientReply = Object.freeze({ kind: 'unclear' });

function tokenise(text: string): string[] {
  return text
    .normalize('NFKC')
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, ' ')
    .trim()
    .split(' ')
    .filter((t) => t !== '');
}

/** How many tokens from `i` form one courtesy phrase (0 if none). */
function courtesyAt(tokens: string[], i: number): number {
  const t = tokens[i];
  if (t === 'PLEASE' || t === 'THANKS' || t === 'THANKYOU') return 1;
  if (t === 'THANK' && tokens[i + 1] === 'YOU') return 2;
  return 0;
}

export function parseReply(text: string): PatientReply {
  const tokens = tokenise(text);
  if (tokens.length === 0) return UNCLEAR;
  if (tokens.some((t) => STOP_WORDS.has(t))) return { kind: 'stop' };

  const glued = GLUED.exec(tokens[0]);
  if (glued) tokens.splice(0, 1, glued[1], glued[2]);

  const [keyword] = tokens;
  let i = 1;
  const skipCourtesy = (): void => {
    i += courtesyAt(tokens, i);
  };

  if (keyword === 'START') {
    while (courtesyAt(tokens, i) > 0) skipCourtesy();
    return i === tokens.length ? { kind: 'start' } : UNCLEAR;
  }

  const kind = YES_WORDS.has(keyword) ? 'yes' : NO_WORDS.has(keyword) ? 'no' : null;
  if (!kind) return UNCLEAR;
  skipCourtesy();
  let code: string | null = null;
  if (i < tokens.length && CODE.test(tokens[i])) code = tokens[i++];
  skipCourtesy();
  return i === tokens.length ? { kind, code } : UNCLEAR;
}

/**
 * The answer to a reply we cannot act on (unclear, or a code that matches none of the number's
 * offers). One help text per live offer, however many unclear replies follow — an auto-responder
 * answering our help must not start a loop — and, for a number with no live offer, one short
 * polite answer a day. The dedupe key is what holds that: a second message with the same key is
 * never written.
 */
export function answerToUnclearReply(p: { patientId: string; liveOfferIds: readonly string[]; today: Date }): { kind: 'help' | 'no_offer'; dedupeKey: string } {
  const [offerId] = [...p.liveOfferIds].sort();
  if (offerId) return { kind: 'help', dedupeKey: `help-offer-${offerId}` };
  return { kind: 'no_offer', dedupeKey: `no-offer-${p.patientId}-${p.today.toISOString().slice(0, 10)}` };
}

/**
 * How long after an offer's slot went a bare YES / NO is still read as the answer to that offer.
 * Texts cross (the "no longer available" text and the patient's YES pass each other) and phones
 * are off overnight; a day later a bare YES is no longer plausibly about that slot.
 */
export const BARE_REPLY_TO_GONE_SLOT_HOURS = 24;

/** An offer of the number a reply came from, as far as a bare reply cares. */
export interface NumberOffer {
  id: string;
  status: OfferStatus | string;
  endedAt: Date | null;
}

/**
 * The offer a bare YES / NO (no code) answers, or null when it answers none (the caller then sends
 * the help text or the polite "no open offer", answerToUnclearReply). `live` are the number's live
 * offers; `latest` is the number's most recently made offer.
 * - Exactly one live offer: that one (CONTRACT.md "SMS").
 * - Two or more: none — which one is meant would be a guess.
 * - None live: the latest offer when its slot went less than BARE_REPLY_TO_GONE_SLOT_HOURS ago —
 *   to another patient (superseded), back to the clinic (withdrawn) or to this patient
 *   (accepted). The reply is then answered as a YES / NO naming that offer is, so the patient
 *   hears "no longer available" once (the text the slot's end already sent) or the confirmation
 *   again, not "no open offer" on top of it. An expired offer is not read this way: its slot may
 *   still be on offer to others, and "no open offer" is the true answer.
 */
export function offerForBareReply(p: { live: readonly NumberOffer[]; latest?: NumberOffer }, now: Date): string | null {
  if (p.live.length > 0) return p.live.length === 1 ? p.live[0].id : null;
  const o = p.latest;
  if (!o || !o.endedAt || !SLOT_GONE.has(o.status)) return null;
  return now.getTime() - o.endedAt.getTime() < BARE_REPLY_TO_GONE_SLOT_HOURS * 3_600_000 ? o.id : null;
}

const SLOT_GONE: ReadonlySet<string> = new Set<OfferStatus>(['superseded', 'withdrawn', 'accepted']);
