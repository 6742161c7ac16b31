import 'reflect-metadata';
/**
 * HTTP contract between a trust adapter and the slot exchange (`/v1/trusts/:ods/...`). Every
 * route is scoped to the trust whose token is presented.
 */
import { PTL_ID_MAX_LENGTH, PTL_LIST_MAX_ITEMS, PTL_MAX_YEAR, PTL_MIN_YEAR, controlCharacterIn, isPtlYear, utcDate } from '@app/domain';
import { Type, plainToInstance } from 'class-transformer';
import { NoControlCharacters } from './text';
import {
  ArrayMaxSize, ArrayMinSize, IsArray, IsBoolean, IsDateString, IsIn, IsInt, IsNumber, IsObject, IsOptional, IsString, Length, Matches, Max, Min, ValidateBy, ValidateNested, ValidationOptions, buildMessage, validateSync,
} from 'class-validator';

export type SlotEventKind = 'slot-released' | 'slot-withdrawn' | 'appointment-booked' | 'appointment-moved' | 'no-show';
export const SLOT_EVENT_KINDS: SlotEventKind[] = ['slot-released', 'slot-withdrawn', 'appointment-booked', 'appointment-moved', 'no-show'];

export class ClinicConstraintsDto {
  @IsOptional() @IsInt() @Min(0) @Max(130) minAgeYears?: number;
  @IsOptional() @IsInt() @Min(0) @Max(130) maxAgeYears?: number;
  @IsOptional() @IsIn(['M', 'F']) sex?: 'M' | 'F';
}

/**
 * On the DTOs a trust adapter posts to the exchange: a field this exchange does not know (sent by an
 * adapter of a newer release, during a rolling release) is dropped rather than refused, so the
 * adapter's messages are not refused for good (the validation pipe in @app/platform reads it).
 * Also on GOV.UK Notify's callbacks (the notifier), whose fields Notify may add to.
 */
export function ToleratesNewerSenders(): ClassDecorator {
  return (target) => {
    Object.defineProperty(target, Symbol.for('ics-slot-exchange.tolerates-newer-senders'), { value: true });
  };
}

/** The longest identifier (control id, appointment ids, clinician, clinic) a slot event carries. */
export const SLOT_EVENT_ID_MAX_LENGTH = 64;
/** The longest event reason (SCH-6) a slot event carries. */
export const SLOT_EVENT_REASON_MAX_LENGTH = 80;

/** A canonical scheduling event, mapped by the adapter from one accepted SIU message. */
@ToleratesNewerSenders()
export class SlotEventDto {
  /** The adapter's id of the stored inbound message: the exchange processes each id once. */
  @IsString() @Length(1, SLOT_EVENT_ID_MAX_LENGTH) eventId: string;
  @IsIn(SLOT_EVENT_KINDS) kind: SlotEventKind;
  @IsString() @Length(1, SLOT_EVENT_ID_MAX_LENGTH) controlId: string;
  @IsString() @Matches(/^[A-Z0-9]{5}$/) siteOds: string;
  @IsString() @Length(1, SLOT_EVENT_ID_MAX_LENGTH) clinicCode: string;
  @IsString() @Matches(/^\d{3}$/) tfc: string;
  @IsIn(['NEW', 'FUP']) appointmentType: 'NEW' | 'FUP';
  @IsDateString() start: string;
  @IsInt() @Min(1) @Max(24 * 60) durationMinutes: number;
  @IsString() @Length(1, SLOT_EVENT_ID_MAX_LENGTH) fillerAppointmentId: string;
  @IsOptional() @IsString() @Length(1, SLOT_EVENT_ID_MAX_LENGTH) placerAppointmentId?: string;
  @IsOptional() @IsString() @Length(1, SLOT_EVENT_ID_MAX_LENGTH) clinicianId?: string;
  @IsOptional() @IsString() @Matches(/^\d{10}$/) patientNhsNumber?: string;
  @IsOptional() @IsString() @Length(0, SLOT_EVENT_REASON_MAX_LENGTH) eventReason?: string;
  /**
   * The SIU trigger event (MSH-9.2, e.g. `S13` reschedule, `S14` modification) the event was
   * mapped from: `appointment-moved` carries both, and only a reschedule of an appointment the
   * exchange knows nothing of is taken as a move into a freed slot's time. Absent from older
   * adapters (then treated as a reschedule, as before the field).
   */
  @IsOptional() @IsString() @Matches(/^S\d{2}$/) trigger?: string;
  @IsOptional() @ValidateNested() @Type(() => ClinicConstraintsDto) constraints?: ClinicConstraintsDto;
}

