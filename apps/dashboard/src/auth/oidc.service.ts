/**
 * OpenID Connect sign-in (authorization code flow with PKCE) through `openid-client`: the issuer's
 * metadata by discovery, `state` and `nonce` checked, the ID token's issuer, audience, expiry and
 * signature verified (signatures against the issuer's JWKS: `enableNonRepudiationChecks`, not only
 * TLS). The person then becomes a dashboard principal by oidc-mapping.ts, or is refused; every
 * outcome is audited like a local sign-in.
 *
 * `openid-client` is an ES module: loaded on first use (Node ≥ 20.19 requires ES modules), so
 * nothing loads it when OIDC is off.
 */
import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { IcsDirectory, errorMessage } from '@app/platform';
import type * as Client from 'openid-client';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit.service';
import { DashboardConfig } from '../config';
import { Principal } from './access';
import { toPrincipal } from './accounts.service';
import { emailFromClaims, parseRoleMap, roleFromClaims, RoleRule } from './oidc-mapping';

/** What the browser carries (in a short-lived cookie) between the redirect out and the callback. */
export interface OidcPending { state: string; nonce: string; verifier: string; next: string }

export type OidcOutcome = { ok: true; principal: Principal } | { ok: false; why: string; email: string | null };

/** openid-client's error, its code and what it was about (the claim, the parameter), without any token. */
function describe(e: unknown): string {
  const err = e as Error & { code?: string; cause?: { message?: string; claim?: string; code?: string } | unknown };
  const cause = err.cause as { message?: string; claim?: string; code?: string } | undefined;
  const parts = [err.message, err.code, cause?.claim ? `claim ${cause.claim}` : undefined, cause?.code, cause instanceof Error ? cause.message : undefined];
  return [...new Set(parts.filter((x): x is string => typeof x === 'string' && !!x))].join('; ');
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

@Injectable()
export class OidcService implements OnApplicationBootstrap {
  private readonly logger = new Logger('oidc');
  private readonly rules: RoleRule[];
  private client?: Promise<{ lib: typeof Client; config: Client.Configuration }>;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly config: DashboardConfig,
    private readonly audit: AuditService,
    private readonly ics: IcsDirectory,
  ) {
    this.rules = config.OIDC_ROLE_MAP ? parseRoleMap(config.OIDC_ROLE_MAP) : [];
  }

  enabled(): boolean {
    return this.config.oidcEnabled();
  }

  /** Discovery at boot, without holding the boot up: local sign-in works while the issuer is away. */
  onApplicationBootstrap(): void {
    if (!this.enabled()) return;
    this.setup().catch((e) => this.logger.warn(`OIDC discovery at ${this.config.OIDC_ISSUER} failed (will retry at the next sign-in): ${errorMessage(e)}`));
  }

  private setup() {
    this.client ??= (async () => {
      const lib = await import('openid-client');
      const insecure = this.config.NODE_ENV !== 'production' && new URL(this.config.OIDC_ISSUER!).protocol === 'http:' && LOOPBACK.test(new URL(this.config.OIDC_ISSUER!).hostname);
      const config = await lib.discovery(
        new URL(this.config.OIDC_ISSUER!), this.config.OIDC_CLIENT_ID!, { id_token_signed_response_alg: 'RS256' },
        lib.ClientSecretBasic(this.config.OIDC_CLIENT_SECRET!),
        { execute: [lib.enableNonRepudiationChecks, ...(insecure ? [lib.allowInsecureRequests] : [])] },
      );
      return { lib, config };
    })();
    this.client.catch(() => (this.client = undefined));
    return this.client;
  }

  /** Where to send the browser, and what to remember for the callback. */
  async start(next: string): Promise<{ url: string; pending: OidcPending }> {
    const { lib, config } = await this.setup();
    const pending: OidcPending = { state: lib.randomState(), nonce: lib.randomNonce(), verifier: lib.randomPKCECodeVerifier(), next };
    const url = lib.buildAuthorizationUrl(config, {
      redirect_uri: this.config.OIDC_REDIRECT_URL!, scope: this.config.OIDC_SCOPES, response_type: 'code',
      code_challenge: await lib.calculatePKCECodeChallenge(pending.verifier), code_challenge_method: 'S256',
      state: pending.state, nonce: pending.nonce,
    });
    return { url: url.href, pending };
  }

  /** The callback: code for tokens (all checks), then the person to a principal or a refusal. Audited either way. */
  async finish(query: string, pending: OidcPending | null, ip: string | null): Promise<OidcOutcome> {
    let claims: Record<string, unknown>;
    try {
      if (!pending) throw new Error('no sign-in in progress in this browser (missing or expired state cookie)');
      const { lib, config } = await this.setup();
      const current = new URL(this.config.OIDC_REDIRECT_URL!);
      current.search = query;
      const tokens = await lib.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: pending.verifier, expectedState: pending.state, expectedNonce: pending.nonce, idTokenExpected: true,
      });
      claims = { ...tokens.claims()! };
    } catch (e) {
      const why = `OIDC: ${describe(e)}`.slice(0, 300);
      await this.audit.record(null, { action: 'sign-in-failed', detail: { method: 'oidc', why }, ip });
      return { ok: false, why, email: null };
    }
    return this.admit(claims, ip);
  }

  /** Verified claims → a dashboard account (found, linked or created) or a refusal. */
  private async admit(claims: Record<string, unknown>, ip: string | null): Promise<OidcOutcome> {
    const issuer = String(claims.iss);
    const sub = String(claims.sub);
    const email = emailFromClaims(claims, this.config.OIDC_EMAIL_CLAIM);
    const name = typeof claims.name === 'string' && claims.name.trim() ? claims.name.trim().slice(0, 100) : email ?? 'NHS identity';
    const refuse = async (why: string, targetId?: string) => {
      await this.audit.record({ email: email ?? `oidc:${sub}` }, { action: 'sign-in-failed', targetType: targetId ? 'user' : undefined, targetId, detail: { method: 'oidc', issuer, why }, ip });
      return { ok: false as const, why, email };
    };
    return this.ds.transaction(async (tx) => {
      const linked = await tx.query(`SELECT * FROM dashboard_user WHERE oidc_issuer = $1 AND oidc_subject = $2 FOR UPDATE`, [issuer, sub]);
      const byEmail = !linked.length && email ? await tx.query(`SELECT * FROM dashboard_user WHERE email = $1 FOR UPDATE`, [email]) : [];
      let user = linked[0] ?? byEmail[0];
      if (user?.oidc_subject && !linked.length) return refuse('the account with this email is linked to another identity', user.id);
      if (user?.disabled) return refuse('account disabled', user.id);
      const mapped = roleFromClaims(claims, { roleClaim: this.config.OIDC_ROLE_CLAIM, rules: this.rules, trustClaim: this.config.OIDC_TRUST_CLAIM, isTrust: (ods) => !!this.ics.trust(ods) });
      let matchedBy: string;
      if (user && user.auth_source === 'local') {
        matchedBy = linked.length ? 'subject' : 'email';
        [user] = await tx.query(
          `WITH u AS (UPDATE dashboard_user SET oidc_issuer = $2, oidc_subject = $3, failed_attempts = 0, last_sign_in_at = now(), updated_at = now() WHERE id = $1 RETURNING *) SELECT * FROM u`,
          [user.id, issuer, sub],
        );
      } else if (mapped.ok && user) {
        matchedBy = 'role claim';
        [user] = await tx.query(
          `WITH u AS (UPDATE dashboard_user SET role = $2, trust_ods = $3, display_name = $4, last_sign_in_at = now(), updated_at = now() WHERE id = $1 RETURNING *) SELECT * FROM u`,
          [user.id, mapped.role, mapped.trustOds, name],
        );
      } else if (mapped.ok) {
        if (!email) return refuse('the identity provider gave no usable email address');
        matchedBy = 'role claim';
        const created = await tx.query(
          `INSERT INTO dashboard_user (email, display_name, role, trust_ods, password_hash, auth_source, oidc_issuer, oidc_subject, last_sign_in_at)
           VALUES ($1, $2, $3, $4, 'oidc', 'oidc', $5, $6, now()) ON CONFLICT DO NOTHING RETURNING *`,
          [email, name, mapped.role, mapped.trustOds, issuer, sub],
        );
        if (!created.length) return refuse('an account with this email already exists');
        user = created[0];
        await this.audit.record(toPrincipal(user), { action: 'create-user', targetType: 'user', targetId: user.id, detail: { method: 'oidc', role: mapped.role, trustOds: mapped.trustOds }, ip }, tx);
      } else {
        return refuse(user ? `role no longer given by the identity provider: ${mapped.why}` : mapped.why, user?.id);
      }
      const principal = toPrincipal(user);
      await this.audit.record(principal, { action: 'sign-in', targetType: 'user', targetId: user.id, detail: { method: 'oidc', issuer, matchedBy }, ip }, tx);
      return { ok: true as const, principal };
    });
  }
}
