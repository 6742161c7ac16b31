import { ConfigError, loadConfig } from '@app/platform';
import { NotifierConfig } from './config';

const live = {
  NODE_ENV: 'production',
  NOTIFY_BASE_URL: 'https://api.notifications.service.gov.uk',
  NOTIFY_API_KEY: 'live-0000-key',
  NOTIFY_CALLBACK_TOKEN: 'a-long-random-callback-token',
};

describe('NotifierConfig in production', () => {
  it('starts with a live key, its own callback token and Notify over HTTPS', () => {
    expect(() => loadConfig(NotifierConfig, live).check()).not.toThrow();
  });

  it.each([
    ['NOTIFY_CALLBACK_TOKEN', { NOTIFY_CALLBACK_TOKEN: undefined }, /NOTIFY_CALLBACK_TOKEN must be set/],
    ['NOTIFY_API_KEY', { NOTIFY_API_KEY: undefined }, /NOTIFY_API_KEY must be set/],
    ['NOTIFY_BASE_URL', { NOTIFY_BASE_URL: 'http://127.0.0.1:3300' }, /NOTIFY_BASE_URL must be an https:\/\/ address/],
  ])('refuses to start when %s is the sandbox default', (_name, change, message) => {
    const env = { ...live, ...change } as NodeJS.ProcessEnv;
    expect(() => loadConfig(NotifierConfig, env).check()).toThrow(ConfigError);
    expect(() => loadConfig(NotifierConfig, env).check()).toThrow(message);
  });

  it('names every problem at once, and never prints a secret', () => {
    let error: Error | undefined;
    try {
      loadConfig(NotifierConfig, { NODE_ENV: 'production' }).check();
    } catch (e) {
      error = e as Error;
    }
    expect(error?.message).toMatch(/NOTIFY_API_KEY/);
    expect(error?.message).toMatch(/NOTIFY_CALLBACK_TOKEN/);
    expect(error?.message).toMatch(/NOTIFY_BASE_URL/);
    expect(error?.message).not.toContain('dev-notify-callback-token');
  });

  it('keeps the sandbox defaults outside production', () => {
    expect(() => loadConfig(NotifierConfig, { NODE_ENV: 'development' }).check()).not.toThrow();
  });
});

describe('NotifierConfig: the send settle time and the send sweep', () => {
  it('defaults to 30 s past the timeout before a send Notify did not answer is looked up, and a sweep a minute', () => {
    expect(loadConfig(NotifierConfig, {})).toMatchObject({ NOTIFY_SEND_SETTLE_MS: 30_000, SMS_SWEEP_MS: 60_000 });
    expect(loadConfig(NotifierConfig, { NOTIFY_SEND_SETTLE_MS: '0', SMS_SWEEP_MS: '1000' })).toMatchObject({ NOTIFY_SEND_SETTLE_MS: 0, SMS_SWEEP_MS: 1000 });
  });

  it.each([
    ['NOTIFY_SEND_SETTLE_MS', '-1'], ['NOTIFY_SEND_SETTLE_MS', '600001'], ['NOTIFY_SEND_SETTLE_MS', 'soon'],
    ['SMS_SWEEP_MS', '999'], ['SMS_SWEEP_MS', '3600001'],
  ])('refuses %s=%s', (name, value) => {
    expect(() => loadConfig(NotifierConfig, { [name]: value })).toThrow(new RegExp(name));
  });
});