/**
 * What the exchange would refuse in this event (`POST /events` validates it with these same
 * rules): each field it breaks, with class-validator's words (which quote no values). Empty when
 * the exchange will take it. The adapter asks before it ACKs a message, so that a message the
 * exchange can never take is refused to its sender (AE) instead of accepted and then lost.
 */
export function slotEventProblems(event: SlotEventDto): Array<{ field: string; problem: string }> {
  const flatten = (errors: ReturnType<typeof validateSync>, prefix: string): Array<{ field: string; problem: string }> =>
    errors.flatMap((e) => [
      ...Object.values(e.constraints ?? {}).map((problem) => ({ field: `${prefix}${e.property}`, problem })),
      ...flatten(e.children ?? [], `${prefix}${e.property}.`),
    ]);
  return flatten(validateSync(plainToInstance(SlotEventDto, event), { whitelist: false }), '');
}

/** Most events in one `POST /events/batch`. */
export const SLOT_EVENT_BATCH_MAX = 200;

/** One event of a batch, with the W3C `traceparent` of the message it came from (one freed slot stays one trace). */
export class SlotEventBatchItemDto extends SlotEventDto {
  @IsOptional() @IsString() @Matches(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/) traceparent?: string;
}

/**
 * Several events from one adapter's forward worker in one request (internal to the ICS): applied
 * in order, in one transaction, each once per event id as `POST /events` would.
 */
@ToleratesNewerSenders()
export class SlotEventBatchDto {
  @IsArray() @ArrayMinSize(1) @ArrayMaxSize(SLOT_EVENT_BATCH_MAX) @ValidateNested({ each: true }) @Type(() => SlotEventBatchItemDto)
  events: SlotEventBatchItemDto[];
}

/** An event of a batch that the exchange refused on its own (e.g. a site of another trust), as `POST /events` would answer 4xx. */
export interface SlotEventRefusal {
  eventId: string;
  refused: { status: number; error: string; message: string };
}

/** One answer per event, in the batch's order. */
export interface SlotEventBatchResult {
  results: Array<SlotEventResult | SlotEventRefusal>;
}

/**
 * What the exchange did with one event: `withdrawn` a freed slot closed (S17, or S12/S13/S14
 * putting an appointment into its time in the PAS); `appointment-updated` patients' current
 * appointments filled or moved (S12/S13/S14); `echo` our own write-back coming back, recognised and
 * not acted on again; `recorded` kept only (a no-show, or nothing of ours was affected).
 */
export interface SlotEventResult {
  eventId: string;
  outcome: 'slot-created' | 'too-late' | 'duplicate' | 'recorded' | 'ignored' | 'withdrawn' | 'appointment-updated' | 'echo';
  slotId?: string;
  /** Waiting-list entries whose current appointment this event changed. */
  entriesUpdated?: number;
}

/**
 * The columnar form's rules for PTL dates (`isDay`, `isInstant`: real calendar days in the years
 * the adapter's row reader takes) on the object-rows form too, so that a row refused in one form
 * is not stored from the other. Looked up when a value is checked: the rules are defined below.
 */
function PtlDate(kind: 'day' | 'instant', options?: ValidationOptions): PropertyDecorator {
  return ValidateBy({
    name: kind === 'day' ? 'ptlDay' : 'ptlInstant',
    validator: {
      validate: (v: unknown) => (kind === 'day' ? isDay(v) : isInstant(v)),
      defaultMessage: buildMessage((each) => `${each}$property must be ${kind === 'day' ? DAY_RULE : INSTANT_RULE}`, options),
    },
  }, options);
}

