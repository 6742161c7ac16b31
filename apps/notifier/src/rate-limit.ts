/**
 * Turns Notify's limit ("3,000 in any 60 seconds", a sliding window) into settings for BullMQ's
 * queue limiter, which counts in fixed windows, each opened by its first job. A sliding window
 * of length W = k·d can overlap k + 1 fixed windows of length d, so allowing ⌊limit / (k + 1)⌋
 * per d never exceeds the limit in any W, whatever the timing. With d of about a second the cost
 * is small: 3,000 a minute becomes 49 a second (2,940 a minute).
 */
export interface QueueLimiter {
  max: number;
  duration: number;
}

export function limiterFor(limit: number, windowMs: number): QueueLimiter {
  if (!Number.isInteger(limit) || limit < 1 || !Number.isFinite(windowMs) || windowMs <= 0) {
    throw new Error(`a rate limit needs a whole number of messages (got ${limit}) over a positive window (got ${windowMs} ms)`);
  }
  const k = Math.max(1, Math.floor(windowMs / 1000));
  const max = Math.floor(limit / (k + 1));
  const split = { max, duration: Math.floor(windowMs / k) };
  if (max >= 1) return split;
  // Too few messages to spread over second-long windows: one at a time, evenly spaced. A window
  // holding a single job starts with it, so consecutive sends are at least `duration` apart.
  return { max: 1, duration: Math.ceil(windowMs / limit) };
}
