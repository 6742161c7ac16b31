/**
 * Reading one row of a trust's Patient Tracking List (CONTRACT.md "Waiting list in (PTL)"),
 * columns named as in the national Waiting List Minimum Data Set. A row is either turned into a
 * clean `PtlRow` or rejected with every reason at once, so the trust's integration team can fix
 * a row in one go. Reasons name the column but never echo personal data (NHS number, birth date,
 * phone, postcode): they are returned over HTTP and end up in logs.
 */
import { AppointmentType, isAppointmentType } from './appointment-type';
import { PTL_MAX_YEAR, PTL_MIN_YEAR, isPtlYear, parseIsoDate, utcDate } from './dates';
import { normaliseUkMobile } from './mobile';
import { normaliseNhsNumber } from './nhs-number';
import { normaliseUkPostcode } from './postcode';
import { Priority, PRIORITIES } from './priority';
import { isTfc } from './tfc';
import { localDateIn, zonedTimeToUtc } from './time-zone';
import { controlCharacterIn } from './text';
import { Sex, UnavailablePeriod } from './waiting-list';

export const PTL_REQUIRED_COLUMNS: readonly string[] = Object.freeze([
  'PATIENT_PATHWAY_IDENTIFIER',
  'NHS_NUMBER',
  'PERSON_BIRTH_DATE',
  'ACTIVITY_TREATMENT_FUNCTION_CODE',
  'APPOINTMENT_TYPE',
  'REFERRAL_TO_TREATMENT_PERIOD_START_DATE',
  'Outpatient_Priority_Code',
]);

export const PTL_OPTIONAL_COLUMNS: readonly string[] = Object.freeze([
  'MOBILE_NUMBER',
  'POSTCODE',
  'PERSON_STATED_GENDER_CODE',
  'Outpatient_Future_Appointment_Date',
  'CURRENT_APPOINTMENT_ID',
  'OFFER_CONSENT',
  'ICS_WIDE_CONSENT',
  'ACCEPTABLE_SITES',
  'MAX_TRAVEL_KM',
  'UNAVAILABLE',
]);

export const PTL_COLUMNS: readonly string[] = Object.freeze([...PTL_REQUIRED_COLUMNS, ...PTL_OPTIONAL_COLUMNS]);

export interface PtlRow {
  pathwayId: string;
  nhsNumber: string;
  birthDate: Date;
  tfc: string;
  appointmentType: AppointmentType;
  rttStart: Date;
  priority: Priority;
  /** E.164 */
  mobile: string | null;
  postcode: string | null;
  sex: Sex | null;
  currentAppointmentStart: Date | null;
  currentAppointmentId: string | null;
  offerConsent: boolean;
  icsWideConsent: boolean;
  acceptableSites: 'ANY' | string[];
  maxTravelKm: number | null;
  unavailable: UnavailablePeriod[];
}

/**
 * A rejected row still names its pathway when that cell could be read (`pathwayId`): a snapshot
 * must not close a pathway the trust listed, however bad the rest of its row.
 */
export type PtlRowValidation = { ok: true; row: PtlRow } | { ok: false; reasons: string[]; pathwayId?: string };

export interface PtlOptions {
  /** Zone for date-times without an offset and for "today"; default Europe/London. */
  timeZone?: string;
}

/**
 * Header cells match whatever their case and surrounding spaces, and the byte-order mark Excel
 * puts before the first one, because those differences are export accidents, not different data.
 */
function columnKey(name: string): string {
  // Every row of a file repeats the same header names: work each out once (bounded, in case
  // someone sends a file with endless distinct headers).
  let key = columnKeys.get(name);
  if (key === undefined) {
    key = name.replace(/^\uFEFF/, '').trim().toLowerCase();
    if (columnKeys.size < 1000) columnKeys.set(name, key);
  }
  return key;
}
const columnKeys = new Map<string, string>();

/** Required columns the header lacks, by their contract names; empty when the file can be read. */
export function missingPtlColumns(header: string[]): string[] {
  const present = new Set(header.map(columnKey));
  return PTL_REQUIRED_COLUMNS.filter((c) => !present.has(columnKey(c)));
}

const SITE_ODS = /^[A-Z0-9]{3}[A-Z0-9]{2}$/;
const DECIMAL = /^\d+(?:\.\d+)?$/;
const ISO_DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

const GENDER_CODES: Readonly<Record<string, Sex>> = { '1': 'M', M: 'M', '2': 'F', F: 'F', '9': 'U', X: 'U', '0': 'U', U: 'U' };

/**
 * ISO 8601 date or date-time. A value without an offset is wall-clock time in `timeZone` (how a
 * PAS exports local appointment times); a bare date is the start of that local day.
 */