export class UnavailablePeriodDto {
  @PtlDate('instant') from: string;
  @PtlDate('instant') to: string;
}

/** One validated PTL row, as the adapter parsed it. */
export class WaitingListRowDto {
  @IsInt() @Min(1) rowNumber: number;
  @IsString() @Length(1, PTL_ID_MAX_LENGTH) @NoControlCharacters() pathwayId: string;
  @IsString() @Matches(/^\d{10}$/) nhsNumber: string;
  @PtlDate('day') birthDate: string;
  @IsString() @Matches(/^\d{3}$/) tfc: string;
  @IsIn(['NEW', 'FUP']) appointmentType: 'NEW' | 'FUP';
  @PtlDate('day') rttStart: string;
  @IsIn(['P1a', 'P1b', 'P2', 'P3', 'P4']) priority: 'P1a' | 'P1b' | 'P2' | 'P3' | 'P4';
  @IsOptional() @IsString() @Matches(/^\+447\d{9}$/) mobile?: string | null;
  @IsOptional() @IsString() @Length(0, 10) @NoControlCharacters() postcode?: string | null;
  @IsOptional() @IsIn(['M', 'F', 'U']) sex?: 'M' | 'F' | 'U' | null;
  @IsOptional() @PtlDate('instant') currentAppointmentStart?: string | null;
  @IsOptional() @IsString() @Length(1, PTL_ID_MAX_LENGTH) @NoControlCharacters() currentAppointmentId?: string | null;
  @IsBoolean() offerConsent: boolean;
  @IsBoolean() icsWideConsent: boolean;
  /** `['ANY']` or site ODS codes. */
  @IsArray() @ArrayMaxSize(PTL_LIST_MAX_ITEMS) @IsString({ each: true }) @NoControlCharacters({ each: true }) acceptableSites: string[];
  @IsOptional() @IsNumber() @Min(0) maxTravelKm?: number | null;
  @IsArray() @ArrayMaxSize(PTL_LIST_MAX_ITEMS) @ValidateNested({ each: true }) @Type(() => UnavailablePeriodDto) unavailable: UnavailablePeriodDto[];
}

/**
 * The rows of one batch as one array per field (row i is index i of every array): the form the
 * adapter sends. A PTL snapshot is hundreds of thousands of rows; checking one nested object per
 * row with class-validator cost the exchange more than storing them, so these are checked by
 * `checkWaitingListColumns` instead, to the same rules as `WaitingListRowDto`.
 */
export interface WaitingListColumns {
  rowNumber: number[];
  pathwayId: string[];
  nhsNumber: string[];
  birthDate: string[];
  tfc: string[];
  appointmentType: Array<'NEW' | 'FUP'>;
  rttStart: string[];
  priority: Array<'P1a' | 'P1b' | 'P2' | 'P3' | 'P4'>;
  mobile: Array<string | null>;
  postcode: Array<string | null>;
  sex: Array<'M' | 'F' | 'U' | null>;
  currentAppointmentStart: Array<string | null>;
  currentAppointmentId: Array<string | null>;
  offerConsent: boolean[];
  icsWideConsent: boolean[];
  /** Per row `['ANY']` or site codes (none containing `;`). */
  acceptableSites: string[][];
  maxTravelKm: Array<number | null>;
  unavailable: Array<Array<{ from: string; to: string }>>;
}

export const MAX_BATCH_ROWS = 10_000;

