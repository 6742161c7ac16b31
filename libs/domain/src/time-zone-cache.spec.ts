import fc from 'fast-check';
import { wallClockIn } from './time-zone';

/** The wall clock straight from Intl, with no cache: what `wallClockIn` must always agree with. */
function direct(at: Date, timeZone: string) {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(at);
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  return { year: get('year'), month: get('month'), day: get('day'), hour: get('hour'), minute: get('minute'), second: get('second') };
}

// Zones with hour, half-hour (Lord Howe's DST) and 45-minute offsets; London before 1847 ran on local mean time (-0:01:15).
const ZONES = ['Europe/London', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'UTC'];

describe('wallClockIn (offset cache)', () => {
  it('agrees with Intl at every instant, repeated or not', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(1800, 0, 1), max: Date.UTC(2100, 0, 1) }), fc.constantFrom(...ZONES), (ms, zone) => {
        const at = new Date(ms);
        expect(wallClockIn(at, zone)).toEqual(direct(at, zone));
        expect(wallClockIn(at, zone)).toEqual(direct(at, zone));
      }),
      { numRuns: 3000 },
    );
  });

  it('agrees second by second across the nights the clocks change', () => {
    const changes = [Date.UTC(2027, 2, 28, 1), Date.UTC(2027, 9, 31, 1), Date.UTC(1847, 11, 1, 0, 1, 15)];
    for (const c of changes) {
      for (let s = -1800; s <= 1800; s += 7) {
        const at = new Date(c + s * 1000 + 123);
        expect(wallClockIn(at, 'Europe/London')).toEqual(direct(at, 'Europe/London'));
      }
    }
  });

  it('still refuses an unknown zone', () => {
    expect(() => wallClockIn(new Date(0), 'Mars/Olympus_Mons')).toThrow(/unknown time zone/);
  });
});
