/**
 * Reading SIU scheduling messages (S12 booked, S13/S14 rescheduled/modified, S15 cancelled,
 * S17 deleted, S26 no-show) into the fields the exchange uses (CONTRACT.md "HL7 v2 in").
 *
 * `readSiu` is an edge: it returns a typed result for any input and never throws. Errors say which
 * segment and field is wrong, because the trust's interface team reads them from the ACK; they
 * never quote field values, so an error text is safe to log. Trust/facility checks are the
 * adapter's, not ours.
 */
import { Er7Message, Er7Segment, normaliseSegmentEnds, parseEr7 } from './er7';
import { hl7TimestampDigits, parseHl7Timestamp } from './timestamp';

export type SiuEvent = 'S12' | 'S13' | 'S14' | 'S15' | 'S17' | 'S26';
export const SIU_EVENTS: readonly SiuEvent[] = ['S12', 'S13', 'S14', 'S15', 'S17', 'S26'];

/**
 * One error, located as HL7 v2.5 ERR-2 does (segment, its sequence, field, component).
 * `code` is from HL7 table 0357. `field` 0 means the segment as a whole, and `segment` '' means
 * no location at all (e.g. an internal error).
 */
export interface Hl7Error {
  segment: string;
  sequence: number;
  field: number;
  component?: number;
  code: string;
  text: string;
}

/** HL7 table 0357 codes we use. */
export const Hl7ErrorCode = {
  SegmentSequence: '100',
  RequiredFieldMissing: '101',
  DataType: '102',
  TableValueNotFound: '103',
  UnsupportedMessageType: '200',
  InternalError: '207',
} as const;

export interface MessageHeader {
  controlId: string;
  sendingApplication: string;
  sendingFacility: string;
  receivingApplication: string;
  receivingFacility: string;
  messageType: string;
  triggerEvent: string;
  versionId: string;
  processingId: string;
  dateTime: Date | null;
}

export interface SiuMessage {
  header: MessageHeader;
  event: SiuEvent;
  /** SCH-1.1 */
  placerAppointmentId: string | null;
  /** SCH-2.1 (required) */
  fillerAppointmentId: string;
  /** SCH-6.1 */
  eventReason: string | null;
  /** SCH-8.1 (e.g. NEW / FUP) */
  appointmentType: string | null;
  /** AIS-4 wins over SCH-11.4 */
  start: Date;
  /** AIS-7 (AIS-8 units, MIN default, HRS ×60) wins over SCH-9/SCH-10 */
  durationMinutes: number;
  /** AIS-3.1 */
  clinicCode: string;
  /** AIL-3.4 */
  siteOds: string | null;
  /** AIP-3.1 */
  clinicianId: string | null;
  /** PID-3 repetition whose assigning authority (CX.4) is NHS; spaces removed, otherwise as sent */
  patientNhsNumber: string | null;
  otherPatientIds: Array<{ id: string; authority: string }>;
  /** SCH-25.1 */
  fillerStatus: string | null;
}

export type ReadResult =
  | { ok: true; message: SiuMessage }
  | { ok: false; ack: 'AE' | 'AR'; header: Partial<MessageHeader>; error: Hl7Error };

/** The longest appointment we believe; anything longer is a units mistake on the sender's side. */
const MAX_DURATION_MINUTES = 24 * 60;
/** The OID for NHS numbers, which some PAS put in CX.4.2 instead of the namespace "NHS". */
const NHS_NUMBER_OID = '2.16.840.1.113883.2.1.4.1';

/**
 * Reads the MSH of any ER7 text as far as it goes, for echoing in an ACK when the rest of the
 * message cannot be read (or was never looked at). Never throws; absent fields are left out.
 */
