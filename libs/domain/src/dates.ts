/**
 * Calendar-date arithmetic in UTC. Dates of birth, RTT clock starts, breach dates and
 * unavailable periods are calendar dates with no time of day; we carry them as the Date at UTC
 * midnight so that adding days never meets a daylight-saving change.
 */
export const MS_PER_DAY = 86_400_000;
export const MS_PER_HOUR = 3_600_000;
export const MS_PER_MINUTE = 60_000;

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * Strict `YYYY-MM-DD` to UTC midnight, or null. Rejects dates that do not exist (2026-02-30)
 * rather than letting `Date` roll them into the next month.
 */
export function parseIsoDate(s: string): Date | null {
  const m = ISO_DATE.exec(s);
  if (!m) return null;
  return utcDate(Number(m[1]), Number(m[2]), Number(m[3]));
}

/**
 * UTC midnight of year/month(1-12)/day, or null when that day does not exist. Uses
 * setUTCFullYear because Date.UTC maps years 0-99 to 1900-1999.
 */
export function utcDate(year: number, month: number, day: number): Date | null {
  if (!Number.isInteger(year) || !Number.isInteger(month) || !Number.isInteger(day)) return null;
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  if (d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day) return null;
  return d;
}

/**
 * The years a waiting-list date or instant may fall in, for the adapter's PTL row reader and the
 * exchange's check of what the adapter sends alike (one rule, so a row the adapter passes is never
 * refused by the exchange with the whole batch around it). Nobody waiting was born, referred or
 * booked before 1900; Postgres has no year 0, and an ISO string past 9999 carries a sign and six
 * digits, which the wire format does not take.
 */
export const PTL_MIN_YEAR = 1900;
export const PTL_MAX_YEAR = 9999;

/** Whether the instant's UTC year is one a waiting-list date may have (PTL_MIN_YEAR to PTL_MAX_YEAR). */
export function isPtlYear(d: Date): boolean {
  const y = d.getUTCFullYear();
  return y >= PTL_MIN_YEAR && y <= PTL_MAX_YEAR;
}

/** `YYYY-MM-DD` of the instant's UTC date. */
export function toIsoDate(d: Date): string {
  return d.toISOString().slice(0, 10);
}

export function startOfUtcDay(d: Date): Date {
  return new Date(Math.floor(d.getTime() / MS_PER_DAY) * MS_PER_DAY);
}

/** The UTC date `days` after `d`'s UTC date, at midnight. */
export function addUtcDays(d: Date, days: number): Date {
  return new Date(startOfUtcDay(d).getTime() + days * MS_PER_DAY);
}

/** Whole calendar days from `from`'s UTC date to `to`'s UTC date (negative when `to` is earlier). */
export function utcDaysBetween(from: Date, to: Date): number {
  return Math.round((startOfUtcDay(to).getTime() - startOfUtcDay(from).getTime()) / MS_PER_DAY);
}

/**
 * Age in completed years on a calendar date. Someone born on 29 February comes of age on
 * 1 March in a common year, as in England and Wales.
 */
export function ageInYearsOn(birthDate: Date, on: Date): number {
  const by = birthDate.getUTCFullYear();
  const bm = birthDate.getUTCMonth();
  const bd = birthDate.getUTCDate();
  const oy = on.getUTCFullYear();
  const om = on.getUTCMonth();
  const od = on.getUTCDate();
  const beforeBirthday = om < bm || (om === bm && od < bd);
  return oy - by - (beforeBirthday ? 1 : 0);
}
