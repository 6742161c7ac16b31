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

  it('has OpenID Connect off unless configured, and checks its settings at boot', () => {
    expect(load({}).oidcEnabled()).toBe(false);
    const oidc = { OIDC_ISSUER: 'https://login.example.nhs.uk/realms/x', OIDC_CLIENT_ID: 'dash', OIDC_CLIENT_SECRET: 's3cret', OIDC_REDIRECT_URL: 'https://dash.example/sign-in/oidc/callback' };
    expect(load(oidc).oidcEnabled()).toBe(true);
    expect(() => load({ OIDC_ISSUER: oidc.OIDC_ISSUER })).toThrow(/needs OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URL/);
    expect(() => load({ ...oidc, OIDC_ISSUER: 'not a url' })).toThrow(/OIDC_ISSUER is not a URL/);
    expect(() => load({ ...oidc, OIDC_ISSUER: 'http://idp.example' })).toThrow(/must be https/);
    expect(load({ ...oidc, OIDC_ISSUER: 'http://127.0.0.1:4000' }).oidcEnabled()).toBe(true);
    expect(() => load({ ...oidc, NODE_ENV: 'production', OIDC_ISSUER: 'http://127.0.0.1:4000' })).toThrow(/must be https/);
    expect(() => load({ ...oidc, OIDC_REDIRECT_URL: 'https://dash.example/callback' })).toThrow(/sign-in\/oidc\/callback/);
    expect(() => load({ ...oidc, OIDC_SCOPES: 'email' })).toThrow(/openid/);
    expect(() => load({ ...oidc, OIDC_ROLE_CLAIM: 'roles' })).toThrow(/go together/);
    expect(() => load({ ...oidc, OIDC_ROLE_CLAIM: 'roles', OIDC_ROLE_MAP: 'x=root' })).toThrow(/OIDC_ROLE_MAP/);
  });
});
