import fc from 'fast-check';
import { breachDate, isPriority, PRIORITIES, PRIORITY_TARGET_DAYS, priorityRank, RTT_STANDARD_DAYS } from './priority';
import { APPOINTMENT_TYPES, isAppointmentType } from './appointment-type';
import { isTfc } from './tfc';
import { toIsoDate, utcDaysBetween } from './dates';

describe('priority', () => {
  it('ranks P1a most urgent through P4 least', () => {
    expect(PRIORITIES).toEqual(['P1a', 'P1b', 'P2', 'P3', 'P4']);
    expect(PRIORITIES.map(priorityRank)).toEqual([0, 1, 2, 3, 4]);
  });

  it('recognises exactly the five national codes', () => {
    for (const p of PRIORITIES) expect(isPriority(p)).toBe(true);
    for (const s of ['P1', 'P1A', 'p2', 'P5', '', ' P2']) expect(isPriority(s)).toBe(false);
  });

  it('has the national targets and the 18-week standard', () => {
    expect(PRIORITY_TARGET_DAYS).toEqual({ P1a: 1, P1b: 3, P2: 28, P3: 91, P4: 126 });
    expect(RTT_STANDARD_DAYS).toBe(126);
  });

  it.each([
    ['P1a', '2026-01-10', '2026-01-11'],
    ['P1b', '2026-01-10', '2026-01-13'],
    ['P2', '2026-01-10', '2026-02-07'],
    ['P3', '2026-01-10', '2026-04-11'],
    ['P4', '2026-01-10', '2026-05-16'],
    ['P2', '2026-03-20', '2026-04-17'],
    ['P3', '2026-10-01', '2026-12-31'],
  ] as const)('%s from %s breaches on %s', (p, start, breach) => {
    expect(toIsoDate(breachDate(p, new Date(`${start}T00:00:00Z`)))).toBe(breach);
  });

  it('breaches on a calendar date: target days after the RTT start, never later than the standard', () => {
    fc.assert(
      fc.property(fc.constantFrom(...PRIORITIES), fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2040-01-01T00:00:00Z'), noInvalidDate: true }), (p, start) => {
        const b = breachDate(p, start);
        expect(b.getTime() % 86_400_000).toBe(0);
        expect(utcDaysBetween(start, b)).toBe(PRIORITY_TARGET_DAYS[p]);
        expect(utcDaysBetween(start, b)).toBeLessThanOrEqual(RTT_STANDARD_DAYS);
      }),
    );
  });
});

describe('appointment type and TFC', () => {
  it('knows NEW and FUP only', () => {
    expect(APPOINTMENT_TYPES).toEqual(['NEW', 'FUP']);
    expect(isAppointmentType('NEW')).toBe(true);
    expect(isAppointmentType('FUP')).toBe(true);
    for (const s of ['new', 'FU', 'FOLLOWUP', '']) expect(isAppointmentType(s)).toBe(false);
  });

  it('takes a TFC as exactly three digits', () => {
    for (const s of ['330', '100', '502', '000']) expect(isTfc(s)).toBe(true);
    for (const s of ['33', '3300', '33O', ' 330', '']) expect(isTfc(s)).toBe(false);
  });
});
