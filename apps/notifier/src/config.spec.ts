import { ConfigError, loadConfig } from '@app/platform';
import { SMS_TEMPLATES, SmsKind, templateById } from '@app/contracts';
import { NotifierConfig, TEMPLATE_SETTINGS } from './config';

const KINDS = Object.keys(SMS_TEMPLATES) as SmsKind[];
/** Template ids of a live Notify service: its own, not the sandbox's. */
const liveTemplates = Object.fromEntries(KINDS.map((k, i) => [TEMPLATE_SETTINGS[k], `6c1d2a8e-0b7f-4e53-9a1c-${String(i + 1).padStart(12, '0')}`]));

const live = {
  NODE_ENV: 'production',
  NOTIFY_BASE_URL: 'https://api.notifications.service.gov.uk',
  NOTIFY_API_KEY: 'live-0000-key',
  NOTIFY_CALLBACK_TOKEN: 'a-long-random-callback-token',
  ...liveTemplates,
};

describe('NotifierConfig in production', () => {
  it('starts with a live key, its own callback token, its own templates and Notify over HTTPS', () => {
    expect(() => loadConfig(NotifierConfig, live).check()).not.toThrow();
  });

  it.each([
    ['NOTIFY_CALLBACK_TOKEN', { NOTIFY_CALLBACK_TOKEN: undefined }, /NOTIFY_CALLBACK_TOKEN must be set/],
    ['NOTIFY_API_KEY', { NOTIFY_API_KEY: undefined }, /NOTIFY_API_KEY must be set/],
    ['NOTIFY_BASE_URL', { NOTIFY_BASE_URL: 'http://127.0.0.1:3300' }, /NOTIFY_BASE_URL must be an https:\/\/ address/],
    ['NOTIFY_TEMPLATE_OFFER', { NOTIFY_TEMPLATE_OFFER: undefined }, /NOTIFY_TEMPLATE_OFFER must be set to the id of the offer template/],
    ['NOTIFY_TEMPLATE_BOOKING_FAILED', { NOTIFY_TEMPLATE_BOOKING_FAILED: SMS_TEMPLATES.booking_failed.id.toUpperCase() }, /NOTIFY_TEMPLATE_BOOKING_FAILED must be set/],
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
    // One setting for every kind of text the notifier sends, each named.
    for (const kind of KINDS) expect(error?.message).toContain(`${TEMPLATE_SETTINGS[kind]} must be set`);
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

describe('NotifierConfig template ids', () => {
  it("sends each kind with its own setting's template", () => {
    const config = loadConfig(NotifierConfig, live);
    for (const kind of KINDS) expect(config.templateId(kind)).toBe(liveTemplates[TEMPLATE_SETTINGS[kind]]);
  });

  it('defaults to the sandbox templates notify-sim renders, each for its own kind', () => {
    const config = loadConfig(NotifierConfig, {});
    for (const kind of KINDS) expect(templateById(config.templateId(kind))?.kind).toBe(kind);
  });

  it('refuses at boot a template id that is not a UUID, naming its setting', () => {
    expect(() => loadConfig(NotifierConfig, { NOTIFY_TEMPLATE_TAKEN: '<taken template id>' })).toThrow(/NOTIFY_TEMPLATE_TAKEN=.*must be a Notify template id/);
  });

  it('refuses two kinds sharing one template, in any environment', () => {
    const env = { NODE_ENV: 'development', NOTIFY_TEMPLATE_EXPIRED: SMS_TEMPLATES.taken.id };
    expect(() => loadConfig(NotifierConfig, env).check()).toThrow(/NOTIFY_TEMPLATE_EXPIRED is the same template as NOTIFY_TEMPLATE_TAKEN/);
  });
});
