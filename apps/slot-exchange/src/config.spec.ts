import { loadConfig } from '@app/platform';
import { ExchangeConfig } from './config';

describe('ExchangeConfig MATCHING_SWEEP_MS', () => {
  it('defaults to a minute and takes a value from the environment', () => {
    expect(loadConfig(ExchangeConfig, {}).MATCHING_SWEEP_MS).toBe(60_000);
    expect(loadConfig(ExchangeConfig, { MATCHING_SWEEP_MS: '30000' }).MATCHING_SWEEP_MS).toBe(30_000);
  });

  it('refuses a sweep more often than every second (it would hammer Postgres and Redis) or less often than hourly, and a non-number', () => {
    for (const bad of ['500', '3600001', 'soon']) expect(() => loadConfig(ExchangeConfig, { MATCHING_SWEEP_MS: bad })).toThrow(/MATCHING_SWEEP_MS/);
  });
});

describe('ExchangeConfig MATCHING_SWEEP_GRACE_MS', () => {
  it('defaults to two minutes and takes a value from the environment', () => {
    expect(loadConfig(ExchangeConfig, {}).MATCHING_SWEEP_GRACE_MS).toBe(120_000);
    expect(loadConfig(ExchangeConfig, { MATCHING_SWEEP_GRACE_MS: '1000' }).MATCHING_SWEEP_GRACE_MS).toBe(1_000);
  });

  it('refuses a grace under a second or over an hour, and a non-number', () => {
    for (const bad of ['999', '0', '-1', '3600001', 'soon']) expect(() => loadConfig(ExchangeConfig, { MATCHING_SWEEP_GRACE_MS: bad })).toThrow(/MATCHING_SWEEP_GRACE_MS/);
  });
});
