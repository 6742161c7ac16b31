import fc from 'fast-check';
import { limiterFor } from './rate-limit';

/**
 * Plays BullMQ's fixed-window limiter (a window opens with its first job and lasts `duration`;
 * at most `max` jobs start in it) against a stream of jobs wanting to start as early as they can.
 */
function starts(limiter: { max: number; duration: number }, wanted: number[]): number[] {
  const out: number[] = [];
  let windowStart = -Infinity;
  let inWindow = 0;
  for (const w of [...wanted].sort((a, b) => a - b)) {
    let t = Math.max(w, out.length ? out[out.length - 1] : -Infinity);
    if (t >= windowStart + limiter.duration) {
      windowStart = t;
      inWindow = 0;
    }
    if (inWindow >= limiter.max) {
      t = windowStart + limiter.duration;
      windowStart = t;
      inWindow = 0;
    }
    inWindow++;
    out.push(t);
  }
  return out;
}

function maxInSlidingWindow(times: number[], windowMs: number): number {
  let best = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i] - times[j] >= windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

describe('limiterFor', () => {
  it('spreads Notify’s 3,000 a minute over one-second windows with little lost', () => {
    expect(limiterFor(3000, 60_000)).toEqual({ max: 49, duration: 1000 });
  });

  it('falls back to evenly spaced single sends when the limit is small', () => {
    expect(limiterFor(3, 60_000)).toEqual({ max: 1, duration: 20_000 });
    expect(limiterFor(10, 1000)).toEqual({ max: 5, duration: 1000 });
  });

  it('refuses nonsense', () => {
    expect(() => limiterFor(0, 60_000)).toThrow(/whole number/);
    expect(() => limiterFor(10, 0)).toThrow(/positive window/);
  });

  it('never lets more than the limit start in any sliding window, however jobs arrive', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 200, max: 120_000 }),
        fc.array(fc.integer({ min: 0, max: 300_000 }), { minLength: 1, maxLength: 400 }),
        (limit, windowMs, wanted) => {
          const times = starts(limiterFor(limit, windowMs), wanted);
          expect(maxInSlidingWindow(times, windowMs)).toBeLessThanOrEqual(limit);
        },
      ),
      { numRuns: 300 },
    );
  });
});