export class WaitingListBatchDto {
  @IsIn(['delta', 'snapshot']) mode: 'delta' | 'snapshot';
  /** For snapshots: the import this batch belongs to (from `POST .../waiting-list/snapshots`). */
  @IsOptional() @IsString() @NoControlCharacters() snapshotId?: string;
  /** One object per row (at most 5,000); or `columns` instead. */
  @IsOptional() @IsArray() @ArrayMaxSize(5000) @ValidateNested({ each: true }) @Type(() => WaitingListRowDto) rows?: WaitingListRowDto[];
  /** The same rows column by column (at most `MAX_BATCH_ROWS`), checked by `checkWaitingListColumns`. */
  @IsOptional() @IsObject() columns?: WaitingListColumns;
}

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
const INSTANT = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;
const isDay = (v: unknown): boolean => {
  if (typeof v !== 'string') return false;
  const m = DAY.exec(v);
  if (!m) return false;
  // A calendar day (Date.parse alone lets 2026-02-30 through) in the years the adapter's row reader
  // takes too (utcDate, not Date.UTC, which reads years 0-99 as 19xx).
  const d = utcDate(+m[1], +m[2], +m[3]);
  return d !== null && isPtlYear(d);
};
const isInstant = (v: unknown): boolean => typeof v === 'string' && INSTANT.test(v) && isDay(v.slice(0, 10)) && !Number.isNaN(Date.parse(v));
const matches = (re: RegExp) => (v: unknown): boolean => typeof v === 'string' && re.test(v);
const oneOf = (...values: unknown[]) => (v: unknown): boolean => values.includes(v);
const text = (min: number, max: number) => (v: unknown): boolean => typeof v === 'string' && v.length >= min && v.length <= max && controlCharacterIn(v) === null;
const orNull = (f: (v: unknown) => boolean) => (v: unknown): boolean => v === null || f(v);
const listOf = (max: number, f: (v: unknown) => boolean) => (v: unknown): boolean => Array.isArray(v) && v.length <= max && v.every(f);

const DAY_RULE = `a date YYYY-MM-DD in the years ${PTL_MIN_YEAR} to ${PTL_MAX_YEAR}`;
const INSTANT_RULE = `an ISO 8601 date-time in the years ${PTL_MIN_YEAR} to ${PTL_MAX_YEAR}`;

/** Each column with its rule (the same as `WaitingListRowDto`'s) and what to say when a value breaks it. */
const COLUMN_RULES: ReadonlyArray<[keyof WaitingListColumns, (v: unknown) => boolean, string]> = [
  ['rowNumber', (v) => Number.isInteger(v) && (v as number) >= 1, 'an integer ≥ 1'],
  ['pathwayId', text(1, PTL_ID_MAX_LENGTH), `a string of 1 to ${PTL_ID_MAX_LENGTH} characters, none a control character`],
  ['nhsNumber', matches(/^\d{10}$/), '10 digits'],
  ['birthDate', isDay, DAY_RULE],
  ['tfc', matches(/^\d{3}$/), '3 digits'],
  ['appointmentType', oneOf('NEW', 'FUP'), 'NEW or FUP'],
  ['rttStart', isDay, DAY_RULE],
  ['priority', oneOf('P1a', 'P1b', 'P2', 'P3', 'P4'), 'one of P1a, P1b, P2, P3, P4'],
  ['mobile', orNull(matches(/^\+447\d{9}$/)), 'null or +447 and 9 digits'],
  ['postcode', orNull(text(0, 10)), 'null or a string of at most 10 characters, none a control character'],
  ['sex', oneOf('M', 'F', 'U', null), 'null or one of M, F, U'],
  ['currentAppointmentStart', orNull(isInstant), `null or ${INSTANT_RULE}`],
  ['currentAppointmentId', orNull(text(1, PTL_ID_MAX_LENGTH)), `null or a string of 1 to ${PTL_ID_MAX_LENGTH} characters, none a control character`],
  ['offerConsent', (v) => typeof v === 'boolean', 'a boolean'],
  ['icsWideConsent', (v) => typeof v === 'boolean', 'a boolean'],
  ['acceptableSites', listOf(PTL_LIST_MAX_ITEMS, matches(/^[^;\u0000-\u001F\u007F]{1,64}$/)), `a list of at most ${PTL_LIST_MAX_ITEMS} site codes (1 to 64 characters, no ';' or control character)`],
  ['maxTravelKm', (v) => v === null || (typeof v === 'number' && Number.isFinite(v) && v >= 0), 'null or a number ≥ 0'],
  ['unavailable', listOf(PTL_LIST_MAX_ITEMS, (p) => typeof p === 'object' && p !== null && isInstant((p as { from?: unknown }).from) && isInstant((p as { to?: unknown }).to) && Object.keys(p).length === 2),
    `a list of at most ${PTL_LIST_MAX_ITEMS} {from, to} ISO 8601 date-times in the years ${PTL_MIN_YEAR} to ${PTL_MAX_YEAR}`],
];
const COLUMN_NAMES = new Set<string>(COLUMN_RULES.map(([name]) => name));

