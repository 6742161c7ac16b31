/**
 * Local operator accounts: sign-in with lockout, the first administrator, the demo accounts, and
 * account administration. Every sign-in attempt, success or not, is audited.
 */
import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { AppError, IcsDirectory } from '@app/platform';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit.service';
import { DashboardConfig, DEMO_ACCOUNTS, DEMO_DASHBOARD_PASSWORD } from '../config';
import { Principal, Role, ROLES } from './access';
import { decoyHash, hashPassword, passwordProblem, verifyPassword } from './password';

export type SignInResult = { ok: true; principal: Principal } | { ok: false; reason: 'invalid' | 'locked' };

interface UserRow {
  id: string;
  email: string;
  display_name: string;
  role: Role;
  trust_ods: string | null;
  password_hash: string;
  failed_attempts: number;
  locked_until: Date | null;
  disabled: boolean;
}

export const toPrincipal = (u: Pick<UserRow, 'id' | 'email' | 'display_name' | 'role' | 'trust_ods'>): Principal => ({
  userId: u.id, email: u.email, displayName: u.display_name, role: u.role, trustOds: u.trust_ods,
});

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

@Injectable()
export class AccountsService implements OnApplicationBootstrap {
  private readonly logger = new Logger('accounts');

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly config: DashboardConfig,
    private readonly audit: AuditService,
    private readonly ics: IcsDirectory,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.demoAccounts()) {
      const existing = new Set<string>((await this.ds.query(`SELECT email FROM dashboard_user`)).map((r: { email: string }) => r.email));
      const missing = DEMO_ACCOUNTS.filter((a) => !existing.has(a.email));
      const hash = missing.length ? await hashPassword(DEMO_DASHBOARD_PASSWORD, this.config.PASSWORD_COST_LOG2) : '';
      for (const a of missing) {
        await this.ds.query(
          `INSERT INTO dashboard_user (email, display_name, role, trust_ods, password_hash) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (email) DO NOTHING`,
          [a.email, a.displayName, a.role, a.trustOds, hash],
        );
      }
    }
    if (this.config.DASHBOARD_ADMIN_EMAIL && this.config.DASHBOARD_ADMIN_PASSWORD) {
      const email = this.config.DASHBOARD_ADMIN_EMAIL.trim().toLowerCase();
      const [{ n }] = await this.ds.query(`SELECT count(*)::int AS n FROM dashboard_user WHERE role = 'admin' AND NOT disabled`);
      if (n === 0) {
        await this.ds.query(
          `INSERT INTO dashboard_user (email, display_name, role, password_hash) VALUES ($1, 'Administrator', 'admin', $2) ON CONFLICT (email) DO NOTHING`,
          [email, await hashPassword(this.config.DASHBOARD_ADMIN_PASSWORD, this.config.PASSWORD_COST_LOG2)],
        );
        this.logger.log('first administrator account created from DASHBOARD_ADMIN_EMAIL');
      }
    }
  }

  async signIn(emailRaw: string, password: string, ip: string | null): Promise<SignInResult> {
    const email = emailRaw.trim().toLowerCase();
    const rows: UserRow[] = await this.ds.query(`SELECT * FROM dashboard_user WHERE email = $1`, [email]);
    const user = rows[0];
    if (!user || user.disabled) {
      await verifyPassword(password, await decoyHash(this.config.PASSWORD_COST_LOG2)); // same work as a real check: timing tells nothing
      await this.audit.record({ email }, { action: 'sign-in-failed', detail: { why: user ? 'disabled' : 'unknown account' }, ip });
      return { ok: false, reason: 'invalid' };
    }
    if (user.locked_until && new Date(user.locked_until) > new Date()) {
      await this.audit.record({ email }, { action: 'sign-in-refused', targetType: 'user', targetId: user.id, detail: { why: 'locked' }, ip });
      return { ok: false, reason: 'locked' };
    }
    if (!(await verifyPassword(password, user.password_hash))) {
      const [after] = await this.ds.query(
        // A CTE, so the driver hands back the RETURNING rows as for a SELECT.
        `WITH u AS (UPDATE dashboard_user SET failed_attempts = failed_attempts + 1,
            locked_until = CASE WHEN failed_attempts + 1 >= $2 THEN now() + make_interval(mins => $3) ELSE locked_until END
          WHERE id = $1 RETURNING failed_attempts, locked_until) SELECT * FROM u`,
        [user.id, this.config.LOCKOUT_ATTEMPTS, this.config.LOCKOUT_MINUTES],
      );
      const locked = after.failed_attempts >= this.config.LOCKOUT_ATTEMPTS;
      await this.audit.record({ email }, { action: locked ? 'account-locked' : 'sign-in-failed', targetType: 'user', targetId: user.id, detail: { failedAttempts: after.failed_attempts }, ip });
      return { ok: false, reason: locked ? 'locked' : 'invalid' };
    }
    await this.ds.query(`UPDATE dashboard_user SET failed_attempts = 0, locked_until = NULL, last_sign_in_at = now() WHERE id = $1`, [user.id]);
    const principal = toPrincipal(user);
    await this.audit.record(principal, { action: 'sign-in', targetType: 'user', targetId: user.id, ip });
    return { ok: true, principal };
  }

  async list(): Promise<Array<Record<string, unknown>>> {
    return this.ds.query(
      `SELECT id, email, display_name, role, trust_ods, disabled, failed_attempts, locked_until > now() AS locked, last_sign_in_at, created_at
         FROM dashboard_user ORDER BY email`,
    );
  }

  /** Validates everything first; a refused account changes nothing. */
  async create(by: Principal, input: { email: string; displayName: string; role: string; trustOds?: string; password: string }, ip: string | null): Promise<string> {
    const email = (input.email ?? '').trim().toLowerCase();
    const problems: string[] = [];
    if (!EMAIL.test(email) || email.length > 254) problems.push('Enter an email address like name@nhs.net');
    if (!input.displayName?.trim() || input.displayName.length > 100) problems.push('Enter a name (up to 100 characters)');
    if (!ROLES.includes(input.role as Role)) problems.push('Choose a role');
    const trust = input.role === 'trust_viewer' ? (input.trustOds ?? '').trim().toUpperCase() : null;
    if (input.role === 'trust_viewer' && !this.ics.trust(trust ?? '')) problems.push('Choose the trust this viewer belongs to');
    const weak = passwordProblem(input.password ?? '', email);
    if (weak) problems.push(weak);
    if (problems.length) throw new AppError('invalid_account', problems.join('. '), 400, problems);
    return this.ds.transaction(async (tx) => {
      const rows = await tx.query(
        `INSERT INTO dashboard_user (email, display_name, role, trust_ods, password_hash) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (email) DO NOTHING RETURNING id`,
        [email, input.displayName.trim(), input.role, trust, await hashPassword(input.password, this.config.PASSWORD_COST_LOG2)],
      );
      if (!rows.length) throw new AppError('account_exists', 'An account with that email address already exists', 409, ['An account with that email address already exists']);
      await this.audit.record(by, { action: 'create-user', targetType: 'user', targetId: rows[0].id, detail: { role: input.role, trustOds: trust }, ip }, tx);
      return rows[0].id as string;
    });
  }

  async unlock(by: Principal, userId: string, ip: string | null): Promise<void> {
    await this.ds.transaction(async (tx) => {
      const rows = await tx.query(`WITH u AS (UPDATE dashboard_user SET failed_attempts = 0, locked_until = NULL, updated_at = now() WHERE id = $1 RETURNING id) SELECT * FROM u`, [userId]);
      if (!rows.length) throw new AppError('not_found', 'No such account', 404);
      await this.audit.record(by, { action: 'unlock-user', targetType: 'user', targetId: userId, ip }, tx);
    });
  }
}
