import fc from 'fast-check';
import { formatHl7Timestamp, hl7TimestampDigits, parseHl7Timestamp } from './timestamp';

const iso = (s: string): string | null => parseHl7Timestamp(s)?.toISOString() ?? null;

describe('parseHl7Timestamp', () => {
  it.each([
    ['20261126140000+0000', '2026-11-26T14:00:00.000Z'],
    ['20261126140000-0500', '2026-11-26T19:00:00.000Z'],
    ['20260701140000+0100', '2026-07-01T13:00:00.000Z'],
    ['202611261400+0000', '2026-11-26T14:00:00.000Z'],
    ['20260701140000.1234+0000', '2026-07-01T14:00:00.123Z'],
    ['20260701140000.5', '2026-07-01T13:00:00.500Z'],
    [' 20261126140000+0000 ', '2026-11-26T14:00:00.000Z'],
  ])('reads %p as %p', (s, expected) => {
    expect(iso(s)).toBe(expected);
  });

  it('reads a time without an offset as Europe/London: GMT in winter, BST in summer', () => {
    expect(iso('202611261400')).toBe('2026-11-26T14:00:00.000Z');
    expect(iso('20261126140000')).toBe('2026-11-26T14:00:00.000Z');
    expect(iso('202607011400')).toBe('2026-07-01T13:00:00.000Z');
  });

  it('takes the earlier instant when the clocks go back and the moment of change when they go forward', () => {
    // 2026: BST ends Sunday 25 October 02:00 BST (01:00 UTC), starts Sunday 29 March 01:00 GMT.
    expect(iso('202610250130')).toBe('2026-10-25T00:30:00.000Z');
    expect(iso('202603290130')).toBe('2026-03-29T01:00:00.000Z');
    expect(iso('202603290059')).toBe('2026-03-29T00:59:00.000Z');
    expect(iso('202603290200')).toBe('2026-03-29T01:00:00.000Z');
  });

  it('fills missing trailing parts with the start of the period', () => {
    expect(iso('20261126')).toBe('2026-11-26T00:00:00.000Z');
    expect(iso('202611')).toBe('2026-11-01T00:00:00.000Z');
    expect(iso('2026112614')).toBe('2026-11-26T14:00:00.000Z');
  });

  it.each([
    '', 'abc', '2026-11-26T14:00:00Z', '20261126140000Z', '20261301', '20260230', '20250229', '202611262400',
    '202611261460', '20261126140060', '20261126140000+2500', '20261126140000+0060', '2026112614000', '20261126140000+00',
    '20261126140000.', '20261126140000.12345', '1e3', '202611261400 extra',
  ])('refuses %p', (s) => {
    expect(parseHl7Timestamp(s)).toBeNull();
  });

  it('accepts 29 February in a leap year only', () => {
    expect(iso('20280229')).toBe('2028-02-29T00:00:00.000Z');
    expect(iso('21000229')).toBeNull();
  });

  it('does not throw on non-strings', () => {
    expect(parseHl7Timestamp(undefined as unknown as string)).toBeNull();
    expect(parseHl7Timestamp(42 as unknown as string)).toBeNull();
  });

  it('counts the date/time digits present, so callers can demand minute precision', () => {
    expect(hl7TimestampDigits('20261126')).toBe(8);
    expect(hl7TimestampDigits('202611261400+0000')).toBe(12);
    expect(hl7TimestampDigits('20261126140000.12+0100')).toBe(14);
    expect(hl7TimestampDigits('junk')).toBe(0);
  });
});

describe('formatHl7Timestamp', () => {
  it('writes UTC with an explicit +0000', () => {
    expect(formatHl7Timestamp(new Date('2026-11-26T14:00:05.999Z'))).toBe('20261126140005+0000');
    expect(formatHl7Timestamp(new Date('2026-07-01T00:00:00+01:00'))).toBe('20260630230000+0000');
  });

  it('throws for an invalid Date, which is a caller bug', () => {
    expect(() => formatHl7Timestamp(new Date('nope'))).toThrow(RangeError);
  });

  it('round-trips any instant to the second', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('1900-01-01T00:00:00Z'), max: new Date('2199-12-31T23:59:59Z'), noInvalidDate: true }), (d) => {
        const back = parseHl7Timestamp(formatHl7Timestamp(d));
        expect(back?.getTime()).toBe(Math.floor(d.getTime() / 1000) * 1000);
      }),
      { numRuns: 500 },
    );
  });

  it('reads London wall time back to the same wall time', () => {
    const london = new Intl.DateTimeFormat('en-GB', {
      timeZone: 'Europe/London', hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
    });
    fc.assert(
      fc.property(fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T00:00:00Z'), noInvalidDate: true }), (d) => {
        const p = Object.fromEntries(london.formatToParts(d).map((x) => [x.type, x.value]));
        const wall = `${p.year}${p.month}${p.day}${p.hour}${p.minute}`;
        const back = parseHl7Timestamp(wall) as Date;
        const q = Object.fromEntries(london.formatToParts(back).map((x) => [x.type, x.value]));
        expect(`${q.year}${q.month}${q.day}${q.hour}${q.minute}`).toBe(wall);
      }),
      { numRuns: 300 },
    );
  });
});
