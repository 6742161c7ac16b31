/**
 * Wall-clock time in a named IANA time zone (policy says Europe/London). Quiet hours and "the
 * date of the slot" are what a patient's clock and calendar say, which is GMT half the year and
 * BST the other half; this module owns turning instants into that wall clock and back, using the
 * platform's time-zone database through Intl rather than hand-written DST rules.
 */
import { DomainError } from './errors';
import { MS_PER_DAY, utcDate } from './dates';

export interface WallClock {
  year: number;
  /** 1-12 */
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

// Building a DateTimeFormat costs far more than using one, and matching runs this per candidate.
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-GB', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
      });
    } catch {
      throw new DomainError('invalid-time-zone', `unknown time zone "${timeZone}"`);
    }
    formatters.set(timeZone, f);
  }
  return f;
}

export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** What a clock in `timeZone` reads at instant `at`. */
export function wallClockIn(at: Date, timeZone: string): WallClock {
  const ms = at.getTime();
  const offset = cachedOffset(ms, timeZone);
  if (offset === null) return formatWallClock(at, timeZone);
  const local = new Date(ms + offset);
  return {
    year: local.getUTCFullYear(),
    month: local.getUTCMonth() + 1,
    day: local.getUTCDate(),
    hour: local.getUTCHours(),
    minute: local.getUTCMinutes(),
    second: local.getUTCSeconds(),
  };
}

/**
 * Offsets change only at a few instants a year, and formatting through Intl costs microseconds
 * while matching and the outcome simulator ask for wall clocks per candidate. So the zone's offset
 * is remembered per 15-minute stretch of UTC, and used only where it is the same at both ends of
 * the stretch (a change inside it, or an odd historical offset, falls back to formatting).
 */
const OFFSET_BUCKET_MS = 15 * 60_000;
const OFFSET_CACHE_LIMIT = 200_000;
const offsetCache = new Map<string, Map<number, number | null>>();

function cachedOffset(ms: number, timeZone: string): number | null {
  if (!Number.isFinite(ms)) return null;
  let zone = offsetCache.get(timeZone);
  if (!zone) {
    formatterFor(timeZone); // an unknown zone throws here, as it always has
    zone = new Map();
    offsetCache.set(timeZone, zone);
  }
  const bucket = Math.floor(ms / OFFSET_BUCKET_MS);
  let offset = zone.get(bucket);
  if (offset === undefined) {
    const start = bucket * OFFSET_BUCKET_MS;
    const atStart = offsetOfWall(start, timeZone);
    const atEnd = offsetOfWall(start + OFFSET_BUCKET_MS - 1000, timeZone);
    offset = atStart === atEnd ? atStart : null;
    if (zone.size >= OFFSET_CACHE_LIMIT) zone.clear();
    zone.set(bucket, offset);
  }
  return offset;
}

/** Local wall time less UTC at a whole-second instant, from the formatter itself. */
function offsetOfWall(t: number, timeZone: string): number {
  const w = formatWallClock(new Date(t), timeZone);
  return (utcDate(w.year, w.month, w.day) as Date).getTime() + ((w.hour * 60 + w.minute) * 60 + w.second) * 1000 - t;
}

function formatWallClock(at: Date, timeZone: string): WallClock {
  const parts = formatterFor(timeZone).formatToParts(at);
  const get = (type: Intl.DateTimeFormatPartTypes): number => Number(parts.find((p) => p.type === type)?.value);
  return {
    year: get('year'),
    month: get('month'),
    day: get('day'),
    hour: get('hour'),
    minute: get('minute'),
    second: get('second'),
  };
}

/** The calendar date in `timeZone` at instant `at`, as the Date at UTC midnight of that date. */
export function localDateIn(at: Date, timeZone: string): Date {
  const w = wallClockIn(at, timeZone);
  return utcDate(w.year, w.month, w.day) as Date;
}

/** The zone's offset from UTC at instant `t` (ms; +3,600,000 during BST). */
function offsetAt(t: number, timeZone: string): number {
  const w = wallClockIn(new Date(t), timeZone);
  const asUtc = (utcDate(w.year, w.month, w.day) as Date).getTime() + ((w.hour * 60 + w.minute) * 60 + w.second) * 1000;
  return asUtc - Math.floor(t / 1000) * 1000;
}

/**
 * The first instant at which a clock in `timeZone` reads `wall` (seconds ignored if absent).
 * When the clocks go back and the time happens twice, that is the earlier one; when they go
 * forward and the time never happens, it is the moment of the change, the first instant the
 * clock reads later than `wall`.
 */
export function zonedTimeToUtc(
  wall: Pick<WallClock, 'year' | 'month' | 'day' | 'hour' | 'minute'> & { second?: number },
  timeZone: string,
): Date {
  const date = utcDate(wall.year, wall.month, wall.day);
  if (!date) throw new DomainError('invalid-date', `${wall.year}-${wall.month}-${wall.day} is not a calendar date`);
  const naive = date.getTime() + ((wall.hour * 60 + wall.minute) * 60 + (wall.second ?? 0)) * 1000;
  // Assumes at most one offset change within a day either side, true of every real zone.
  const before = naive - offsetAt(naive - MS_PER_DAY, timeZone);
  const after = naive - offsetAt(naive + MS_PER_DAY, timeZone);
  const valid = [before, after].filter((t) => t + offsetAt(t, timeZone) === naive);
  if (valid.length > 0) return new Date(Math.min(...valid));
  // In the spring-forward gap: find the change itself between the two readings.
  let lo = Math.min(before, after);
  let hi = Math.max(before, after);
  const offsetLater = offsetAt(hi, timeZone);
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (offsetAt(mid, timeZone) === offsetLater) hi = mid;
    else lo = mid;
  }
  return new Date(hi);
}
