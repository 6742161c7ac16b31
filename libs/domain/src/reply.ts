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
  /** Whether the offer's own text reached Notify (sent or delivered): without it the patient never saw the offer. */
  offerTextSent?: boolean;
  /**
   * The status of the text that told the patient the offer ended (its `ended-<offer id>` message:
   * "no longer available", "expired"), null or absent when none was written.
   */
  endedText?: string | null;
  /** Its booking's status, for an accepted offer. */
  bookingStatus?: string | null;
}

/**
 * What a YES / NO gets (answerToBareReply, answerToEndedOfferReply):
 * - `offer`: answered as the same reply naming that offer with its code is (claim, decline, the
 *   confirmation again, or its "no longer available" written now);
 * - `told`: nothing new, for the patient has just been told exactly what this reply would get, or
 *   will be (their booking's confirmation); `outcome` names the reply's outcome;
 * - `help`: the help text, or for a number with no live offer the polite answer (answerToUnclearReply).
 */
export type ReplyAnswer =
  | { kind: 'offer'; offerId: string }
  | { kind: 'told'; offerId: string; outcome: 'too-late' | 'repeat-yes' | 'decline-of-ended-offer' }
  | { kind: 'help' };

/**
 * A "no longer available" text that went, or is on its way: queued texts about an ended offer are
 * sent when the offer's own text was (the sender skips them otherwise), so with `offerTextSent`
 * a queued one reaches the patient.
 */
const TOLD: ReadonlySet<string> = new Set(['queued', 'sent', 'delivered']);

/**
 * The answer to a bare YES / NO (no code). Every bare reply gets exactly one answer, unless the
 * patient has just been told precisely what it would get.
 * - Exactly one live offer of the number: that one (CONTRACT.md "SMS"). Two or more: help, since
 *   which one is meant would be a guess.
 * - None live: read against the number's most recently ENDED offer (`ended`: the number's ended
 *   offers, in any order; not the one made last — on a shared number a sibling's offer made later
 *   may have ended earlier), if it ended less than BARE_REPLY_TO_GONE_SLOT_HOURS ago, as
 *   answerToEndedOfferReply has it for a bare reply; with none in that window, help.
 */
export function answerToBareReply(p: { intent: 'yes' | 'no'; live: readonly NumberOffer[]; ended: readonly NumberOffer[] }, now: Date): ReplyAnswer {
  if (p.live.length > 0) return p.live.length === 1 ? { kind: 'offer', offerId: p.live[0].id } : { kind: 'help' };
  const windowStart = now.getTime() - BARE_REPLY_TO_GONE_SLOT_HOURS * 3_600_000;
  const last = p.ended
    .filter((o) => o.endedAt && o.endedAt.getTime() > windowStart)
    .reduce<NumberOffer | undefined>((a, o) => (!a || o.endedAt!.getTime() > a.endedAt!.getTime() || (o.endedAt!.getTime() === a.endedAt!.getTime() && o.id < a.id) ? o : a), undefined);
  return last ? answerToEndedOfferReply({ intent: p.intent, offer: last, named: false }) : { kind: 'help' };
}

/**
 * The answer to a YES / NO about an offer that has ended: one its code names (`named`: "YES 4821",
 * or a click on its page), or the one a bare reply is read against (answerToBareReply). Exactly one
 * answer, unless the patient has just been told precisely what it would get.
 * - A NO: a NO changes nothing about an offer that has ended (CONTRACT.md has no cancelling a
 *   booking by SMS). When the offer was accepted and its booking is still pending, `told`
 *   ('decline-of-ended-offer'): the booking's outcome (confirmation or "could not book") is on its
 *   way, and "no open offer" would contradict it ("YES 4821" then "NO 4821" in one batch: the YES
 *   claims before the NO is read). Otherwise help: the help text while the number holds another
 *   live offer ("a code that matches no live offer of that number"), else the polite answer.
 * - A YES for an offer its patient accepted: `offer` once the booking is confirmed (the
 *   confirmation again); while it is pending, `told` (its outcome is on its way, and "no open
 *   offer" would contradict it); after it failed ("could not book"), help, not silence.
 * - A YES for an offer that ended otherwise is answered by the text that tells its patient it ended
 *   (`ended-<offer id>`: "no longer available", "expired"): `told` when that went or is on its way,
 *   so they do not hear it twice nor "no open offer" on top (texts cross: their YES passed it);
 *   `offer` when none was ever written (the reply's answer writes it); help when it was skipped or
 *   failed, since then nothing told them. A bare YES is read so only after the slot went
 *   (superseded, withdrawn) and the patient saw the offer (`offerTextSent`); after any other end
 *   (expired, declined, undeliverable) its slot may still be on offer to others, and "no open
 *   offer" is the true answer. A named YES needs neither: its code shows the offer text reached
 *   them (one still being recorded as sent, too), and the sender's own check of `offerTextSent`
 *   decides a queued one.
 */
export function answerToEndedOfferReply(p: { intent: 'yes' | 'no'; offer: NumberOffer; named: boolean }): ReplyAnswer {
  const o = p.offer;
  const help: ReplyAnswer = { kind: 'help' };
  if (p.intent === 'no') return o.status === 'accepted' && o.bookingStatus === 'pending' ? { kind: 'told', offerId: o.id, outcome: 'decline-of-ended-offer' } : help;
  if (o.status === 'accepted') {
    if (o.bookingStatus === 'confirmed') return { kind: 'offer', offerId: o.id };
    return o.bookingStatus === 'pending' ? { kind: 'told', offerId: o.id, outcome: 'repeat-yes' } : help;
  }
  if (!p.named && (!SLOT_GONE.has(o.status) || !o.offerTextSent)) return help;
  if (o.endedText == null) return { kind: 'offer', offerId: o.id };
  return TOLD.has(o.endedText) ? { kind: 'told', offerId: o.id, outcome: 'too-late' } : help;
}

/** Ends of an offer after which a bare YES is read as "that slot, please": its slot has gone. */
const SLOT_GONE: ReadonlySet<string> = new Set<OfferStatus>(['superseded', 'withdrawn']);
