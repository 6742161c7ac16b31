import { QueryRunner } from 'typeorm';

export interface ShortLockOptions {
  /** Longest one try waits for the table's lock (Postgres `lock_timeout`). */
  lockTimeoutMs: number;
  tries: number;
  /** Pause between tries, to let the writers queued behind the last one through. */
  pauseMs: number;
  /** What the migration had already done before this statement, for the failure's message (none: it was the first step). */
  doneBefore?: string;
}

export const SHORT_LOCK: ShortLockOptions = { lockTimeoutMs: 2_000, tries: 3, pauseMs: 1_000 };

/**
 * Runs `sql`, a statement that takes a table's ACCESS EXCLUSIVE lock however briefly (ALTER TABLE
 * ADD COLUMN), in a transaction of its own with a short lock_timeout, for a migration that runs
 * outside a transaction (`transaction = false`, for CREATE INDEX CONCURRENTLY). Its lock request
 * waits behind any transaction reading the table, and every writer of the table waits behind it:
 * unbounded, one long report or idle-in-transaction session during a rolling release would stop
 * every write to the table for as long as it lasted. So each try holds writers up for at most
 * `lockTimeoutMs`; after `tries` the migration fails, saying why, with nothing changed by the
 * statement (it must be safe to run again, e.g. IF NOT EXISTS), and what the migration had done
 * before it (`doneBefore`): the release's `migrate` runs it again.
 */
export async function withShortLock(q: QueryRunner, migration: string, sql: string, opts: ShortLockOptions = SHORT_LOCK): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await q.startTransaction();
    try {
      // Local to this transaction: the session's setting is back once it ends.
      await q.query(`SELECT set_config('lock_timeout', $1, true)`, [`${opts.lockTimeoutMs}ms`]);
      await q.query(sql);
      await q.commitTransaction();
      return;
    } catch (e) {
      await q.rollbackTransaction();
      if (sqlState(e) !== '55P03') throw e;
      if (attempt >= opts.tries) {
        throw new Error(
          `${migration}: no lock on its table within ${opts.lockTimeoutMs} ms, ${opts.tries} tries: a long transaction holds it `
          + `(see pg_stat_activity); ${opts.doneBefore ? `this statement changed nothing (before it: ${opts.doneBefore})` : 'nothing was changed'}: `
          + 'run the migrations again once it has ended',
          { cause: e },
        );
      }
      await new Promise((r) => setTimeout(r, opts.pauseMs));
    }
  }
}

/** pg's SQLSTATE, which TypeORM's QueryFailedError copies from its driverError. */
function sqlState(e: unknown): string | undefined {
  const err = e as { code?: string; driverError?: { code?: string } };
  return err?.code ?? err?.driverError?.code;
}
