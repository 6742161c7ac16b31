import { SANDBOX_DASHBOARD_ACCOUNTS, SANDBOX_DASHBOARD_PASSWORD } from '@app/contracts';
import { DataConfig, EmptyAsUndefined } from '@app/platform';
import { parseRoleMap } from './auth/oidc-mapping';
import { IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min, MinLength } from 'class-validator';

/** Sandbox demo accounts (libs/contracts); production refuses them. */
export const DEMO_DASHBOARD_PASSWORD = SANDBOX_DASHBOARD_PASSWORD;
export const DEMO_ACCOUNTS = SANDBOX_DASHBOARD_ACCOUNTS;

export class DashboardConfig extends DataConfig {
  override SERVICE_NAME = 'dashboard';
  override PORT = 3001;

  /**
   * The demo accounts (DEMO_ACCOUNTS, password DEMO_DASHBOARD_PASSWORD): `auto` = present unless
   * NODE_ENV=production, also with DEMO=0 (no demo patients is not no way in). `1` is refused in
   * production.
   */
  @IsIn(['auto', '0', '1'])
  DASHBOARD_DEMO_ACCOUNTS: 'auto' | '0' | '1' = 'auto';

  demoAccounts(): boolean {
    return this.DASHBOARD_DEMO_ACCOUNTS === 'auto' ? this.NODE_ENV !== 'production' : this.DASHBOARD_DEMO_ACCOUNTS === '1';
  }

  /** First administrator, created when no account exists yet (the only way in on a fresh production database). */
  @IsOptional() @IsString() @EmptyAsUndefined()
  DASHBOARD_ADMIN_EMAIL?: string;

  @IsOptional() @IsString() @MinLength(12) @MaxLength(200) @EmptyAsUndefined()
  DASHBOARD_ADMIN_PASSWORD?: string;

  /** Idle session lifetime; every request extends it up to SESSION_MAX_HOURS from sign-in. */
  @IsInt() @Min(5) @Max(24 * 60)
  SESSION_IDLE_MINUTES = 30;

  @IsInt() @Min(1) @Max(24)
  SESSION_MAX_HOURS = 12;

  /** `auto`: the session cookie is `Secure` (and `__Host-` prefixed) when NODE_ENV=production. */
  @IsIn(['auto', 'true', 'false'])
  COOKIE_SECURE: 'auto' | 'true' | 'false' = 'auto';

  /** Consecutive failed sign-ins before an account is locked, and for how long. */
  @IsInt() @Min(3) @Max(20)
  LOCKOUT_ATTEMPTS = 5;

  @IsInt() @Min(1) @Max(24 * 60)
  LOCKOUT_MINUTES = 15;

  /** log2 of scrypt's cost N for new password hashes (15 = OWASP's floor; production refuses less). */
  @IsInt() @Min(10) @Max(20)
  PASSWORD_COST_LOG2 = 15;

  /** How often the live overview and slot feed are recomputed for connected browsers. */
  @IsInt() @Min(250) @Max(60_000)
  LIVE_INTERVAL_MS = 2000;

  /** How often the slot-facts job folds changed slots into the overview/flows cache (reads stay exact either way). */
  @IsInt() @Min(200) @Max(600_000)
  FACTS_DRAIN_MS = 2000;

  @IsOptional() @IsString() @EmptyAsUndefined()
  ICS_CONFIG_DIR?: string;

  /** Where the trusts' clinic mapping files are (the adapters reload them on change); default `<ICS_CONFIG_DIR>/clinics`. */
  @IsOptional() @IsString() @EmptyAsUndefined()
  CLINIC_MAP_DIR?: string;

  /** `RQM=http://…,RAS=…`: each adapter's HTTP base, to resubmit a refused HL7 message; default from ics.json ports. */
  @IsOptional() @IsString() @EmptyAsUndefined()
  ADAPTER_URLS?: string;

  /** `RQM=token,…`: each adapter's PAS_INBOUND_TOKEN (sandbox defaults `dev-<ODS>-token`). */
  @IsOptional() @IsString() @EmptyAsUndefined()
  ADAPTER_TOKENS?: string;

  /**
   * OpenID Connect sign-in (NHS CIS2, Entra ID…), off unless OIDC_ISSUER is set; then OIDC_CLIENT_ID,
   * OIDC_CLIENT_SECRET and OIDC_REDIRECT_URL (`https://<dashboard>/sign-in/oidc/callback`) are needed.
   */
  @IsOptional() @IsString() @EmptyAsUndefined()
  OIDC_ISSUER?: string;

  @IsOptional() @IsString() @EmptyAsUndefined()
  OIDC_CLIENT_ID?: string;

