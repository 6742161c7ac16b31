import { DomainError } from './errors';
import { assertValidPolicy, DEFAULT_POLICY, effectiveWaveSize, MatchingPolicy, parseQuietHours, policyProblems } from './policy';

describe('DEFAULT_POLICY', () => {
  it('is the contract default configuration', () => {
    expect(DEFAULT_POLICY).toEqual({
      version: 1,
      waveSize: 3,
      offerTtlMinutes: 120,
      minNoticeHours: 24,
      minGainDays: 7,
      quietHours: { start: '20:00', end: '08:00' },
      strategy: 'broadcast',
      timeZone: 'Europe/London',
    });
    expect(policyProblems(DEFAULT_POLICY)).toEqual([]);
  });

  it('cannot be changed by accident', () => {
    expect(Object.isFrozen(DEFAULT_POLICY)).toBe(true);
    expect(Object.isFrozen(DEFAULT_POLICY.quietHours)).toBe(true);
  });
});

describe('parseQuietHours', () => {
  it.each([
    ['20:00-08:00', { start: '20:00', end: '08:00' }],
    [' 21:30 - 07:15 ', { start: '21:30', end: '07:15' }],
    ['00:00-06:00', { start: '00:00', end: '06:00' }],
    ['12:00-13:00', { start: '12:00', end: '13:00' }],
  ])('%p', (s, expected) => {
    expect(parseQuietHours(s)).toEqual(expected);
  });

  it('takes empty or absent as no quiet hours', () => {
    expect(parseQuietHours('')).toBeNull();
    expect(parseQuietHours('   ')).toBeNull();
    expect(parseQuietHours(undefined)).toBeNull();
  });

  it.each(['20:00', '8:00-20:00', '20:00-24:00', '25:00-08:00', '20:60-08:00', '20.00-08.00', '20:00–08:00', 'night', '08:00-08:00'])(
    'throws a DomainError for %p rather than silently allowing night-time texts',
    (s) => {
      expect(() => parseQuietHours(s)).toThrow(DomainError);
      try {
        parseQuietHours(s);
      } catch (e) {
        expect((e as DomainError).code).toBe('invalid-quiet-hours');
      }
    },
  );
});

describe('effectiveWaveSize', () => {
  it('is the wave size when broadcasting and one when sequential', () => {
    expect(effectiveWaveSize({ ...DEFAULT_POLICY, waveSize: 5 })).toBe(5);
    expect(effectiveWaveSize({ ...DEFAULT_POLICY, waveSize: 5, strategy: 'sequential' })).toBe(1);
  });
});

describe('policy validation', () => {
  it('lists every problem', () => {
    const bad: MatchingPolicy = {
      ...DEFAULT_POLICY,
      version: 0,
      waveSize: 0,
      offerTtlMinutes: 0,
      minNoticeHours: -1,
      minGainDays: Number.NaN,
      quietHours: { start: '20:00', end: '20:00' },
      strategy: 'lottery' as never,
      timeZone: 'Europe/Londres',
    };
    expect(policyProblems(bad)).toHaveLength(8);
    expect(() => assertValidPolicy(bad)).toThrow(/waveSize must be a positive integer/);
    expect(assertValidPolicy(DEFAULT_POLICY)).toBe(DEFAULT_POLICY);
  });
});