export function readMessageHeader(er7: string): Partial<MessageHeader> {
  if (typeof er7 !== 'string') return {};
  const text = prepare(er7);
  // Only the first segment matters, and a damaged body must not stop us echoing MSH-10.
  const cut = text.indexOf('\r');
  const parsed = parseEr7(cut < 0 ? text : text.slice(0, cut));
  if (!parsed.ok) return {};
  const msh = parsed.message.segment('MSH');
  return msh ? headerOf(msh) : {};
}

export function readSiu(er7: string): ReadResult {
  try {
    return readSiuUnsafe(er7);
  } catch {
    // Belt and braces: every path below is written not to throw, but an edge must never let one out.
    return {
      ok: false,
      ack: 'AE',
      header: safeHeader(er7),
      error: { segment: '', sequence: 0, field: 0, code: Hl7ErrorCode.InternalError, text: 'Message could not be processed' },
    };
  }
}

function safeHeader(er7: unknown): Partial<MessageHeader> {
  try {
    return typeof er7 === 'string' ? readMessageHeader(er7) : {};
  } catch {
    return {};
  }
}

/** HTTP bodies arrive with BOMs, leading blank lines and CRLF; none of that is the sender's intent. */
function prepare(er7: string): string {
  return normaliseSegmentEnds(er7.replace(/^\uFEFF/, '').replace(/^[\s]+/, ''));
}

function headerOf(msh: Er7Segment): Partial<MessageHeader> {
  const h: Partial<MessageHeader> = {};
  const set = <K extends keyof MessageHeader>(k: K, v: MessageHeader[K]): void => {
    if (v !== '' && v !== null) h[k] = v;
  };
  set('sendingApplication', msh.getFirstSub(3).trim());
  set('sendingFacility', msh.getFirstSub(4).trim());
  set('receivingApplication', msh.getFirstSub(5).trim());
  set('receivingFacility', msh.getFirstSub(6).trim());
  set('dateTime', parseHl7Timestamp(msh.getFirstSub(7)));
  set('messageType', msh.get(9, 1).trim());
  set('triggerEvent', msh.get(9, 2).trim());
  set('controlId', controlIdOf(msh));
  set('processingId', msh.get(11, 1).trim());
  set('versionId', msh.get(12, 1).trim());
  return h;
}

/**
 * MSH-10 is one string (ST). Sent with components or repetitions (`K^1`, `K~2`), it is kept whole,
 * as sent, so that it is refused under the id its sender knows it by (and echoed so in MSA-2),
 * rather than read as its first component and taken for a resend of `K`.
 */
function controlIdOf(msh: Er7Segment): string {
  return hasParts(msh, 10) ? msh.text(10).trim() : msh.get(10).trim();
}

const hasParts = (s: Er7Segment, field: number): boolean => s.repetitions(field) > 1 || s.components(field) > 1;

function fullHeader(h: Partial<MessageHeader>): MessageHeader {
  return {
    controlId: h.controlId ?? '',
    sendingApplication: h.sendingApplication ?? '',
    sendingFacility: h.sendingFacility ?? '',
    receivingApplication: h.receivingApplication ?? '',
    receivingFacility: h.receivingFacility ?? '',
    messageType: h.messageType ?? '',
    triggerEvent: h.triggerEvent ?? '',
    versionId: h.versionId ?? '',
    processingId: h.processingId ?? '',
    dateTime: h.dateTime ?? null,
  };
}

class Refusal {
  constructor(
    readonly ack: 'AE' | 'AR',
    readonly error: Hl7Error,
  ) {}
}

const at = (segment: string, field: number, code: string, text: string, component?: number): Hl7Error =>
  component === undefined ? { segment, sequence: 1, field, code, text } : { segment, sequence: 1, field, component, code, text };

