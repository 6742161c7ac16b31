import { IsInt, Max, Min, MinLength } from 'class-validator';
import { principalForToken, safeEqual, bearerToken } from './auth';
import { BaseConfig, ConfigError, loadConfig, parseKeyValueList } from './config';
import { normaliseUkMobile } from '@app/domain';
import { redact, redactDeep } from './redact';

class SampleConfig extends BaseConfig {
  @IsInt() @Min(1) @Max(10)
  WIDGETS = 3;
}

describe('loadConfig', () => {
  it('takes defaults and converts numbers from the environment', () => {
    expect(loadConfig(SampleConfig, {}).WIDGETS).toBe(3);
    expect(loadConfig(SampleConfig, { WIDGETS: '7', PORT: '3101' })).toMatchObject({ WIDGETS: 7, PORT: 3101 });
  });

  it('refuses to boot with a message naming every bad variable', () => {
    let error: unknown;
    try {
      loadConfig(SampleConfig, { WIDGETS: '70', LOG_LEVEL: 'chatty', PORT: 'eighty' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/WIDGETS=70: WIDGETS must not be greater than 10/);
    expect(problems).toMatch(/LOG_LEVEL="chatty"/);
    expect(problems).toMatch(/PORT="eighty"/);
  });

  it('names a bad secret without printing it', () => {
    class SecretConfig extends BaseConfig {
      @MinLength(12)
      ADMIN_PASSWORD = 'long-enough-default';
    }
    expect(() => loadConfig(SecretConfig, { ADMIN_PASSWORD: 'hunter2' })).toThrow(/ADMIN_PASSWORD=\(hidden\)/);
    expect(() => loadConfig(SecretConfig, { ADMIN_PASSWORD: 'hunter2' })).not.toThrow(/hunter2/);
  });

  it('parses per-trust lists', () => {
    expect(parseKeyValueList('RQM=a, RAS=b=c;R1K=d')).toEqual({ RQM: 'a', RAS: 'b=c', R1K: 'd' });
    expect(parseKeyValueList(undefined)).toEqual({});
  });
});

describe('redaction', () => {
  it('removes NHS numbers and UK mobiles from log text, however written', () => {
    const text = 'patient 9990000018 or 999 000 0018 on +447700900123, 07700 900123 and 447700900123';
    const out = redact(text);
    expect(out).not.toMatch(/9990000018|999 000 0018|7700900123|07700 900123/);
    expect(out).toContain('[nhs-number]');
    expect(out).toContain('[phone]');
  });

  it('leaves database ids whole, even one with ten digits in a row, and still removes an NHS number beside one', () => {
    const id = '562b472f-0ecf-446d-a1ea-6a1234567890';
    expect(redact(`write-back ${id} failed`)).toBe(`write-back ${id} failed`);
    expect(redact(`job ${id.toUpperCase()}: patient 9990000018`)).toBe(`job ${id.toUpperCase()}: patient [nhs-number]`);
    expect(redact(`${id}/9990000018`)).toBe(`${id}/[nhs-number]`);
  });

  it('removes a mobile in every form the domain accepts as one (PTL MOBILE_NUMBER, replies), not only E.164', () => {
    const forms = ['+44 (0)7700 900123', '+44(0)7700-900-123', '0044 7700 900123', '00447700900123', '(07700) 900123', '07700.900.123', '+44-7700-900-123', '44 7700 900 123'];
    for (const form of forms) {
      expect(normaliseUkMobile(form)).toBe('+447700900123');
      const out = redact(`MOBILE_NUMBER ${form} refused`);
      expect(out).toBe('MOBILE_NUMBER [phone] refused');
    }
  });

  it('leaves ordinary identifiers alone and walks objects', () => {
    expect(redact('slot 0b1e07a4-0744-7123-4567-89abcdef0123 at 2026-11-23T07:00:00Z, 44 offers in 0.7 s')).toBe('slot 0b1e07a4-0744-7123-4567-89abcdef0123 at 2026-11-23T07:00:00Z, 44 offers in 0.7 s');
    expect(redact('slot 3f2a-11 wave 2 took 1200 ms')).toBe('slot 3f2a-11 wave 2 took 1200 ms');
    expect(redactDeep({ a: { b: ['9990000018'] } })).toEqual({ a: { b: ['[nhs-number]'] } });
  });
});

describe('bearer tokens', () => {
  it('compares exactly and maps a token to its one principal', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
    const tokens = { RQM: 'token-rqm', RYJ: 'token-ryj' };
    expect(principalForToken(tokens, 'token-ryj')).toBe('RYJ');
    expect(principalForToken(tokens, 'token-x')).toBeNull();
    expect(principalForToken(tokens, null)).toBeNull();
    expect(bearerToken('Bearer  abc ')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeNull();
  });
});