export function parseIsoDateTime(s: string, timeZone: string): Date | null {
  const m = ISO_DATE_TIME.exec(s);
  if (!m) return null;
  const [, y, mo, d, h = '00', mi = '00', sec = '00', frac, offset] = m;
  if (!utcDate(Number(y), Number(mo), Number(d))) return null;
  if (Number(h) > 23 || Number(mi) > 59 || Number(sec) > 59) return null;
  const ms = frac ? Number(frac.slice(0, 3).padEnd(3, '0')) : 0;
  const wall = { year: Number(y), month: Number(mo), day: Number(d), hour: Number(h), minute: Number(mi), second: Number(sec) };
  if (offset === undefined) return new Date(zonedTimeToUtc(wall, timeZone).getTime() + ms);
  let offsetMinutes = 0;
  if (offset.toUpperCase() !== 'Z') {
    const digits = offset.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = Number(digits.slice(2) || '0');
    if (oh > 14 || om > 59) return null;
    offsetMinutes = (offset[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const asUtc = (utcDate(wall.year, wall.month, wall.day) as Date).getTime();
  return new Date(asUtc + ((wall.hour * 60 + wall.minute - offsetMinutes) * 60 + wall.second) * 1000 + ms);
}

/**
 * Where one column's value sits in a row, worked out once per file. A header may name a column
 * more than once (or in two cases); the value read is the one a row-as-object reading gave (the
 * last name spelling to appear, at its last position the row reaches), so a file reads the same
 * as before this was computed once per file.
 */
interface ColumnSource {
  /** Where this spelling first appears. */
  first: number;
  /** Every position of this spelling, last first. */
  positions: number[];
}

/** Sources for each of PTL_COLUMNS (same order), the latest-appearing spelling first. */
function columnSources(header: readonly string[]): ColumnSource[][] {
  const byName = new Map<string, ColumnSource>();
  header.forEach((name, i) => {
    const s = byName.get(name);
    if (s) s.positions.unshift(i);
    else byName.set(name, { first: i, positions: [i] });
  });
  return PTL_COLUMNS.map((column) => {
    const key = columnKey(column);
    return [...byName.entries()]
      .filter(([name]) => columnKey(name) === key)
      .map(([, s]) => s)
      .sort((a, b) => b.first - a.first);
  });
}

function cellOf(cells: readonly (string | undefined)[], sources: ColumnSource[]): string {
  const n = cells.length;
  for (let i = 0; i < sources.length; i++) {
    const s = sources[i];
    if (s.first >= n) continue;
    const positions = s.positions;
    for (let j = 0; j < positions.length; j++) if (positions[j] < n) return (cells[positions[j]] ?? '').trim();
  }
  return '';
}

// Indexes into PTL_COLUMNS, named so the reader below says which column it takes.
const [PATHWAY, NHS, BIRTH, TFC, TYPE, RTT, PRIORITY, MOBILE, POSTCODE, GENDER, CURRENT, CURRENT_ID, OFFER, ICS_WIDE, SITES, TRAVEL, UNAVAILABLE] =
  PTL_COLUMNS.map((_, i) => i);

const PRIORITY_BY_UPPER: ReadonlyMap<string, Priority> = new Map(PRIORITIES.map((p) => [p.toUpperCase(), p]));
const PRIORITY_REASON = `Outpatient_Priority_Code is not one of ${PRIORITIES.join(', ')}`;
const NHS_DIGITS = /^\d{10}$/;
const SPACES = /\s+/g;

/**
 * What the exchange stores for an entry, at most: its wire checks (libs/contracts exchange-api.ts,
 * the DTO and `COLUMN_RULES`) are built from these too, so a row beyond them is rejected here, as
 * a row, and never refused by the exchange with the whole batch of rows around it.
 */
export const PTL_ID_MAX_LENGTH = 64;
export const PTL_LIST_MAX_ITEMS = 50;

function required(v: string, column: string, reasons: string[]): string | null {
  if (v === '') {
    reasons.push(`${column} is missing`);
    return null;
  }
  return v;
}

/** Why a date outside PTL_MIN_YEAR..PTL_MAX_YEAR (its UTC year, as sent to the exchange) is rejected. */
const OUTSIDE_YEARS = `is outside the years ${PTL_MIN_YEAR} to ${PTL_MAX_YEAR}`;

function pastDate(v: string, column: string, todayMs: number, reasons: string[]): Date | null {
  if (required(v, column, reasons) === null) return null;
  const d = parseIsoDate(v);
  if (!d) reasons.push(`${column} is not a date in YYYY-MM-DD`);
  else if (!isPtlYear(d)) reasons.push(`${column} ${OUTSIDE_YEARS}`);
  else if (d.getTime() > todayMs) reasons.push(`${column} is in the future`);
  return d;
}

function flag(raw: string, column: string, reasons: string[]): boolean {
  const v = raw.toUpperCase();
  if (v !== '' && v !== 'Y' && v !== 'N') reasons.push(`${column} is not Y or N`);
  return v === 'Y';
}

/**
 * A reader for the rows of one file with this header: where each column sits, "today" and the
 * time zone are worked out once, and each row is then judged from its cells (as `validatePtlRow`).
 */
export function ptlRowReader(header: readonly string[], now: Date, options: PtlOptions = {}): (cells: readonly (string | undefined)[]) => PtlRowValidation {
  const timeZone = options.timeZone ?? 'Europe/London';
  const todayMs = localDateIn(now, timeZone).getTime();
  const sources = columnSources(header);
  // The usual header names each column once: its one position, read without the general search.
  const at = sources.map((s) => (s.length === 1 && s[0].positions.length === 1 ? s[0].first : -1));
  return (cells) => {
    const reasons: string[] = [];
    // Every cell read is checked for control characters here, once: no column holds one, and a
    // NUL reaching the exchange would make Postgres refuse the whole batch of rows around it.
    const get = (column: number): string => {
      const p = at[column];
      const v = p < 0 ? cellOf(cells, sources[column]) : (cells[p] ?? '').trim();
      const control = controlCharacterIn(v);
      if (control !== null) reasons.push(`${PTL_COLUMNS[column]} contains a control character (${control})`);
      return v;
    };

    let pathwayId = required(get(PATHWAY), 'PATIENT_PATHWAY_IDENTIFIER', reasons);
    if (pathwayId !== null && pathwayId.length > PTL_ID_MAX_LENGTH) {
      reasons.push(`PATIENT_PATHWAY_IDENTIFIER is longer than ${PTL_ID_MAX_LENGTH} characters`);
      // Names no entry the exchange could hold, so it cannot keep one open either.
      pathwayId = null;
    } else if (pathwayId !== null && controlCharacterIn(pathwayId) !== null) {
      // Reported by `get`; as above, and the exchange could not even be sent it to keep.
      pathwayId = null;
    }

    const nhsRaw = required(get(NHS), 'NHS_NUMBER', reasons);
    let nhsNumber: string | null = null;
    if (nhsRaw !== null) {
      nhsNumber = normaliseNhsNumber(nhsRaw);
      if (!nhsNumber) reasons.push(NHS_DIGITS.test(nhsRaw.replace(SPACES, '')) ? 'NHS_NUMBER fails the modulus 11 check' : 'NHS_NUMBER is not 10 digits');
    }

    const birthDate = pastDate(get(BIRTH), 'PERSON_BIRTH_DATE', todayMs, reasons);

    const tfc = required(get(TFC), 'ACTIVITY_TREATMENT_FUNCTION_CODE', reasons);
    if (tfc !== null && !isTfc(tfc)) reasons.push('ACTIVITY_TREATMENT_FUNCTION_CODE is not a 3-digit treatment function code');

    const typeRaw = required(get(TYPE), 'APPOINTMENT_TYPE', reasons);
    const appointmentType = typeRaw === null ? null : typeRaw.toUpperCase();
    if (appointmentType !== null && !isAppointmentType(appointmentType)) reasons.push('APPOINTMENT_TYPE is not NEW or FUP');

    const rttStart = pastDate(get(RTT), 'REFERRAL_TO_TREATMENT_PERIOD_START_DATE', todayMs, reasons);
    if (rttStart && birthDate && rttStart.getTime() < birthDate.getTime()) {
      reasons.push('REFERRAL_TO_TREATMENT_PERIOD_START_DATE is before PERSON_BIRTH_DATE');
    }

    const priorityRaw = required(get(PRIORITY), 'Outpatient_Priority_Code', reasons);
    const priority = priorityRaw === null ? undefined : PRIORITY_BY_UPPER.get(priorityRaw.toUpperCase());
    if (priorityRaw !== null && !priority) reasons.push(PRIORITY_REASON);

    const mobileRaw = get(MOBILE);
    const mobile = mobileRaw === '' ? null : normaliseUkMobile(mobileRaw);
    if (mobileRaw !== '' && !mobile) reasons.push('MOBILE_NUMBER is not a UK mobile');

    const postcodeRaw = get(POSTCODE);
    const postcode = postcodeRaw === '' ? null : normaliseUkPostcode(postcodeRaw);
    if (postcodeRaw !== '' && !postcode) reasons.push('POSTCODE is not a UK postcode');

    const genderRaw = get(GENDER);
    const sex = genderRaw === '' ? null : (GENDER_CODES[genderRaw.toUpperCase()] ?? null);
    if (genderRaw !== '' && !sex) reasons.push('PERSON_STATED_GENDER_CODE is not one of 1, 2, 9, X, 0, M, F');

    const currentRaw = get(CURRENT);
    const currentAppointmentStart = currentRaw === '' ? null : parseIsoDateTime(currentRaw, timeZone);
    if (currentRaw !== '' && !currentAppointmentStart) {
      reasons.push('Outpatient_Future_Appointment_Date is not an ISO 8601 date or date-time');
    } else if (currentAppointmentStart && !isPtlYear(currentAppointmentStart)) {
      reasons.push(`Outpatient_Future_Appointment_Date ${OUTSIDE_YEARS}`);
    }

    const currentAppointmentId = get(CURRENT_ID) || null;
    if (currentAppointmentId !== null && currentAppointmentId.length > PTL_ID_MAX_LENGTH) {
      reasons.push(`CURRENT_APPOINTMENT_ID is longer than ${PTL_ID_MAX_LENGTH} characters`);
    }
    const offerConsent = flag(get(OFFER), 'OFFER_CONSENT', reasons);
    const icsWideConsent = flag(get(ICS_WIDE), 'ICS_WIDE_CONSENT', reasons);

    const sitesRaw = get(SITES).toUpperCase();
    let acceptableSites: 'ANY' | string[] = [];
    if (sitesRaw === 'ANY') acceptableSites = 'ANY';
    else if (sitesRaw !== '') {
      const sites = sitesRaw.split(';').map((s) => s.trim()).filter((s) => s !== '');
      const bad = sites.filter((s) => !SITE_ODS.test(s));
      if (bad.length > 0) reasons.push(`ACCEPTABLE_SITES is not ANY or ;-separated site ODS codes (not a site code: ${bad.join(', ')})`);
      acceptableSites = [...new Set(sites)];
      if (acceptableSites.length > PTL_LIST_MAX_ITEMS) reasons.push(`ACCEPTABLE_SITES names more than ${PTL_LIST_MAX_ITEMS} sites`);
    }

    const travelRaw = get(TRAVEL);
    const maxTravelKm = travelRaw !== '' && DECIMAL.test(travelRaw) ? Number(travelRaw) : null;
    if (travelRaw !== '' && maxTravelKm === null) reasons.push('MAX_TRAVEL_KM is not a non-negative number');

    const unavailable: UnavailablePeriod[] = [];
    const unavailableRaw = get(UNAVAILABLE);
    if (unavailableRaw !== '') {
      for (const range of unavailableRaw.split(';').map((s) => s.trim()).filter((s) => s !== '')) {
        const [fromRaw, toRaw, extra] = range.split('/').map((s) => s.trim());
        const from = fromRaw === undefined ? null : parseIsoDate(fromRaw);
        const to = toRaw === undefined ? null : parseIsoDate(toRaw);
        if (!from || !to || extra !== undefined) reasons.push(`UNAVAILABLE range "${range}" is not YYYY-MM-DD/YYYY-MM-DD`);
        else if (!isPtlYear(from) || !isPtlYear(to)) reasons.push(`UNAVAILABLE range "${range}" ${OUTSIDE_YEARS}`);
        else if (from.getTime() > to.getTime()) reasons.push(`UNAVAILABLE range "${range}" ends before it starts`);
        else unavailable.push({ from, to });
      }
      if (unavailable.length > PTL_LIST_MAX_ITEMS) reasons.push(`UNAVAILABLE has more than ${PTL_LIST_MAX_ITEMS} ranges`);
    }

    if (reasons.length > 0) return pathwayId === null ? { ok: false, reasons } : { ok: false, reasons, pathwayId };
    return {
      ok: true,
      row: {
        pathwayId: pathwayId as string,
        nhsNumber: nhsNumber as string,
        birthDate: birthDate as Date,
        tfc: tfc as string,
        appointmentType: appointmentType as AppointmentType,
        rttStart: rttStart as Date,
        priority: priority as Priority,
        mobile,
        postcode,
        sex,
        currentAppointmentStart,
        currentAppointmentId,
        offerConsent,
        icsWideConsent,
        acceptableSites,
        maxTravelKm,
        unavailable,
      },
    };
  };
}

/** One row given as an object keyed by header name (a one-row file). */
export function validatePtlRow(
  record: Record<string, string | undefined>,
  now: Date,
  options: PtlOptions = {},
): PtlRowValidation {
  return ptlRowReader(Object.keys(record), now, options)(Object.values(record));
}