function readSiuUnsafe(er7: string): ReadResult {
  if (typeof er7 !== 'string') {
    return { ok: false, ack: 'AR', header: {}, error: at('MSH', 0, Hl7ErrorCode.SegmentSequence, 'Not an HL7 message') };
  }
  const parsed = parseEr7(prepare(er7));
  if (!parsed.ok) {
    const { reason, field } = parsed.failure;
    const error =
      reason === 'bad-encoding-characters'
        ? at('MSH', field, Hl7ErrorCode.DataType, `MSH-${field} does not hold valid HL7 encoding characters`)
        : at('MSH', 0, Hl7ErrorCode.SegmentSequence, 'Not an HL7 message: it must start with an MSH segment');
    return { ok: false, ack: 'AR', header: {}, error };
  }
  const msg = parsed.message;
  const msh = msg.segment('MSH') as Er7Segment;
  const header = headerOf(msh);
  const refuse = (r: Refusal): ReadResult => ({ ok: false, ack: r.ack, header, error: r.error });

  const event = header.triggerEvent as SiuEvent | undefined;
  if (header.messageType !== 'SIU' || !event || !SIU_EVENTS.includes(event)) {
    return refuse(
      new Refusal(
        'AR',
        at('MSH', 9, Hl7ErrorCode.UnsupportedMessageType, `Unsupported message type; accepted: ${SIU_EVENTS.map((e) => `SIU^${e}`).join(', ')}`),
      ),
    );
  }
  if (!header.controlId) {
    return refuse(new Refusal('AE', at('MSH', 10, Hl7ErrorCode.RequiredFieldMissing, 'MSH-10 message control id is required')));
  }
  if (hasParts(msh, 10)) {
    return refuse(new Refusal('AE', at('MSH', 10, Hl7ErrorCode.DataType, 'MSH-10 message control id must be one string, without components or repetitions')));
  }
  try {
    return { ok: true, message: readBody(msg, fullHeader(header), event) };
  } catch (e) {
    if (e instanceof Refusal) return refuse(e);
    throw e;
  }
}

function required(msg: Er7Message, name: string, what: string): Er7Segment {
  const s = msg.segment(name);
  if (!s) throw new Refusal('AE', at(name, 0, Hl7ErrorCode.SegmentSequence, `${name} segment (${what}) is required`));
  return s;
}

const orNull = (s: string): string | null => (s.trim() === '' ? null : s.trim());

function readBody(msg: Er7Message, header: MessageHeader, event: SiuEvent): SiuMessage {
  const sch = required(msg, 'SCH', 'schedule activity');
  const ais = required(msg, 'AIS', 'appointment service');
  const ail = msg.segment('AIL');
  const aip = msg.segment('AIP');
  const pid = msg.segment('PID');

  const fillerAppointmentId = sch.get(2, 1).trim();
  if (!fillerAppointmentId) {
    throw new Refusal('AE', at('SCH', 2, Hl7ErrorCode.RequiredFieldMissing, 'SCH-2 filler appointment id is required', 1));
  }
  const clinicCode = ais.get(3, 1).trim();
  if (!clinicCode) {
    throw new Refusal('AE', at('AIS', 3, Hl7ErrorCode.RequiredFieldMissing, 'AIS-3 universal service identifier (clinic code) is required', 1));
  }
  const { nhs, others } = patientIds(pid);
  return {
    header,
    event,
    placerAppointmentId: orNull(sch.get(1, 1)),
    fillerAppointmentId,
    eventReason: orNull(sch.get(6, 1)),
    appointmentType: orNull(sch.get(8, 1)),
    start: startOf(sch, ais),
    durationMinutes: durationOf(sch, ais),
    clinicCode,
    siteOds: ail ? orNull(ail.getFirstSub(3, 4)) : null,
    clinicianId: aip ? orNull(aip.get(3, 1)) : null,
    patientNhsNumber: nhs,
    otherPatientIds: others,
    fillerStatus: orNull(sch.get(25, 1)),
  };
}

const TS_HINT = 'expected YYYYMMDDHHMM[SS][+/-ZZZZ]';

