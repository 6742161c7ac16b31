/**
 * The audit log: every action, and every view of patient-level data, with who, when and from where.
 * Written in the same transaction as the action when there is one, so an action never happens
 * unrecorded. Details carry ids and outcomes, never an NHS number, name or phone number.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import type { Principal } from './auth/access';

export interface AuditEntry {
  action: string;
  targetType?: string;
  targetId?: string;
  trustOds?: string | null;
  detail?: Record<string, unknown>;
  ip?: string | null;
}

@Injectable()
export class AuditService {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  async record(who: Principal | { email: string } | null, entry: AuditEntry, tx: Pick<EntityManager, 'query'> = this.ds): Promise<void> {
    const p = who && 'userId' in who ? who : null;
    await tx.query(
      `INSERT INTO audit_log (user_id, user_email, role, action, target_type, target_id, trust_ods, detail, ip)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [p?.userId ?? null, who?.email ?? null, p?.role ?? null, entry.action, entry.targetType ?? null, entry.targetId ?? null,
        entry.trustOds ?? null, entry.detail ? JSON.stringify(entry.detail) : null, entry.ip ?? null],
    );
  }

  async recent(filter: { limit: number; offset?: number; userEmail?: string; action?: string }): Promise<Array<Record<string, unknown>>> {
    return this.ds.query(
      `SELECT id, at, user_email, role, action, target_type, target_id, trust_ods, detail, ip FROM audit_log
        WHERE ($1::text IS NULL OR user_email = $1) AND ($2::text IS NULL OR action = $2)
        ORDER BY at DESC, id DESC LIMIT $3 OFFSET $4`,
      [filter.userEmail ?? null, filter.action ?? null, filter.limit, filter.offset ?? 0],
    );
  }
}
