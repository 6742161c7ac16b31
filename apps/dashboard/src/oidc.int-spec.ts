/**
 * OpenID Connect sign-in end to end over HTTP: the built dashboard (dist/, as deployed) against a
 * real OpenID provider (oidc-provider, testing/local-idp.mjs) on a loopback port. Proves the full
 * authorization code flow with PKCE, that a wrong state, nonce, audience, issuer, signature or an
 * expired ID token is refused, that unknown people are refused with a clear page, that people are
 * mapped to a role by email or by role claim, and that every outcome is in the audit log.
 */
import { createTestDatabase, TestDatabase } from '@app/persistence';
import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { Client } from 'pg';
import { Stack, startStack } from '../../../tools/stack/processes';

jest.setTimeout(120_000);

// Below the ephemeral port range (32768 and up), so no client connection can already hold it.
const OFFSET = 28_000;
const IDP_PORT = OFFSET + 3990;
const DASHBOARD = `http://127.0.0.1:${OFFSET + 3001}`;
const IDP = `http://127.0.0.1:${IDP_PORT}`;
const REDIRECT = `${DASHBOARD}/sign-in/oidc/callback`;
const ACCOUNTS = {
  alice: { email: 'alice.ops@nhs.net', email_verified: true, name: 'Alice Ops', roles: ['Dashboard.Ops'] },
  victor: { email: 'victor@ras.nhs.uk', email_verified: true, name: 'Victor Viewer', roles: ['Trust.Viewer'], ods: 'RAS' },
  ada: { email: 'ada@ics.nhs.uk', email_verified: true, name: 'Ada Admin', roles: ['Trust.Viewer', 'Dashboard.Admin'], ods: 'RQM' },
  // No role claim: admitted only because a dashboard account with this email exists (a demo account).
  demoOps: { email: 'ops@ics.example', email_verified: true, name: 'Ops via IdP' },
  mallory: { email: 'mallory@elsewhere.example', email_verified: true, name: 'Mallory', roles: ['Something.Else'] },
};

let db: TestDatabase;
let pg: Client;
let stack: Stack;
let idp: ChildProcess;

/** A browser's cookie jar for one host (cookies are not told apart by port). */
class Browser {
  jar = new Map<string, string>();

  async get(url: string): Promise<Response> {
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: [...this.jar].map(([k, v]) => `${k}=${v}`).join('; '), accept: 'text/html' } });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const i = pair.indexOf('=');
      const gone = attrs.some((a) => /^\s*(max-age=0|expires=thu, 01 jan 1970)/i.test(a));
      if (gone) this.jar.delete(pair.slice(0, i).trim());
      else this.jar.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
    return res;
  }

  /** Follows redirects (as a browser would) until a page, or until `stopAt` says to stop before a URL. */
  async follow(url: string, stopAt?: (url: string) => boolean): Promise<{ res: Response | null; url: string }> {
    for (let hop = 0; hop < 15; hop++) {
      if (stopAt?.(url)) return { res: null, url };
      const res = await this.get(url);
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || !location) return { res, url };
      url = new URL(location, url).href;
    }
    throw new Error('too many redirects');
  }

  /** The whole sign-in: the button's link, the provider (signed in as `sub`), and back. */
  async signInWithIdp(sub: string, next = '/'): Promise<{ res: Response; url: string }> {
    await fetch(`${IDP}/__next-login?sub=${sub}`);
    const { res, url } = await this.follow(`${DASHBOARD}/sign-in/oidc?next=${encodeURIComponent(next)}`);
    return { res: res!, url };
  }
}

const audit = async (action: string) =>
  (await pg.query(`SELECT user_email, role, action, detail FROM audit_log WHERE action = $1 AND detail->>'method' = 'oidc' ORDER BY id`, [action])).rows;