  @IsOptional() @IsString() @EmptyAsUndefined()
  OIDC_CLIENT_SECRET?: string;

  @IsOptional() @IsString() @EmptyAsUndefined()
  OIDC_REDIRECT_URL?: string;

  @IsString() @MaxLength(500)
  OIDC_SCOPES = 'openid email profile';

  /** The button's words on the sign-in page. */
  @IsString() @MinLength(3) @MaxLength(80)
  OIDC_BUTTON_TEXT = 'Sign in with your NHS organisation account';

  /** The ID token claim holding the person's email address (matched against dashboard accounts). */
  @IsString() @MinLength(1) @MaxLength(100)
  OIDC_EMAIL_CLAIM = 'email';

  /** An ID token claim (string or list) whose values OIDC_ROLE_MAP turns into a dashboard role, e.g. `roles` (Entra app roles). */
  @IsOptional() @IsString() @EmptyAsUndefined()
  OIDC_ROLE_CLAIM?: string;

  /** `claim value=role[@ODS]`, comma-separated: `Dashboard.Admin=admin,Dashboard.Ops=ics_operations,RQM.Viewer=trust_viewer@RQM`. */
  @IsOptional() @IsString() @EmptyAsUndefined()
  OIDC_ROLE_MAP?: string;

  /** An ID token claim with the person's organisation (ODS code): the trust of a trust viewer mapped without `@ODS`. */
  @IsOptional() @IsString() @EmptyAsUndefined()
  OIDC_TRUST_CLAIM?: string;

  oidcEnabled(): boolean {
    return !!this.OIDC_ISSUER;
  }

  cookieSecure(): boolean {
    return this.COOKIE_SECURE === 'auto' ? this.NODE_ENV === 'production' : this.COOKIE_SECURE === 'true';
  }

  /** Refuses sandbox shortcuts in production. */
  check(): this {
    if (this.NODE_ENV === 'production' && this.DASHBOARD_DEMO_ACCOUNTS === '1') {
      throw new Error('DASHBOARD_DEMO_ACCOUNTS=1 is refused with NODE_ENV=production: demo accounts have a published password');
    }
    if (this.NODE_ENV === 'production' && !this.cookieSecure()) {
      throw new Error('COOKIE_SECURE=false is refused with NODE_ENV=production');
    }
    if (this.NODE_ENV === 'production' && this.PASSWORD_COST_LOG2 < 15) {
      throw new Error('PASSWORD_COST_LOG2 below 15 is refused with NODE_ENV=production');
    }
    if (!!this.DASHBOARD_ADMIN_EMAIL !== !!this.DASHBOARD_ADMIN_PASSWORD) {
      throw new Error('DASHBOARD_ADMIN_EMAIL and DASHBOARD_ADMIN_PASSWORD go together');
    }
    if (this.OIDC_ISSUER || this.OIDC_CLIENT_ID || this.OIDC_CLIENT_SECRET || this.OIDC_REDIRECT_URL) {
      checkOidcConfig(this);
    }
    return this;
  }
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

/** OIDC settings all together, well-formed, and HTTPS except on loopback outside production. */
function checkOidcConfig(c: DashboardConfig): void {
  const missing = (['OIDC_ISSUER', 'OIDC_CLIENT_ID', 'OIDC_CLIENT_SECRET', 'OIDC_REDIRECT_URL'] as const).filter((k) => !c[k]);
  if (missing.length) throw new Error(`OpenID Connect sign-in needs ${missing.join(', ')} as well (or none of the OIDC_* settings)`);
  for (const key of ['OIDC_ISSUER', 'OIDC_REDIRECT_URL'] as const) {
    let url: URL;
    try {
      url = new URL(c[key]!);
    } catch {
      throw new Error(`${key} is not a URL`);
    }
    const insecureOk = c.NODE_ENV !== 'production' && LOOPBACK.test(url.hostname);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && insecureOk)) throw new Error(`${key} must be https (http only on loopback outside production)`);
  }
  if (new URL(c.OIDC_REDIRECT_URL!).pathname !== '/sign-in/oidc/callback') throw new Error('OIDC_REDIRECT_URL must end in /sign-in/oidc/callback');
  if (!c.OIDC_SCOPES.split(/\s+/).includes('openid')) throw new Error('OIDC_SCOPES must include openid');
  if (!!c.OIDC_ROLE_CLAIM !== !!c.OIDC_ROLE_MAP) throw new Error('OIDC_ROLE_CLAIM and OIDC_ROLE_MAP go together');
  if (c.OIDC_ROLE_MAP) parseRoleMap(c.OIDC_ROLE_MAP);
}
