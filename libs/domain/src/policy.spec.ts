import { DomainError } from './errors';
import { assertValidPolicy, DEFAULT_POLICY, effectiveWaveSize, MatchingPolicy, parseQuietHours, policyForTfc, policyProblems, policySettings, samePolicySettings } from './policy';

describe('DEFAULT_POLICY', () => {
  it('is the contract default configuration', () => {
    expect(DEFAULT_POLICY).toEqual({
      version: 1,
      waveSize: 3,
      offerTtlMinutes: 120,
      minOfferTtlMinutes: 15,
      minNoticeHours: 24,
      minGainDays: 7,
      quietHours: { start: '20:00', end: '08:00' },
      strategy: 'broadcast',
      timeZone: 'Europe/London',
      tfcOverrides: {},
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

describe('per-specialty overrides and versions', () => {
  const withOverrides = (tfcOverrides: MatchingPolicy['tfcOverrides']): MatchingPolicy => ({ ...DEFAULT_POLICY, tfcOverrides });

  it('lays a TFC override over the ICS-wide settings, keeping the version', () => {
    const p = { ...withOverrides({ '330': { waveSize: 5, strategy: 'sequential' }, '130': { offerTtlMinutes: 30 } }), version: 7 };
    expect(policyForTfc(p, '330')).toMatchObject({ waveSize: 5, strategy: 'sequential', offerTtlMinutes: 120, version: 7 });
    expect(policyForTfc(p, '130')).toMatchObject({ waveSize: 3, offerTtlMinutes: 30, version: 7 });
    expect(policyForTfc(p, '502')).toBe(p);
    expect(effectiveWaveSize(policyForTfc(p, '330'))).toBe(1);
  });

  it('never lets a specialty override the safety rules', () => {
    const sneaky = withOverrides({ '330': { minNoticeHours: 1, quietHours: null } as never });
    expect(policyForTfc(sneaky, '330')).toMatchObject({ minNoticeHours: 24, quietHours: { start: '20:00', end: '08:00' } });
    expect(policyProblems(sneaky)).toEqual(['tfcOverrides.330.minNoticeHours cannot be set per specialty', 'tfcOverrides.330.quietHours cannot be set per specialty']);
  });

  it('validates overrides like the policy itself', () => {
    expect(policyProblems(withOverrides({ '33': { waveSize: 2 } }))).toEqual(['tfcOverrides: "33" is not a 3-digit treatment function code']);
    expect(policyProblems(withOverrides({ '330': { waveSize: 0 } }))).toEqual(['tfcOverrides.330: waveSize must be a positive integer']);
    expect(policyProblems(withOverrides({ '330': { strategy: 'lottery' as never } }))).toEqual(['tfcOverrides.330: strategy must be broadcast or sequential']);
    expect(policyProblems({ ...DEFAULT_POLICY, minOfferTtlMinutes: 0 })).toEqual(['minOfferTtlMinutes must be positive']);
    expect(() => assertValidPolicy(withOverrides({ '330': { offerTtlMinutes: -1 } }))).toThrow(DomainError);
  });

  it('compares settings, not versions or key order, to decide whether a change is a new version', () => {
    const a: MatchingPolicy = { ...DEFAULT_POLICY, version: 1, tfcOverrides: { '330': { waveSize: 5, strategy: 'sequential' } } };
    const b: MatchingPolicy = { ...DEFAULT_POLICY, version: 9, tfcOverrides: { '330': { strategy: 'sequential', waveSize: 5 } } };
    expect(samePolicySettings(a, b)).toBe(true);
    expect(samePolicySettings(a, { ...b, waveSize: 4 })).toBe(false);
    expect(samePolicySettings(a, { ...b, tfcOverrides: {} })).toBe(false);
    // Absent optional settings mean their defaults.
    const { minOfferTtlMinutes: _m, tfcOverrides: _t, ...bare } = DEFAULT_POLICY;
    expect(samePolicySettings(bare as MatchingPolicy, DEFAULT_POLICY)).toBe(true);
    expect(policySettings(bare as MatchingPolicy)).not.toHaveProperty('version');
  });
});
