/**
 * Lock behaviour read from Postgres itself rather than guessed with a stopwatch: "does not wait on
 * the lock" means no backend ever queued behind the holder while the call ran, and the holder
 * still had its transaction open when the call finished; "is waiting" means Postgres lists the
 * backend as blocked by the holder (`pg_blocking_pids`).
 */
import { DataSource, QueryRunner } from 'typeorm';

/** The backend of a connected query runner (the lock holder). */
export async function backendPid(runner: QueryRunner): Promise<number> {
  return (await runner.query(`SELECT pg_backend_pid() AS pid`))[0].pid;
}

/**
 * Backends queued behind `holderPid`, with the statement each is running: directly, or behind
 * another waiter (the second of several waiting for one row queues for the first one's tuple lock).
 */
export async function blockedBy(ds: DataSource, holderPid: number): Promise<Array<{ pid: number; query: string }>> {
  return ds.query(
    `WITH RECURSIVE behind(pid) AS (
       SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))
       UNION SELECT a.pid FROM pg_stat_activity a JOIN behind b ON b.pid = ANY(pg_blocking_pids(a.pid)))
     SELECT a.pid, a.query FROM behind JOIN pg_stat_activity a USING (pid)`,
    [holderPid],
  );
}

/**
 * Resolves once at least `count` backends (other than `except`, e.g. one just terminated that
 * Postgres still lists) wait on locks `holderPid` holds; those backends.
 */
export async function untilBlockedBy(
  ds: DataSource, holderPid: number, { count = 1, except = [] as number[], ms = 10_000 } = {},
): Promise<Array<{ pid: number; query: string }>> {
  const end = Date.now() + ms;
  for (;;) {
    const waiters = (await blockedBy(ds, holderPid)).filter((w) => !except.includes(w.pid));
    if (waiters.length >= count) return waiters;
    if (Date.now() > end) throw new Error(`${waiters.length} of ${count} backend(s) queued behind backend ${holderPid} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * `call`'s result, provided it came without queuing behind `holderPid`: rejects as soon as any
 * backend waits on the holder's locks (the call is then stuck until the holder ends), and checks
 * the holder was still inside its transaction when the call resolved.
 */
export async function withoutWaitingOn<T>(ds: DataSource, holderPid: number, call: Promise<T>): Promise<T> {
  let settled = false;
  const watch = (async (): Promise<never> => {
    while (!settled) {
      const waiters = await blockedBy(ds, holderPid);
      if (waiters.length > 0 && !settled) throw new Error(`waited on the lock: ${waiters.map((w) => w.query).join(' | ')}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    return new Promise<never>(() => undefined);
  })();
  try {
    return await Promise.race([call, watch]);
  } finally {
    settled = true;
    const [holder] = await ds.query(`SELECT state FROM pg_stat_activity WHERE pid = $1`, [holderPid]);
    if (holder?.state !== 'idle in transaction') throw new Error(`the lock holder was no longer in its transaction (${holder?.state ?? 'gone'})`);
  }
}
