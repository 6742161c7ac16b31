/**
 * Original-mode HL7 ACKs: building ours (for MLLP and `POST /hl7`) and reading the code out of
 * the ones we receive (the PAS sandbox and tests talk to adapters as a trust would).
 *
 * `buildAck` sits on the server's error path, so it never throws: every value is escaped and an
 * invalid `now` leaves MSH-7 empty rather than losing the reply.
 */
import { escapeEr7, normaliseSegmentEnds, parseEr7 } from './er7';
import { Hl7ErrorCode, type Hl7Error, type MessageHeader } from './siu';
import { formatHl7Timestamp } from './timestamp';

export type AckCode = 'AA' | 'AE' | 'AR';

/**
 * The ERR of an `AR` for a message we could not take through no fault of its content: our database
 * down or refusing the insert, a handler failing. HL7 table 0357 code 207 (application internal
 * error). AR, not AE: AE tells the sender to fix the content, so integration engines park the
 * message instead of resending it, and a freed slot would be lost; AR (rejected, nothing kept) is
 * what engines resend, and a resend with the same MSH-10 is judged afresh. No detail of the failure
 * is given: it may quote the message, and the sender cannot act on it.
 */
export const NOT_STORED_ERROR: Hl7Error = {
  segment: '',
  sequence: 0,
  field: 0,
  code: Hl7ErrorCode.InternalError,
  text: 'Message could not be stored; send it again',
};

export interface BuildAckOptions {
  header: Partial<MessageHeader>;
  code: AckCode;
  error?: Hl7Error;
  /** MSA-3; defaults to the error's text. */
  textMessage?: string;
  now: Date;
  ackControlId: string;
}

const DEFAULT_VERSION = '2.5.1';
/** MSA-3 is ST(80) in v2.5; receivers may truncate or reject longer. */
const MSA_TEXT_MAX = 80;

export function buildAck(opts: BuildAckOptions): string {
  const { header: h, code, error } = opts;
  const e = (v: string | undefined): string => escapeEr7(String(v ?? ''));
  let now = '';
  try {
    now = formatHl7Timestamp(opts.now);
  } catch {
    now = '';
  }
  const messageType = h.triggerEvent ? `ACK^${e(h.triggerEvent)}^ACK` : 'ACK';
  const msh = [
    'MSH',
    '^~\\&',
    e(h.receivingApplication),
    e(h.receivingFacility),
    e(h.sendingApplication),
    e(h.sendingFacility),
    now,
    '',
    messageType,
    e(opts.ackControlId),
    e(h.processingId || 'P'),
    e(h.versionId || DEFAULT_VERSION),
  ].join('|');
  const text = (opts.textMessage ?? error?.text ?? '').slice(0, MSA_TEXT_MAX);
  const msa = ['MSA', code, e(h.controlId), e(text)].join('|');
  const segments = [msh, msa];
  if (error) {
    segments.push(['ERR', '', errorLocation(error), `${e(error.code)}^${e(error.text)}^HL70357`, 'E'].join('|'));
  }
  return segments.join('\r');
}

/** ERR-2 (ERL): SEG^sequence^field^repetition^component; field 0 means the segment itself. */
function errorLocation(err: Hl7Error): string {
  if (!err.segment) return '';
  const parts = [escapeEr7(err.segment), String(err.sequence || 1)];
  if (err.field > 0) {
    parts.push(String(err.field));
    if (err.component !== undefined && err.component > 0) parts.push('1', String(err.component));
  }
  return parts.join('^');
}

/** MSA-1, MSA-2 and a human text (MSA-3, else ERR-3.2) from an ACK; null if there is no MSA. */
export function readAck(er7: string): { code: string; controlId: string; text: string } | null {
  if (typeof er7 !== 'string') return null;
  const parsed = parseEr7(normaliseSegmentEnds(er7.replace(/^\uFEFF/, '').trimStart()));
  if (!parsed.ok) return null;
  const msa = parsed.message.segment('MSA');
  if (!msa) return null;
  const code = msa.get(1).trim();
  if (!code) return null;
  const err = parsed.message.segment('ERR');
  return { code, controlId: msa.get(2).trim(), text: msa.get(3).trim() || (err?.get(3, 2).trim() ?? '') };
}
