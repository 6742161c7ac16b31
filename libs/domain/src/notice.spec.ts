import fc from 'fast-check';
import { isInQuietHours, isInsideMinimumNotice, nextSendableTime, noticeCutoff, offerTtlMs, waveExpiry } from './notice';
import { DEFAULT_POLICY, MatchingPolicy } from './policy';

const at = (iso: string) => new Date(iso);
const policy = (over: Partial<MatchingPolicy> = {}): MatchingPolicy => ({ ...DEFAULT_POLICY, ...over });

describe('minimum notice', () => {
  const slotStart = at('2026-11-26T10:00:00Z');

  it('cuts off minNoticeHours before the slot starts', () => {
    expect(noticeCutoff(slotStart, DEFAULT_POLICY).toISOString()).toBe('2026-11-25T10:00:00.000Z');
    expect(noticeCutoff(slotStart, policy({ minNoticeHours: 48 })).toISOString()).toBe('2026-11-24T10:00:00.000Z');
  });

  it('is outside the notice until the cut-off, and inside from the cut-off itself', () => {
    expect(isInsideMinimumNotice(slotStart, at('2026-11-25T09:59:59.999Z'), DEFAULT_POLICY)).toBe(false);
    expect(isInsideMinimumNotice(slotStart, at('2026-11-25T10:00:00Z'), DEFAULT_POLICY)).toBe(true);
    expect(isInsideMinimumNotice(slotStart, at('2026-11-27T10:00:00Z'), DEFAULT_POLICY)).toBe(true);
  });

  it('counts elapsed hours, so a slot after the clocks change still gets a full 24 hours', () => {
    // 10:00 BST on Sunday 29 March 2026 is 09:00 UTC; 24 real hours earlier is 09:00 UTC Saturday (09:00 GMT).
    expect(noticeCutoff(at('2026-03-29T09:00:00Z'), DEFAULT_POLICY).toISOString()).toBe('2026-03-28T09:00:00.000Z');
  });
});

describe('quiet hours (20:00-08:00 Europe/London)', () => {
  it.each([
    ['2026-12-01T19:59:59Z', false, 'GMT evening just before'],
    ['2026-12-01T20:00:00Z', true, 'GMT evening at the start'],
    ['2026-12-02T03:00:00Z', true, 'GMT small hours'],
    ['2026-12-02T07:59:59Z', true, 'GMT morning just before the end'],
    ['2026-12-02T08:00:00Z', false, 'GMT morning at the end'],
    ['2026-07-01T18:59:00Z', false, '19:59 BST'],
    ['2026-07-01T19:00:00Z', true, '20:00 BST'],
    ['2026-07-02T06:59:00Z', true, '07:59 BST'],
    ['2026-07-02T07:00:00Z', false, '08:00 BST'],
    ['2026-07-01T12:00:00Z', false, 'midday'],
  ])('%s is quiet: %p (%s)', (iso, quiet) => {
    expect(isInQuietHours(at(iso), DEFAULT_POLICY)).toBe(quiet);
  });

  it('has no quiet hours when none are configured', () => {
    expect(isInQuietHours(at('2026-12-02T03:00:00Z'), policy({ quietHours: null }))).toBe(false);
    expect(nextSendableTime(at('2026-12-02T03:00:00Z'), policy({ quietHours: null })).toISOString()).toBe('2026-12-02T03:00:00.000Z');
  });

  it('handles a window that does not wrap midnight', () => {
    const lunch = policy({ quietHours: { start: '12:00', end: '14:00' } });
    expect(isInQuietHours(at('2026-12-01T11:59:00Z'), lunch)).toBe(false);
    expect(isInQuietHours(at('2026-12-01T12:00:00Z'), lunch)).toBe(true);
    expect(isInQuietHours(at('2026-12-01T14:00:00Z'), lunch)).toBe(false);
    expect(isInQuietHours(at('2026-12-01T23:00:00Z'), lunch)).toBe(false);
    expect(nextSendableTime(at('2026-12-01T13:10:00Z'), lunch).toISOString()).toBe('2026-12-01T14:00:00.000Z');
  });

  it('uses the policy time zone', () => {
    const newYork = policy({ timeZone: 'America/New_York' });
    // 21:00 UTC is 16:00 in New York in winter.
    expect(isInQuietHours(at('2026-12-01T21:00:00Z'), newYork)).toBe(false);
    expect(isInQuietHours(at('2026-12-02T02:00:00Z'), newYork)).toBe(true);
  });
});