/**
 * Every problem with a columnar batch (empty when it can be stored): a missing, unknown or
 * unequal-length column, or a value breaking its column's rule, named by column and index. Stops
 * listing after `limit` problems, so a wholly wrong batch still gets a short answer.
 */
export function checkWaitingListColumns(columns: unknown, limit = 20): string[] {
  if (typeof columns !== 'object' || columns === null || Array.isArray(columns)) return ['columns must be an object of arrays'];
  const c = columns as Record<string, unknown>;
  const problems = Object.keys(c).filter((k) => !COLUMN_NAMES.has(k)).map((k) => `columns.${k} is not a known column`);
  const n = Array.isArray(c.rowNumber) ? c.rowNumber.length : -1;
  if (n > MAX_BATCH_ROWS) return [`columns hold ${n} rows; at most ${MAX_BATCH_ROWS} per batch`];
  for (const [name, ok, what] of COLUMN_RULES) {
    const values = c[name];
    if (!Array.isArray(values)) problems.push(`columns.${name} must be an array`);
    else if (values.length !== n) problems.push(`columns.${name} has ${values.length} values; columns.rowNumber has ${n}`);
    else {
      for (let i = 0; i < values.length && problems.length < limit; i++) {
        if (!ok(values[i])) problems.push(`columns.${name}[${i}] must be ${what}`);
      }
    }
    if (problems.length >= limit) break;
  }
  return problems.slice(0, limit);
}

/** One object per row, as columns (the exchange stores both forms one way). */
export function rowsToColumns(rows: WaitingListRowDto[]): WaitingListColumns {
  const pick = <K extends keyof WaitingListRowDto>(k: K) => rows.map((r) => r[k]);
  const orNullValue = <K extends keyof WaitingListRowDto>(k: K) => rows.map((r) => r[k] ?? null);
  return {
    rowNumber: pick('rowNumber'), pathwayId: pick('pathwayId'), nhsNumber: pick('nhsNumber'), birthDate: pick('birthDate'), tfc: pick('tfc'),
    appointmentType: pick('appointmentType'), rttStart: pick('rttStart'), priority: pick('priority'),
    mobile: orNullValue('mobile'), postcode: orNullValue('postcode'), sex: orNullValue('sex'),
    currentAppointmentStart: orNullValue('currentAppointmentStart'), currentAppointmentId: orNullValue('currentAppointmentId'),
    offerConsent: pick('offerConsent'), icsWideConsent: pick('icsWideConsent'), acceptableSites: pick('acceptableSites'),
    maxTravelKm: orNullValue('maxTravelKm'), unavailable: rows.map((r) => r.unavailable.map((u) => ({ from: u.from, to: u.to }))),
  };
}

export interface WaitingListBatchResult {
  applied: number;
}

/**
 * `POST .../waiting-list/snapshots/:id/complete`. An empty body closes every open entry the
 * snapshot's batches did not list. The adapter also says what the file held beyond its good rows:
 * the pathways of rows it rejected (listed in the file, so not closed: their entries stay as they
 * were), and, when the file cannot be trusted to be the whole list, why nothing is to be closed.
 */
export class SnapshotCompleteDto {
  /** Data rows in the file, and how many of them were rejected (kept on the import record). */
  @IsOptional() @IsInt() @Min(0) rows?: number;
  @IsOptional() @IsInt() @Min(0) rejected?: number;
  /** Pathways whose rows were in the file but rejected. Bounded by the adapter's rejected-share limit. */
  @IsOptional() @IsArray() @ArrayMaxSize(1_000_000) @IsString({ each: true }) @Length(1, PTL_ID_MAX_LENGTH, { each: true }) @NoControlCharacters({ each: true })
  rejectedPathwayIds?: string[];
  /** Set when nothing is to be closed, with the reason the booking team reads on the import record. */
  @IsOptional() @IsString() @Length(1, 500) @NoControlCharacters() closingWithheld?: string;
}

