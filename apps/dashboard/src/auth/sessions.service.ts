/**
 * Server-side sessions. The browser holds a random 256-bit token in an HttpOnly, SameSite=Strict
 * cookie (Secure and `__Host-` in production); the database holds only its SHA-256, with the
 * session's CSRF token. Sessions end after SESSION_IDLE_MINUTES without a request, and in any case
 * SESSION_MAX_HOURS after sign-in.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash, randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { DashboardConfig } from '../config';
import { Principal } from './access';
import { toPrincipal } from './accounts.service';

export interface Session {
  principal: Principal;
  csrfToken: string;
  tokenHash: string;
}

const hash = (token: string) => createHash('sha256').update(token).digest('hex');
export const randomToken = () => randomBytes(32).toString('base64url');

@Injectable()
export class SessionsService {
  constructor(@InjectDataSource() private readonly ds: DataSource, private readonly config: DashboardConfig) {}

  cookieName(): string {
    return this.config.cookieSecure() ? '__Host-dashboard_session' : 'dashboard_session';
  }

  cookieOptions(maxAgeMs?: number) {
    return { httpOnly: true, secure: this.config.cookieSecure(), sameSite: 'strict' as const, path: '/', ...(maxAgeMs !== undefined ? { maxAge: maxAgeMs } : {}) };
  }

  /** A new session for a signed-in user; returns the cookie value. */
  async create(userId: string): Promise<string> {
    const token = randomToken();
    await this.ds.query(
      `INSERT INTO dashboard_session (token_hash, user_id, csrf_token, expires_at) VALUES ($1, $2, $3, now() + make_interval(mins => $4))`,
      [hash(token), userId, randomToken(), this.config.SESSION_IDLE_MINUTES],
    );
    // Expired sessions of anyone are cleared now and then, here rather than on a timer.
    await this.ds.query(`DELETE FROM dashboard_session WHERE expires_at < now() - interval '1 day'`);
    return token;
  }

  /**
   * The live session for a cookie value, sliding its idle expiry; null when there is none. With
   * `activity: false` (a page's own polling, not a person), the same check without sliding it.
   */
  async resolve(token: string | undefined, opts: { activity?: boolean } = {}): Promise<Session | null> {
    if (!token || token.length > 100) return null;
    const tokenHash = hash(token);
    const session = opts.activity === false
      ? `SELECT user_id, csrf_token FROM dashboard_session WHERE token_hash = $1 AND expires_at > now()`
      : `UPDATE dashboard_session SET last_seen_at = now(),
                expires_at = LEAST(now() + make_interval(mins => $2), created_at + make_interval(hours => $3))
          WHERE token_hash = $1 AND expires_at > now()
          RETURNING user_id, csrf_token`;
    const rows = await this.ds.query(
      `WITH s AS (${session})
       SELECT u.id, u.email, u.display_name, u.role, u.trust_ods, s.csrf_token
         FROM s JOIN dashboard_user u ON u.id = s.user_id WHERE NOT u.disabled`,
      opts.activity === false ? [tokenHash] : [tokenHash, this.config.SESSION_IDLE_MINUTES, this.config.SESSION_MAX_HOURS],
    );
    return rows[0] ? { principal: toPrincipal(rows[0]), csrfToken: rows[0].csrf_token, tokenHash } : null;
  }

  /**
   * Of these sessions, the ones still signed in, with whom they are now: the check `resolve`
   * makes (not signed out, not expired, account not disabled), without counting it as activity,
   * so a dashboard left open on a live stream still times out when nobody uses it.
   */
  async stillSignedIn(tokenHashes: string[]): Promise<Map<string, Principal>> {
    const rows = await this.ds.query(
      `SELECT s.token_hash, u.id, u.email, u.display_name, u.role, u.trust_ods
         FROM dashboard_session s JOIN dashboard_user u ON u.id = s.user_id
        WHERE s.token_hash = ANY($1) AND s.expires_at > now() AND NOT u.disabled`,
      [tokenHashes],
    );
    return new Map(rows.map((r: { token_hash: string }) => [r.token_hash, toPrincipal(r as never)]));
  }

  async destroy(tokenHash: string): Promise<void> {
    await this.ds.query(`DELETE FROM dashboard_session WHERE token_hash = $1`, [tokenHash]);
  }
}

/** Reads one cookie from a Cookie header (RFC 6265 pairs; values are our own base64url tokens). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}
