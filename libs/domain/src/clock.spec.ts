import { DomainError } from './errors';
import { FixedClock } from './clock';

describe('FixedClock', () => {
  const start = new Date('2026-11-23T09:00:00Z');

  it('reads the instant it was given', () => {
    expect(new FixedClock(start).now().toISOString()).toBe('2026-11-23T09:00:00.000Z');
  });

  it('moves only when advanced or set', () => {
    const clock = new FixedClock(start);
    clock.advance(90 * 60_000);
    expect(clock.now().toISOString()).toBe('2026-11-23T10:30:00.000Z');
    clock.advance(-30 * 60_000);
    expect(clock.now().toISOString()).toBe('2026-11-23T10:00:00.000Z');
    clock.set(new Date('2027-01-01T00:00:00Z'));
    expect(clock.now().toISOString()).toBe('2027-01-01T00:00:00.000Z');
  });

  it('cannot be moved by mutating what it handed out or what it was given', () => {
    const given = new Date(start.getTime());
    const clock = new FixedClock(given);
    given.setUTCFullYear(2000);
    clock.now().setUTCFullYear(1999);
    expect(clock.now().toISOString()).toBe('2026-11-23T09:00:00.000Z');
  });

  it('refuses an invalid date or step', () => {
    expect(() => new FixedClock(new Date('nonsense'))).toThrow(DomainError);
    const clock = new FixedClock(start);
    expect(() => clock.set(new Date(Number.NaN))).toThrow(DomainError);
    expect(() => clock.advance(Number.POSITIVE_INFINITY)).toThrow(DomainError);
    expect(clock.now().toISOString()).toBe('2026-11-23T09:00:00.000Z');
  });
});

describe('DomainError', () => {
  it('carries a code and is an Error', () => {
    const e = new DomainError('invalid-policy', 'bad');
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('invalid-policy');
    expect(e.message).toBe('bad');
    expect(e.name).toBe('DomainError');
  });
});
