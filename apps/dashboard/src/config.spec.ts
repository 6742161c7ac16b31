import { loadConfig } from '@app/platform';
import { DashboardConfig } from './config';

const load = (env: Record<string, string>) => loadConfig(DashboardConfig, env).check();

describe('dashboard configuration', () => {
  it('has demo accounts and plain cookies in development only', () => {
    const dev = load({});
    expect(dev.demoAccounts()).toBe(true);
    expect(dev.cookieSecure()).toBe(false);
    const prod = load({ NODE_ENV: 'production' });
    expect(prod.demoAccounts()).toBe(false);
    expect(prod.cookieSecure()).toBe(true);
  });

  it('refuses sandbox shortcuts in production', () => {
    expect(() => load({ NODE_ENV: 'production', DASHBOARD_DEMO_ACCOUNTS: '1' })).toThrow(/DASHBOARD_DEMO_ACCOUNTS/);
    expect(() => load({ NODE_ENV: 'production', COOKIE_SECURE: 'false' })).toThrow(/COOKIE_SECURE/);
    expect(() => load({ NODE_ENV: 'production', PASSWORD_COST_LOG2: '12' })).toThrow(/PASSWORD_COST_LOG2/);
  });

  it('wants the first administrator\'s email and password together, and a long password', () => {
    expect(() => load({ DASHBOARD_ADMIN_EMAIL: 'a@nhs.net' })).toThrow(/go together/);
    expect(() => load({ DASHBOARD_ADMIN_EMAIL: 'a@nhs.net', DASHBOARD_ADMIN_PASSWORD: 'short' })).toThrow(/DASHBOARD_ADMIN_PASSWORD/);
  });
});