export interface SnapshotResult {
  snapshotId: string;
  closed: number;
  deferred: number;
  /** Why this snapshot closed nothing, when it withheld closing. */
  closingWithheld?: string;
}

export type WritebackKind = 'book' | 'cancel';

/** What the adapter needs to write one booking or cancellation to its PAS. */
export interface WritebackOrder {
  id: string;
  kind: WritebackKind;
  trustOds: string;
  bookingId: string;
  attempt: number;
  status: 'pending' | 'succeeded' | 'failed';
  /** For `book`: the slot being booked. For `cancel`: the patient's old appointment. */
  appointment: {
    start: string;
    durationMinutes: number | null;
    clinicCode: string | null;
    siteOds: string | null;
    clinicianId: string | null;
    pasAppointmentId: string | null;
  };
  patient: { nhsNumber: string };
}

@ToleratesNewerSenders()
export class WritebackOutcomeDto {
  @IsIn(['succeeded', 'failed']) outcome: 'succeeded' | 'failed';
  /** The PAS's id of the appointment booked (for `book`). */
  @IsOptional() @IsString() @Length(1, 128) pasAppointmentId?: string;
  /** A failure that retrying will not fix (e.g. the PAS refused the booking). */
  @IsOptional() @IsBoolean() permanent?: boolean;
  @IsOptional() @IsString() @Length(0, 500) reason?: string;
  /**
   * For a failed `book`: whether the PAS may hold the appointment all the same (a try went
   * unanswered: a timeout, a cut connection, a 5xx; and the PAS could not be asked since). `true`
   * is kept until a final outcome says otherwise; `false`, on a final failure, that the PAS was
   * searched and holds nothing; absent, no news (adapters that predate it send none). A booking
   * failed with it true is not offered again: its slot may be held in the PAS.
   */
  @IsOptional() @IsBoolean() pasMayHold?: boolean;
}

/** A transfer record's place in the delivery order (`<transaction>.<sequence>`); opaque to callers. */
export const TRANSFER_CURSOR = /^\d{1,19}\.\d{1,18}$/;

/** `GET /v1/trusts/:ods/transfers`: paging through the IPT records of which `:ods` is the receiver. */
export class TransferListQueryDto {
  /**
   * Only records after this one: the `cursor` of the last record seen. The way to poll: each
   * record is delivered exactly once, in the order of the transactions that wrote them (by
   * transaction id, then within one; a record is listed only once every older transaction has
   * ended), however many are written at once or however their transactions interleave.
   */
  @IsOptional() @IsString() @Matches(TRANSFER_CURSOR, { message: 'after must be the cursor of a transfer record' }) after?: string;
  /**
   * Only records created after this instant (microseconds count: pass a `createdAt` as given).
   * Kept for callers that page by time; a transfer whose transaction began before another's but
   * committed after it can sort behind a `since` already passed, so poll with `after` instead.
   */
  @IsOptional() @IsDateString() since?: string;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000) limit?: number;
}

/** An inter-provider transfer: the pathway a patient brings to the receiving trust. */
export interface TransferRecord {
  id: string;
  bookingId: string;
  sendingTrustOds: string;
  receivingTrustOds: string;
  /** The sending trust's pathway id (PATIENT_PATHWAY_IDENTIFIER), specialty and appointment type. */
  referral: { pathwayId: string; tfc: string; appointmentType: 'NEW' | 'FUP' };
  priority: 'P1a' | 'P1b' | 'P2' | 'P3' | 'P4';
  /** RTT clock start carried over from the sending trust (`YYYY-MM-DD`): the wait does not restart. */
  rttStart: string;
  /** The booked appointment in the receiving trust's PAS. */
  appointment: { start: string; pasAppointmentId: string };
  patient: { nhsNumber: string };
  /** When the booking service wrote it, to the microsecond (ISO 8601, UTC). */
  createdAt: string;
  /** Pass the last record's cursor back as `after` to get the records after it. */
  cursor: string;
}
