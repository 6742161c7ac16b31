/**
 * Reading one row of a trust's Patient Tracking List (CONTRACT.md "Waiting list in (PTL)"),
 * columns named as in the national Waiting List Minimum Data Set. A row is either turned into a
 * clean `PtlRow` or rejected with every reason at once, so the trust's integration team can fix
 * a row in one go. Reasons name the column but never echo personal data (NHS number, birth date,
 * phone, postcode): they are returned over HTTP and end up in logs.
 */
import { AppointmentType, isAppointmentType } from './appointment-type';
import { parseIsoDate, utcDate } from './dates';
import { normaliseUkMobile } from './mobile';
import { normaliseNhsNumber } from './nhs-number';
import { normaliseUkPostcode } from './postcode';
import { Priority, PRIORITIES } from './priority';
import { isTfc } from './tfc';
import { localDateIn, zonedTimeToUtc } from './time-zone';
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

export type PtlRowValidation = { ok: true; row: PtlRow } | { ok: false; reasons: string[] };

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

export function validatePtlRow(
  record: Record<string, string | undefined>,
  now: Date,
  options: PtlOptions = {},
): PtlRowValidation {
  const timeZone = options.timeZone ?? 'Europe/London';
  const values = new Map<string, string>();
  for (const [k, v] of Object.entries(record)) values.set(columnKey(k), (v ?? '').trim());
  const get = (column: string): string => values.get(columnKey(column)) ?? '';
  const reasons: string[] = [];
  const today = localDateIn(now, timeZone);

  const required = (column: string): string | null => {
    const v = get(column);
    if (v === '') reasons.push(`${column} is missing`);
    return v === '' ? null : v;
  };
  const pastDate = (column: string): Date | null => {
    const v = required(column);
    if (v === null) return null;
    const d = parseIsoDate(v);
    if (!d) reasons.push(`${column} is not a date in YYYY-MM-DD`);
    else if (d.getTime() > today.getTime()) reasons.push(`${column} is in the future`);
    return d;
  };
  const flag = (column: string): boolean => {
    const v = get(column).toUpperCase();
    if (v !== '' && v !== 'Y' && v !== 'N') reasons.push(`${column} is not Y or N`);
    return v === 'Y';
  };

  const pathwayId = required('PATIENT_PATHWAY_IDENTIFIER');

  const nhsRaw = required('NHS_NUMBER');
  let nhsNumber: string | null = null;
  if (nhsRaw !== null) {
    nhsNumber = normaliseNhsNumber(nhsRaw);
    if (!/^\d{10}$/.test(nhsRaw.replace(/\s+/g, ''))) reasons.push('NHS_NUMBER is not 10 digits');
    else if (!nhsNumber) reasons.push('NHS_NUMBER fails the modulus 11 check');
  }

  const birthDate = pastDate('PERSON_BIRTH_DATE');

  const tfc = required('ACTIVITY_TREATMENT_FUNCTION_CODE');
  if (tfc !== null && !isTfc(tfc)) reasons.push('ACTIVITY_TREATMENT_FUNCTION_CODE is not a 3-digit treatment function code');

  const typeRaw = required('APPOINTMENT_TYPE');
  const appointmentType = typeRaw === null ? null : typeRaw.toUpperCase();
  if (appointmentType !== null && !isAppointmentType(appointmentType)) reasons.push('APPOINTMENT_TYPE is not NEW or FUP');

  const rttStart = pastDate('REFERRAL_TO_TREATMENT_PERIOD_START_DATE');
  if (rttStart && birthDate && rttStart.getTime() < birthDate.getTime()) {
    reasons.push('REFERRAL_TO_TREATMENT_PERIOD_START_DATE is before PERSON_BIRTH_DATE');
  }

  const priorityRaw = required('Outpatient_Priority_Code');
  const priority = priorityRaw === null ? undefined : PRIORITIES.find((p) => p.toUpperCase() === priorityRaw.toUpperCase());
  if (priorityRaw !== null && !priority) reasons.push(`Outpatient_Priority_Code is not one of ${PRIORITIES.join(', ')}`);

  const mobileRaw = get('MOBILE_NUMBER');
  const mobile = mobileRaw === '' ? null : normaliseUkMobile(mobileRaw);
  if (mobileRaw !== '' && !mobile) reasons.push('MOBILE_NUMBER is not a UK mobile');

  const postcodeRaw = get('POSTCODE');
  const postcode = postcodeRaw === '' ? null : normaliseUkPostcode(postcodeRaw);
  if (postcodeRaw !== '' && !postcode) reasons.push('POSTCODE is not a UK postcode');

  const genderRaw = get('PERSON_STATED_GENDER_CODE');
  const sex = genderRaw === '' ? null : (GENDER_CODES[genderRaw.toUpperCase()] ?? null);
  if (genderRaw !== '' && !sex) reasons.push('PERSON_STATED_GENDER_CODE is not one of 1, 2, 9, X, 0, M, F');

  const currentRaw = get('Outpatient_Future_Appointment_Date');
  const currentAppointmentStart = currentRaw === '' ? null : parseIsoDateTime(currentRaw, timeZone);
  if (currentRaw !== '' && !currentAppointmentStart) {
    reasons.push('Outpatient_Future_Appointment_Date is not an ISO 8601 date or date-time');
  }

  const currentAppointmentId = get('CURRENT_APPOINTMENT_ID') || null;
  const offerConsent = flag('OFFER_CONSENT');
  const icsWideConsent = flag('ICS_WIDE_CONSENT');

  const sitesRaw = get('ACCEPTABLE_SITES').toUpperCase();
  let acceptableSites: 'ANY' | string[] = [];
  if (sitesRaw === 'ANY') acceptableSites = 'ANY';
  else if (sitesRaw !== '') {
    const sites = sitesRaw.split(';').map((s) => s.trim()).filter((s) => s !== '');
    const bad = sites.filter((s) => !SITE_ODS.test(s));
    if (bad.length > 0) reasons.push(`ACCEPTABLE_SITES is not ANY or ;-separated site ODS codes (not a site code: ${bad.join(', ')})`);
    acceptableSites = [...new Set(sites)];
  }

  const travelRaw = get('MAX_TRAVEL_KM');
  const maxTravelKm = DECIMAL.test(travelRaw) ? Number(travelRaw) : null;
  if (travelRaw !== '' && maxTravelKm === null) reasons.push('MAX_TRAVEL_KM is not a non-negative number');

  const unavailable: UnavailablePeriod[] = [];
  for (const range of get('UNAVAILABLE').split(';').map((s) => s.trim()).filter((s) => s !== '')) {
    const [fromRaw, toRaw, extra] = range.split('/').map((s) => s.trim());
    const from = fromRaw === undefined ? null : parseIsoDate(fromRaw);
    const to = toRaw === undefined ? null : parseIsoDate(toRaw);
    if (!from || !to || extra !== undefined) reasons.push(`UNAVAILABLE range "${range}" is not YYYY-MM-DD/YYYY-MM-DD`);
    else if (from.getTime() > to.getTime()) reasons.push(`UNAVAILABLE range "${range}" ends before it starts`);
    else unavailable.push({ from, to });
  }

  if (reasons.length > 0) return { ok: false, reasons };
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
}
