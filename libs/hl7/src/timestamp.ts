/**
 * HL7 v2 TS/DTM values. We always write UTC with an explicit `+0000`, so what we send can never be
 * misread; we read what trusts send, which is often local time with no offset, and that means
 * Europe/London (GMT or BST depending on the date).
 */

import { zonedTimeToUtc } from '@app/domain';

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** `YYYYMMDDHHMMSS+0000` in UTC. Throws RangeError for an invalid Date: that is a caller bug. */
export function formatHl7Timestamp(d: Date): string {
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new RangeError('formatHl7Timestamp: invalid Date');
  return (
    `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}` +
    `${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}+0000`
  );
}

// YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]
const DTM = /^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?(?:([+-])(\d{2})(\d{2}))?$/;

/** How many of the DTM's date/time digits were present; 12 means minute precision. */
export function hl7TimestampDigits(s: string): number {
  const m = DTM.exec(s.trim());
  return m ? (m.slice(1, 7).filter((x) => x !== undefined).join('').length) : 0;
}

/**
 * Parses an HL7 TS/DTM. With an offset the instant is exact; without one the wall-clock time is
 * taken as Europe/London. Missing trailing parts default to the start of the period. Returns null
 * for anything that is not a real calendar time (month 13, 30 February, hour 24, offset +2500).
 */
export function parseHl7Timestamp(s: string): Date | null {
  if (typeof s !== 'string') return null;
  const m = DTM.exec(s.trim());
  if (!m) return null;
  const [, y, mo, d, h, mi, sec, frac, sign, oh, om] = m;
  const year = Number(y);
  const month = mo === undefined ? 1 : Number(mo);
  const day = d === undefined ? 1 : Number(d);
  const hour = h === undefined ? 0 : Number(h);
  const minute = mi === undefined ? 0 : Number(mi);
  const second = sec === undefined ? 0 : Number(sec);
  const ms = frac === undefined ? 0 : Math.floor(Number(`0.${frac}`) * 1000);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  const wall = wallAsUtc(year, month, day, hour, minute, second, ms);
  // No offset: the sender's local time, which for an English PAS is London's.
  if (sign === undefined) return new Date(zonedTimeToUtc({ year, month, day, hour, minute, second }, 'Europe/London').getTime() + ms);
  const offH = Number(oh);
  const offM = Number(om);
  if (offH > 14 || offM > 59) return null;
  const offset = (sign === '-' ? -1 : 1) * (offH * 60 + offM) * 60_000;
  return new Date(wall - offset);
}

function daysInMonth(year: number, month: number): number {
  return new Date(wallAsUtc(year, month + 1, 0, 0, 0, 0, 0)).getUTCDate();
}

/** The wall-clock reading as if it were UTC, in ms. setUTCFullYear, because Date.UTC maps 0–99 to 19xx. */
function wallAsUtc(year: number, month: number, day: number, hour: number, minute: number, second: number, ms: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, ms);
  return d.getTime();
}