describe('nextSendableTime', () => {
  it.each([
    ['2026-12-01T12:00:00Z', '2026-12-01T12:00:00.000Z', 'not quiet: now'],
    ['2026-12-01T22:00:00Z', '2026-12-02T08:00:00.000Z', 'winter evening: 08:00 GMT tomorrow'],
    ['2026-12-02T03:00:00Z', '2026-12-02T08:00:00.000Z', 'winter small hours: 08:00 GMT today'],
    ['2026-12-31T20:30:00Z', '2027-01-01T08:00:00.000Z', 'new year'],
    ['2026-07-01T21:00:00Z', '2026-07-02T07:00:00.000Z', 'summer evening: 08:00 BST tomorrow'],
    ['2026-07-01T23:30:00Z', '2026-07-02T07:00:00.000Z', 'summer, after local midnight but before UTC midnight'],
    ['2026-07-02T03:00:00Z', '2026-07-02T07:00:00.000Z', 'summer small hours'],
    ['2026-03-28T21:00:00Z', '2026-03-29T07:00:00.000Z', 'the night the clocks go forward'],
    ['2026-10-24T21:00:00Z', '2026-10-25T08:00:00.000Z', 'the night the clocks go back'],
    ['2026-10-25T01:30:00Z', '2026-10-25T08:00:00.000Z', 'in the repeated hour'],
  ])('%s -> %s (%s)', (from, expected) => {
    expect(nextSendableTime(at(from), DEFAULT_POLICY).toISOString()).toBe(expected);
  });

  it('ends a window at the clock change when its end time does not exist that night', () => {
    const p = policy({ quietHours: { start: '23:00', end: '01:30' } });
    expect(nextSendableTime(at('2026-03-28T23:30:00Z'), p).toISOString()).toBe('2026-03-29T01:00:00.000Z');
  });

  it('ends a window at the first of two 01:30s when the clocks go back', () => {
    const p = policy({ quietHours: { start: '00:00', end: '01:30' } });
    expect(nextSendableTime(at('2026-10-24T23:10:00Z'), p).toISOString()).toBe('2026-10-25T00:30:00.000Z');
  });

  it('skips a day whose only sendable minute the clocks skip (the spring-forward gap)', () => {
    // Sendable only from 01:00 to 01:01; on 29 March 2026 London goes from 01:00 GMT to 02:00 BST.
    const p = policy({ quietHours: { start: '01:01', end: '01:00' } });
    const next = nextSendableTime(at('2026-03-28T01:01:00Z'), p);
    expect(next.toISOString()).toBe('2026-03-30T00:00:00.000Z'); // 01:00 BST on the 30th
    expect(isInQuietHours(next, p)).toBe(false);
  });

  it('ends a window in the repeated hour at its second reading when the clocks go back, never in the past', () => {
    // On 25 October 2026 London reads 01:00-01:59 twice (BST, then GMT from 01:00 UTC). At 01:10 GMT
    // the clock says 01:10, still quiet until 01:30: the answer is 01:30 GMT, not 01:30 BST an hour ago.
    for (const quietHours of [{ start: '20:00', end: '01:30' }, { start: '01:00', end: '01:30' }]) {
      const p = policy({ quietHours });
      const from = at('2026-10-25T01:10:00Z');
      expect(isInQuietHours(from, p)).toBe(true);
      const next = nextSendableTime(from, p);
      expect(next.toISOString()).toBe('2026-10-25T01:30:00.000Z');
    }
    // New York reads 01:00-01:59 twice on 1 November 2026 (EDT, then EST from 06:00 UTC).
    const ny = policy({ quietHours: { start: '22:00', end: '01:45' }, timeZone: 'America/New_York' });
    expect(nextSendableTime(at('2026-11-01T06:20:30Z'), ny).toISOString()).toBe('2026-11-01T06:45:00.000Z');
  });

  it('is always the first sendable instant, for any window and any moment, across the clock changes', () => {
    const hhmm = fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 })).map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`);
    fc.assert(
      fc.property(
        // Any moment, or one within a few hours of a clock change (where random dates over four
        // years almost never land, and where a window's end can be skipped or happen twice).
        fc.oneof(
          fc.date({ min: at('2026-01-01T00:00:00Z'), max: at('2029-12-31T00:00:00Z'), noInvalidDate: true }),
          fc.tuple(
            fc.constantFrom('2026-03-29T01:00:00Z', '2026-10-25T01:00:00Z', '2026-03-08T07:00:00Z', '2026-11-01T06:00:00Z', '2026-04-04T16:00:00Z', '2026-10-03T16:00:00Z'),
            fc.integer({ min: -6 * 3600, max: 6 * 3600 }),
          ).map(([change, s]) => new Date(at(change).getTime() + s * 1000)),
        ),
        fc.tuple(hhmm, hhmm).filter(([s, e]) => s !== e),
        fc.constantFrom('Europe/London', 'America/New_York', 'Australia/Sydney'),
        (from, [start, end], timeZone) => {
          const p = policy({ quietHours: { start, end }, timeZone });
          const next = nextSendableTime(from, p);
          expect(next.getTime()).toBeGreaterThanOrEqual(from.getTime());
          expect(isInQuietHours(next, p)).toBe(false);
          if (isInQuietHours(from, p)) {
            // Nothing sendable was skipped: a moment before `next` (but after `from`) is still quiet.
            const justBefore = new Date(next.getTime() - 1000);
            if (justBefore.getTime() >= from.getTime()) expect(isInQuietHours(justBefore, p)).toBe(true);
            // At most a day and an hour, or two when that day's sendable minutes fall in the spring-forward gap.
            expect(next.getTime() - from.getTime()).toBeLessThanOrEqual(49 * 3_600_000);
          } else {
            expect(next).toBe(from);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('waveExpiry / offerTtlMs', () => {
  it('is the TTL when the cut-off is far away', () => {
    expect(waveExpiry(at('2026-11-23T09:00:00Z'), at('2026-11-26T10:00:00Z'), DEFAULT_POLICY).toISOString()).toBe('2026-11-23T11:00:00.000Z');
  });

  it('gives each wave a third of the time left as the cut-off nears, so more waves fit', () => {
    // Cut-off 2026-11-25T10:00Z; sent at 06:00 there are 4 hours left: 80 minutes, not 120.
    expect(waveExpiry(at('2026-11-25T06:00:00Z'), at('2026-11-26T10:00:00Z'), DEFAULT_POLICY).toISOString()).toBe('2026-11-25T07:20:00.000Z');
    expect(offerTtlMs(at('2026-11-25T06:00:00Z'), at('2026-11-26T10:00:00Z'), DEFAULT_POLICY)).toBe(80 * 60_000);
  });

  it('never cuts below minOfferTtlMinutes, except at the cut-off itself', () => {
    // 30 minutes left: a third would be 10, the floor is 15.
    expect(waveExpiry(at('2026-11-25T09:30:00Z'), at('2026-11-26T10:00:00Z'), DEFAULT_POLICY).toISOString()).toBe('2026-11-25T09:45:00.000Z');
    // 10 minutes left: the cut-off ends the wave.
    expect(waveExpiry(at('2026-11-25T09:50:00Z'), at('2026-11-26T10:00:00Z'), DEFAULT_POLICY).toISOString()).toBe('2026-11-25T10:00:00.000Z');
    expect(waveExpiry(at('2026-11-25T09:50:00Z'), at('2026-11-26T10:00:00Z'), policy({ minOfferTtlMinutes: 5 })).toISOString()).toBe('2026-11-25T09:55:00.000Z');
    expect(waveExpiry(at('2026-11-25T09:50:00Z'), at('2026-11-26T10:00:00Z'), policy({ minOfferTtlMinutes: 2 })).toISOString()).toBe('2026-11-25T09:53:20.000Z');
  });

  it('counts from sending: a wave planned in quiet hours lives its TTL from 08:00', () => {
    const p = DEFAULT_POLICY;
    const planned = at('2026-11-23T23:00:00Z');
    const sendAt = nextSendableTime(planned, p);
    expect(sendAt.toISOString()).toBe('2026-11-24T08:00:00.000Z');
    expect(waveExpiry(sendAt, at('2026-11-27T10:00:00Z'), p).toISOString()).toBe('2026-11-24T10:00:00.000Z');
  });

  it('never outlives the TTL or the cut-off, never shrinks below the floor before the cut-off, and never grows as the cut-off nears', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 * 24 * 60 }), fc.integer({ min: 1, max: 600 }), fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 600 }), (minutesToSlot, ttl, floor, later) => {
        const sentAt = at('2026-11-23T09:00:00Z');
        const slotStart = new Date(sentAt.getTime() + minutesToSlot * 60_000);
        const p = policy({ offerTtlMinutes: ttl, minOfferTtlMinutes: floor });
        const cutoff = noticeCutoff(slotStart, p).getTime();
        const expiry = waveExpiry(sentAt, slotStart, p).getTime();
        expect(expiry).toBeLessThanOrEqual(sentAt.getTime() + ttl * 60_000);
        expect(expiry).toBeLessThanOrEqual(Math.max(sentAt.getTime(), cutoff));
        expect(expiry - sentAt.getTime()).toBeGreaterThanOrEqual(Math.min(Math.min(ttl, floor) * 60_000, Math.max(0, cutoff - sentAt.getTime())));
        const laterSend = new Date(sentAt.getTime() + later * 60_000);
        expect(offerTtlMs(laterSend, slotStart, p)).toBeLessThanOrEqual(offerTtlMs(sentAt, slotStart, p));
      }),
    );
  });
});
