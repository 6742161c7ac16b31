import fc from 'fast-check';
import { addUtcDays, ageInYearsOn, parseIsoDate, startOfUtcDay, toIsoDate, utcDate, utcDaysBetween } from './dates';
import { localDateIn, wallClockIn, zonedTimeToUtc, isValidTimeZone } from './time-zone';
import { DomainError } from './errors';

const day = (iso: string) => new Date(`${iso}T00:00:00Z`);

describe('parseIsoDate', () => {
  it.each([
    ['2026-02-28', '2026-02-28T00:00:00.000Z'],
    ['2024-02-29', '2024-02-29T00:00:00.000Z'],
    ['1900-01-01', '1900-01-01T00:00:00.000Z'],
    ['0050-06-01', '0050-06-01T00:00:00.000Z'],
  ])('reads %s as UTC midnight', (s, iso) => {
    expect(parseIsoDate(s)?.toISOString()).toBe(iso);
  });

  it.each(['2026-02-30', '2025-02-29', '2026-13-01', '2026-00-10', '2026-04-31', '2026-1-01', '26-01-01', '2026/01/01', '2026-01-01T00:00', ' 2026-01-01', ''])(
    'rejects %p',
    (s) => {
      expect(parseIsoDate(s)).toBeNull();
    },
  );

  it('round-trips every real date', () => {
    fc.assert(
      fc.property(fc.date({ min: day('1900-01-01'), max: day('2100-12-31'), noInvalidDate: true }), (d) => {
        const iso = toIsoDate(d);
        expect(toIsoDate(parseIsoDate(iso) as Date)).toBe(iso);
      }),
    );
  });
});

describe('UTC day arithmetic', () => {
  it('adds whole days from the start of the UTC day, across month, year and DST changes', () => {
    expect(toIsoDate(addUtcDays(new Date('2026-03-28T23:59:00Z'), 1))).toBe('2026-03-29');
    expect(addUtcDays(day('2026-12-31'), 1).toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(addUtcDays(day('2026-10-24'), 2).toISOString()).toBe('2026-10-26T00:00:00.000Z');
  });

  it('counts calendar days between dates, ignoring time of day', () => {
    expect(utcDaysBetween(day('2026-01-10'), new Date('2026-11-23T23:59:00Z'))).toBe(317);
    expect(utcDaysBetween(new Date('2026-01-10T23:00:00Z'), new Date('2026-01-11T01:00:00Z'))).toBe(1);
    expect(utcDaysBetween(day('2026-01-11'), day('2026-01-10'))).toBe(-1);
    expect(startOfUtcDay(new Date('2026-05-05T17:45:00Z')).toISOString()).toBe('2026-05-05T00:00:00.000Z');
  });

  it('utcDate rejects days that do not exist', () => {
    expect(utcDate(2026, 2, 29)).toBeNull();
    expect(utcDate(2026, 2, 28.5)).toBeNull();
    expect(utcDate(99, 1, 1)?.getUTCFullYear()).toBe(99);
  });
});

describe('ageInYearsOn', () => {
  it.each([
    ['2008-11-26', '2026-11-26', 18],
    ['2008-11-27', '2026-11-26', 17],
    ['2008-12-01', '2026-11-26', 17],
    ['2008-02-29', '2026-02-28', 17],
    ['2008-02-29', '2026-03-01', 18],
    ['2008-02-29', '2028-02-29', 20],
    ['2026-11-26', '2026-11-26', 0],
  ])('born %s is %i on %s', (born, on, age) => {
    expect(ageInYearsOn(day(born), day(on))).toBe(age);
  });
});

describe('time zones', () => {
  it('reads the London wall clock in GMT and in BST', () => {
    expect(wallClockIn(new Date('2026-12-01T19:30:00Z'), 'Europe/London')).toEqual({ year: 2026, month: 12, day: 1, hour: 19, minute: 30, second: 0 });
    expect(wallClockIn(new Date('2026-07-01T23:30:15Z'), 'Europe/London')).toEqual({ year: 2026, month: 7, day: 2, hour: 0, minute: 30, second: 15 });
    expect(toIsoDate(localDateIn(new Date('2026-07-01T23:30:00Z'), 'Europe/London'))).toBe('2026-07-02');
  });

  it('turns a London wall time into the right instant either side of a change', () => {
    const london = (y: number, mo: number, d: number, h: number, mi = 0) => zonedTimeToUtc({ year: y, month: mo, day: d, hour: h, minute: mi }, 'Europe/London').toISOString();
    expect(london(2026, 3, 28, 8)).toBe('2026-03-28T08:00:00.000Z');
    expect(london(2026, 3, 29, 8)).toBe('2026-03-29T07:00:00.000Z');
    expect(london(2026, 10, 25, 8)).toBe('2026-10-25T08:00:00.000Z');
    // 01:30 never happens on 29 March 2026: the clocks jump from 01:00 GMT to 02:00 BST.
    expect(london(2026, 3, 29, 1, 30)).toBe('2026-03-29T01:00:00.000Z');
    // 01:30 happens twice on 25 October 2026: the first time is still BST.
    expect(london(2026, 10, 25, 1, 30)).toBe('2026-10-25T00:30:00.000Z');
  });

  it('inverts wallClockIn for any whole-minute instant', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 * 366 * 24 * 60 }), (minutes) => {
        const at = new Date(day('2025-01-01').getTime() + minutes * 60_000);
        const w = wallClockIn(at, 'Europe/London');
        const back = zonedTimeToUtc(w, 'Europe/London');
        // In the repeated autumn hour the earlier reading is chosen, so `back` may be an hour early.
        expect([0, 3_600_000]).toContain(at.getTime() - back.getTime());
        expect(wallClockIn(back, 'Europe/London')).toEqual(w);
      }),
    );
  });

  it('refuses an unknown zone', () => {
    expect(isValidTimeZone('Europe/London')).toBe(true);
    expect(isValidTimeZone('Mars/Olympus_Mons')).toBe(false);
    expect(() => wallClockIn(new Date(0), 'Mars/Olympus_Mons')).toThrow(DomainError);
  });
});
