/**
 * How each trust's waiting list (PTL) imports went, from the exchange's `ptl_import` records (one
 * per snapshot: written by the exchange's waiting-list service). Counts and reasons only: the table
 * holds no patient data, and nothing here joins to one that does.
 */
import { EntityManager } from 'typeorm';

type Q = Pick<EntityManager, 'query'>;

const HOUR = 3_600_000;
/**
 * A trust whose last completed snapshot is older than this is flagged: PTL extracts are usually
 * nightly, so two days means at least one was missed, and pathways that ended since are still
 * open here (their patients can be offered slots they no longer need).
 */
export const PTL_STALE_AFTER_HOURS = 48;

export interface PtlImport {
  id: string;
  trust_ods: string;
  mode: 'delta' | 'snapshot';
  status: 'running' | 'completed' | 'abandoned';
  started_at: Date;
  completed_at: Date | null;
  /** Data rows and rejected rows; null on records from before these were kept. */
  rows: number | null;
  rejected: number | null;
  closed: number;
  deferred: number;
  /** Why the snapshot closed nothing (too many rows rejected, a CSV that broke part-way). */
  closing_withheld: string | null;
}

export interface TrustPtlState {
  trust_ods: string;
  /** When its last completed snapshot finished; null if it never completed one. */
  last_completed_at: Date | null;
  /** That snapshot's reason for closing nothing, if it withheld closing. */
  last_closing_withheld: string | null;
  /** No completed snapshot, or none for PTL_STALE_AFTER_HOURS. */
  stale: boolean;
}

/** The latest imports, newest first. */
export async function latestPtlImports(db: Q, trust: string | null, limit = 50): Promise<PtlImport[]> {
  return db.query(
    `SELECT id, trust_ods, mode, status, started_at, completed_at, rows, rejected, closed, deferred, closing_withheld
       FROM ptl_import WHERE $1::text IS NULL OR trust_ods = $1
      ORDER BY started_at DESC, id DESC LIMIT $2`,
    [trust, limit],
  );
}

/** Each trust's last completed snapshot; every trust listed, so one that never sent a list shows too. */
export async function ptlStateByTrust(db: Q, trusts: string[], now: Date): Promise<TrustPtlState[]> {
  const last: Array<{ trust_ods: string; completed_at: Date; closing_withheld: string | null }> = await db.query(
    `SELECT DISTINCT ON (trust_ods) trust_ods, completed_at, closing_withheld
       FROM ptl_import WHERE mode = 'snapshot' AND status = 'completed' AND trust_ods = ANY($1::text[])
      ORDER BY trust_ods, completed_at DESC`,
    [trusts],
  );
  return trusts.map((ods) => {
    const l = last.find((r) => r.trust_ods === ods);
    const at = l ? new Date(l.completed_at) : null;
    return {
      trust_ods: ods, last_completed_at: at, last_closing_withheld: l?.closing_withheld ?? null,
      stale: !at || now.getTime() - at.getTime() > PTL_STALE_AFTER_HOURS * HOUR,
    };
  });
}
