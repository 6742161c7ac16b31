/**
 * Time rules around one offer: the minimum-notice cut-off (no offer for, nor booking into, a slot
 * starting sooner), quiet hours (no SMS at night, on the patient's wall clock), and how long a
 * wave of offers lives.
 */
import { MS_PER_HOUR, MS_PER_MINUTE, MS_PER_DAY } from './dates';
import { clockTimeToMinutes, DEFAULT_MIN_OFFER_TTL_MINUTES, MatchingPolicy } from './policy';
import { wallClockIn, zonedTimeToUtc } from './time-zone';

/** The last moment a slot may be offered or booked: its start less the minimum notice. */
export function noticeCutoff(slotStart: Date, policy: MatchingPolicy): Date {
  return new Date(slotStart.getTime() - policy.minNoticeHours * MS_PER_HOUR);
}

/** True from the cut-off onwards: the cut-off instant itself is already too late. */
export function isInsideMinimumNotice(slotStart: Date, now: Date, policy: MatchingPolicy): boolean {
  return now.getTime() >= noticeCutoff(slotStart, policy).getTime();
}

interface QuietWindow {
  start: number;
  end: number;
}

function quietWindow(policy: MatchingPolicy): QuietWindow | null {
  if (!policy.quietHours) return null;
  const start = clockTimeToMinutes(policy.quietHours.start);
  const end = clockTimeToMinutes(policy.quietHours.end);
  if (start === null || end === null || start === end) return null;
  return { start, end };
}

function isQuietMinute(minute: number, w: QuietWindow): boolean {
  return w.start < w.end ? minute >= w.start && minute < w.end : minute >= w.start || minute < w.end;
}

/**
 * Whether `at` falls in quiet hours on a clock in the policy's zone: from `start` inclusive to
 * `end` exclusive, wrapping midnight when `end` is earlier (20:00-08:00).
 */
export function isInQuietHours(at: Date, policy: MatchingPolicy): boolean {
  const w = quietWindow(policy);
  if (!w) return false;
  const clock = wallClockIn(at, policy.timeZone);
  return isQuietMinute(clock.hour * 60 + clock.minute, w);
}

/**
 * `at` itself when an SMS may go then; otherwise the instant quiet hours end, found on the local
 * wall clock so that "08:00" is 08:00 GMT in winter and 07:00 UTC in summer, including the
 * nights the clocks change.
 */
export function nextSendableTime(at: Date, policy: MatchingPolicy): Date {
  const end = quietEnd(at, policy);
  // A window that ends inside the spring-forward gap with nothing sendable left that day (quiet
  // until 01:00 and again from 01:01, say) ends at the change itself, still quiet: the next day's
  // end is the answer. `quietEnd` only moves forward, and the gap comes once a year.
  return isInQuietHours(end, policy) ? quietEnd(end, policy) : end;
}

function quietEnd(at: Date, policy: MatchingPolicy): Date {
  const w = quietWindow(policy);
  if (!w) return at;
  const clock = wallClockIn(at, policy.timeZone);
  const minute = clock.hour * 60 + clock.minute;
  if (!isQuietMinute(minute, w)) return at;
  // In the evening part of a window that wraps midnight, the window ends tomorrow.
  const endsTomorrow = w.start > w.end && minute >= w.start;
  const endDay = new Date(Date.UTC(clock.year, clock.month - 1, clock.day) + (endsTomorrow ? MS_PER_DAY : 0));
  const end = zonedTimeToUtc(
    {
      year: endDay.getUTCFullYear(),
      month: endDay.getUTCMonth() + 1,
      day: endDay.getUTCDate(),
      hour: Math.floor(w.end / 60),
      minute: w.end % 60,
    },
    policy.timeZone,
  );
  if (end.getTime() > at.getTime()) return end;
  // The clocks went back and `at` is in the repeated hour, after the first reading of the end
  // time (zonedTimeToUtc gives the earlier one): the window ends at the second reading, later
  // today by the minutes the clock still has to go (no other change comes within the hour).
  const atMinute = at.getTime() - clock.second * 1000 - (((at.getTime() % 1000) + 1000) % 1000);
  return new Date(atMinute + (w.end - minute) * MS_PER_MINUTE);
}

/**
 * How many waves should still fit between a wave's sending and the cut-off: as the cut-off nears,
 * each wave gets a share of the time left rather than the full TTL, so that a slot which nobody in
 * the first wave answers still reaches several more patients before it closes.
 */
export const WAVES_TO_FIT_BEFORE_CUTOFF = 3;

/**
 * The time-to-live of a wave sent at `sentAt`: the policy's TTL while the cut-off is far; near it,
 * a third of the time left, but never below `minOfferTtlMinutes` (a patient needs time to read and
 * answer), and never past the cut-off itself.
 */
export function offerTtlMs(sentAt: Date, slotStart: Date, policy: MatchingPolicy): number {
  const full = policy.offerTtlMinutes * MS_PER_MINUTE;
  const floor = Math.min(full, (policy.minOfferTtlMinutes ?? DEFAULT_MIN_OFFER_TTL_MINUTES) * MS_PER_MINUTE);
  const left = Math.max(0, noticeCutoff(slotStart, policy).getTime() - sentAt.getTime());
  const share = Math.max(floor, Math.floor(left / WAVES_TO_FIT_BEFORE_CUTOFF));
  return Math.min(full, share, left);
}

/**
 * When a wave sent at `sentAt` ends: `offerTtlMs` after it is sent (the TTL counts from sending,
 * not from when the wave was planned during quiet hours), and never after the slot's cut-off.
 */
export function waveExpiry(sentAt: Date, slotStart: Date, policy: MatchingPolicy): Date {
  return new Date(sentAt.getTime() + offerTtlMs(sentAt, slotStart, policy));
}