function startOf(sch: Er7Segment, ais: Er7Segment): Date {
  const fromAis = ais.getFirstSub(4, 1).trim();
  if (fromAis) return timestamp(fromAis, () => at('AIS', 4, Hl7ErrorCode.DataType, `AIS-4 start is not a valid HL7 timestamp (${TS_HINT})`, 1));
  const fromSch = sch.getFirstSub(11, 4).trim();
  if (fromSch) {
    return timestamp(fromSch, () => at('SCH', 11, Hl7ErrorCode.DataType, `SCH-11.4 start is not a valid HL7 timestamp (${TS_HINT})`, 4));
  }
  throw new Refusal('AE', at('AIS', 4, Hl7ErrorCode.RequiredFieldMissing, 'Appointment start is required in AIS-4 (or SCH-11.4)', 1));
}

function timestamp(s: string, error: () => Hl7Error): Date {
  // An appointment needs a time of day, so date-only values are refused even though HL7 allows them.
  const d = hl7TimestampDigits(s) >= 12 ? parseHl7Timestamp(s) : null;
  if (!d) throw new Refusal('AE', error());
  return d;
}

const MINUTE_UNITS = new Set(['', 'MIN', 'MINS', 'MINUTE', 'MINUTES', 'M']);
const HOUR_UNITS = new Set(['H', 'HR', 'HRS', 'HOUR', 'HOURS']);

function durationOf(sch: Er7Segment, ais: Er7Segment): number {
  const fromAis = ais.get(7, 1).trim();
  if (fromAis) return minutes(fromAis, ais.get(8, 1), 'AIS', 7, 8);
  const fromSch = sch.get(9, 1).trim();
  if (fromSch) return minutes(fromSch, sch.get(10, 1), 'SCH', 9, 10);
  throw new Refusal('AE', at('AIS', 7, Hl7ErrorCode.RequiredFieldMissing, 'Appointment duration is required in AIS-7 (or SCH-9)'));
}

function minutes(value: string, unitsRaw: string, segment: string, field: number, unitsField: number): number {
  if (!/^\d{1,6}(\.\d{1,6})?$/.test(value)) {
    throw new Refusal('AE', at(segment, field, Hl7ErrorCode.DataType, `${segment}-${field} duration must be a positive number`));
  }
  const units = unitsRaw.trim().toUpperCase();
  let factor: number;
  if (MINUTE_UNITS.has(units)) factor = 1;
  else if (HOUR_UNITS.has(units)) factor = 60;
  else {
    throw new Refusal(
      'AE',
      at(segment, unitsField, Hl7ErrorCode.TableValueNotFound, `${segment}-${unitsField} duration units must be MIN or HRS`, 1),
    );
  }
  const total = Math.round(Number(value) * factor);
  if (!(total >= 1 && total <= MAX_DURATION_MINUTES)) {
    throw new Refusal('AE', at(segment, field, Hl7ErrorCode.DataType, `${segment}-${field} duration must be between 1 minute and 24 hours`));
  }
  return total;
}

function patientIds(pid: Er7Segment | undefined): { nhs: string | null; others: Array<{ id: string; authority: string }> } {
  let nhs: string | null = null;
  const others: Array<{ id: string; authority: string }> = [];
  if (!pid) return { nhs, others };
  const n = pid.repetitions(3);
  for (let r = 0; r < n; r++) {
    const id = pid.get(3, 1, r).trim();
    if (!id) continue;
    const authority = pid.getFirstSub(3, 4, r).trim();
    // CX.4 is an HD: its namespace is "NHS" by the contract, but some systems send only the OID,
    // and some only the identifier type NH (CX.5) with no authority at all.
    const universalId = pid.getSub(3, 4, 2, r).trim();
    const isNhs =
      authority.toUpperCase() === 'NHS' || universalId === NHS_NUMBER_OID || (authority === '' && pid.get(3, 5, r).trim().toUpperCase() === 'NH');
    if (isNhs && nhs === null) nhs = id.replace(/\s+/g, '');
    else others.push({ id, authority: authority || (isNhs ? 'NHS' : '') });
  }
  return { nhs, others };
}