beforeAll(async () => {
  idp = spawn(process.execPath, [join(__dirname, 'testing', 'local-idp.mjs')], {
    env: { ...process.env, IDP_PORT: String(IDP_PORT), IDP_CLIENT_ID: 'dashboard', IDP_CLIENT_SECRET: 'local-idp-secret-for-tests', IDP_REDIRECT_URI: REDIRECT, IDP_ACCOUNTS: JSON.stringify(ACCOUNTS) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    idp.stdout!.on('data', (b: Buffer) => b.toString().includes('local-idp ready') && resolve());
    idp.once('exit', (code) => reject(new Error(`local IdP exited (${code})`)));
  });
  db = await createTestDatabase('sx_h_dashboard_oidc');
  pg = new Client({ connectionString: db.url });
  await pg.connect();
  const redisUrl = `${(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379').replace(/\/\d+$/, '')}/10`;
  stack = await startStack({
    databaseUrl: db.url, redisUrl, portOffset: OFFSET, apps: ['dashboard'],
    env: {
      LOG_LEVEL: 'warn', PASSWORD_COST_LOG2: '12', DASHBOARD_DEMO_ACCOUNTS: '1',
      OIDC_ISSUER: IDP, OIDC_CLIENT_ID: 'dashboard', OIDC_CLIENT_SECRET: 'local-idp-secret-for-tests', OIDC_REDIRECT_URL: REDIRECT,
      OIDC_SCOPES: 'openid email profile roles', OIDC_BUTTON_TEXT: 'Sign in with Test IdP',
      OIDC_ROLE_CLAIM: 'roles', OIDC_ROLE_MAP: 'Dashboard.Admin=admin,Dashboard.Ops=ics_operations,Trust.Viewer=trust_viewer', OIDC_TRUST_CLAIM: 'ods',
    },
  });
});

afterAll(async () => {
  await stack?.stop();
  idp?.kill('SIGTERM');
  await pg?.end();
  await db?.drop();
});

describe('OpenID Connect sign-in', () => {
  it('shows the button on the sign-in page when configured', async () => {
    const page = await (await fetch(`${DASHBOARD}/sign-in?next=%2Fslots`)).text();
    expect(page).toContain('Sign in with Test IdP');
    expect(page).toContain('href="/sign-in/oidc?next=%2Fslots"');
  });

  it('sends the browser to the provider with PKCE (S256), state and nonce', async () => {
    const res = await new Browser().get(`${DASHBOARD}/sign-in/oidc`);
    expect(res.status).toBe(303);
    const to = new URL(res.headers.get('location')!);
    expect(to.origin).toBe(IDP);
    expect(Object.fromEntries(to.searchParams)).toMatchObject({ client_id: 'dashboard', response_type: 'code', redirect_uri: REDIRECT, code_challenge_method: 'S256' });
    for (const p of ['code_challenge', 'state', 'nonce']) expect(to.searchParams.get(p)).toMatch(/^[\w-]{40,}$/);
  });

  it('signs a person in through the provider, maps their role claim, and audits it', async () => {
    const b = new Browser();
    const { res, url } = await b.signInWithIdp('alice', '/slots');
    expect(url).toBe(`${DASHBOARD}/slots`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('Alice Ops');
    const [user] = (await pg.query(`SELECT role, trust_ods, auth_source, oidc_issuer, oidc_subject, password_hash FROM dashboard_user WHERE email = 'alice.ops@nhs.net'`)).rows;
    expect(user).toEqual({ role: 'ics_operations', trust_ods: null, auth_source: 'oidc', oidc_issuer: IDP, oidc_subject: 'alice', password_hash: 'oidc' });
    // ICS operations: failures yes, the audit log no.
    expect((await b.get(`${DASHBOARD}/failures`)).status).toBe(200);
    expect((await b.get(`${DASHBOARD}/audit`)).status).toBe(403);
    expect(await audit('sign-in')).toEqual([expect.objectContaining({ user_email: 'alice.ops@nhs.net', role: 'ics_operations', detail: expect.objectContaining({ issuer: IDP, matchedBy: 'role claim' }) })]);
    // Such an account has no password: the local form never lets it in.
    const form = await b.get(`${DASHBOARD}/sign-in`);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1];
    const local = await fetch(`${DASHBOARD}/sign-in`, {
      method: 'POST', redirect: 'manual', headers: { cookie: `dashboard_signin_csrf=${b.jar.get('dashboard_signin_csrf')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, email: 'alice.ops@nhs.net', password: 'oidc' }).toString(),
    });
    expect(local.status).toBe(401);
  });

  it('makes a trust viewer of the trust in the ODS claim, and gives the highest mapped role', async () => {
    const v = new Browser();
    expect((await v.signInWithIdp('victor')).url).toBe(`${DASHBOARD}/`);
    expect((await pg.query(`SELECT role, trust_ods FROM dashboard_user WHERE email = 'victor@ras.nhs.uk'`)).rows[0]).toEqual({ role: 'trust_viewer', trust_ods: 'RAS' });
    expect((await v.get(`${DASHBOARD}/failures`)).status).toBe(403);
    const a = new Browser();
    expect((await a.signInWithIdp('ada')).url).toBe(`${DASHBOARD}/`);
    expect((await pg.query(`SELECT role, trust_ods FROM dashboard_user WHERE email = 'ada@ics.nhs.uk'`)).rows[0]).toEqual({ role: 'admin', trust_ods: null });
    expect((await a.get(`${DASHBOARD}/audit`)).status).toBe(200);
  });

  it('admits a person with an existing dashboard account by email, with that account\'s role, and links the identity', async () => {
    const b = new Browser();
    expect((await b.signInWithIdp('demoOps')).url).toBe(`${DASHBOARD}/`);
    const [user] = (await pg.query(`SELECT role, auth_source, oidc_subject FROM dashboard_user WHERE email = 'ops@ics.example'`)).rows;
    expect(user).toEqual({ role: 'ics_operations', auth_source: 'local', oidc_subject: 'demoOps' });
    expect((await audit('sign-in')).find((r) => r.user_email === 'ops@ics.example')?.detail.matchedBy).toBe('email');
  });

  it('refuses an unknown person with a clear page, audited, and no session', async () => {
    const b = new Browser();
    const { res, url } = await b.signInWithIdp('mallory');
    expect(url).toMatch(/\/sign-in\/oidc\/callback\?/);
    expect(res.status).toBe(403);
    const page = await res.text();
    expect(page).toContain('You do not have access to the ICS slot exchange dashboard');
    expect(page).toContain('mallory@elsewhere.example');
    expect([...b.jar.keys()]).not.toContain('dashboard_session');
    expect((await b.get(`${DASHBOARD}/`)).status).toBe(303);
    expect((await pg.query(`SELECT count(*)::int AS n FROM dashboard_user WHERE email = 'mallory@elsewhere.example'`)).rows[0].n).toBe(0);
    expect((await audit('sign-in-failed')).at(-1)).toMatchObject({ user_email: 'mallory@elsewhere.example', detail: { why: expect.stringContaining('no mapped value in the roles claim') } });
  });

  it('refuses a callback whose state is not the one this browser was sent with', async () => {
    const b = new Browser();
    await fetch(`${IDP}/__next-login?sub=alice`);
    const { url } = await b.follow(`${DASHBOARD}/sign-in/oidc`, (u) => u.startsWith(REDIRECT));
    const forged = new URL(url);
    forged.searchParams.set('state', 'forged-state-value-0123456789');
    const res = await b.get(forged.href);
    expect(res.status).toBe(403);
    expect([...b.jar.keys()]).not.toContain('dashboard_session');
    expect((await audit('sign-in-failed')).at(-1).detail.why).toMatch(/"state"/);
  });

  it('refuses a callback in a browser that never started a sign-in (no state cookie)', async () => {
    await fetch(`${IDP}/__next-login?sub=alice`);
    const { url } = await new Browser().follow(`${DASHBOARD}/sign-in/oidc`, (u) => u.startsWith(REDIRECT));
    const res = await new Browser().get(url);
    expect(res.status).toBe(403);
    expect((await audit('sign-in-failed')).at(-1).detail.why).toMatch(/no sign-in in progress/);
  });

  it.each([
    ['nonce', /"nonce" claim value/],
    ['aud', /"aud" \(audience\) claim value/],
    ['iss', /"iss" \(issuer\) claim value/],
    ['exp', /TIMESTAMP_CHECK/],
    ['sig', /signature verification failed/],
  ])('refuses an ID token with a wrong %s', async (mode, why) => {
    await fetch(`${IDP}/__tamper?mode=${mode}`);
    const b = new Browser();
    const { res } = await b.signInWithIdp('alice');
    expect(res.status).toBe(403);
    expect([...b.jar.keys()]).not.toContain('dashboard_session');
    expect((await audit('sign-in-failed')).at(-1).detail.why).toMatch(why);
  });
});
