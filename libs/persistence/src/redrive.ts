/**
 * Re-driving a job whose work Postgres says is not done but which BullMQ will not run again (it
 * failed for good, or Redis lost it). `hasLiveJob` serves booking's reconciler and the trust
 * adapter's forwarding re-drive and archive replay; `redriveJob` the latter two and the exchange's
 * matching sweep. Postgres decides what is stuck; these decide whether a job for it is still
 * coming, and order one again through the outbox.
 */
import { JobName, JobPayloads, jobId, queueFor } from '@app/contracts';
import { QueueService } from '@app/platform';
import { DataSource, EntityManager } from 'typeorm';
import { EnqueueOptions, enqueue } from './outbox';

/** BullMQ states in which a job will still run by itself. */
export const LIVE_JOB_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

/**
 * Whether any job ordered under `baseId` will still run: an outbox row not yet published is a job
 * about to exist; otherwise BullMQ's state. With `suffixed` (booking's reconciler, which re-drives
 * under a new id), also the jobs of earlier re-drives (`<baseId>-r…`), found among the outbox's
 * published rows (a scan of the day's outbox); without it, only `baseId`, found among the
 * unpublished rows alone (index `outbox_unpublished`), cheap enough for an outage's backlog.
 */
export async function hasLiveJob(db: Pick<EntityManager, 'query'>, queues: QueueService, queue: string, baseId: string, opts: { suffixed?: boolean } = {}): Promise<boolean> {
  const suffixed = opts.suffixed ?? true;
  const ids: Array<{ job_id: string; published: boolean }> = suffixed
    ? await db.query(
      `SELECT job_id, published_at IS NOT NULL AS published FROM outbox WHERE queue = $1 AND (job_id = $2 OR job_id LIKE $3)`,
      [queue, baseId, `${baseId}-r%`],
    )
    : await db.query(`SELECT job_id, false AS published FROM outbox WHERE published_at IS NULL AND queue = $1 AND job_id = $2 LIMIT 1`, [queue, baseId]);
  if (ids.some((r) => !r.published)) return true;
  return anyJobLive(queues, queue, [baseId, ...ids.map((r) => r.job_id)]);
}

/** Whether BullMQ holds any of these job ids of `queue` in a state in which it will still run. */
export async function anyJobLive(queues: QueueService, queue: string, ids: Iterable<string>): Promise<boolean> {
  const q = queues.queue(queue);
  for (const id of new Set(ids)) {
    if (LIVE_JOB_STATES.has(await q.getJobState(id))) return true;
  }
  return false;
}

export interface RedriveOptions extends Pick<EnqueueOptions, 'ods' | 'jobIdSuffix' | 'priority'> {
  /**
   * Asked in the re-drive's transaction once no job is found, just before ordering one: whether
   * the work is still not done (it may take its row locks). The state was read before BullMQ was
   * asked, and a job may have finished in between: this keeps that job's work from being ordered
   * a second time (harmless, the handlers would skip it, but counted as a re-drive it never was).
   */
  stillStuck?: (tx: EntityManager) => Promise<boolean>;
}

/**
 * Orders `name` for `payload` again, under its own job id (with `jobIdSuffix`, the id its latest
 * job was ordered under), unless a job for it will still run. `priority` is the one that job was
 * ordered with, which the caller has from the row it re-drives (an offer text's, kept on
 * `sms_message`): without it the job goes to BullMQ's wait list, served before every prioritised
 * job.
 * BullMQ ignores an add whose id it still holds (a failed job is kept for days: JOB_DEFAULTS'
 * removeOnFail), so the finished job is removed first; that also keeps a long outage from piling
 * up one failed job per attempt in Redis. It is removed before the transaction, not in it: the
 * transaction holds `stillStuck`'s row locks and a pooled connection, and a Redis call that waits
 * out a Redis fault (ioredis queues it until Redis is back) would hold both through the fault, as
 * would any slow read there. Removing a job that will not run loses nothing if the transaction
 * then orders none: its work was done meanwhile, or the transaction failed and a later pass finds
 * no job and orders one. Returns whether a job was ordered.
 * Two re-drives that race order at most one job that runs (the second add of the same id is a
 * no-op), and the handlers are idempotent in any case.
 */
export async function redriveJob<N extends JobName>(ds: DataSource, queues: QueueService, name: N, payload: JobPayloads[N], opts: RedriveOptions = {}): Promise<boolean> {
  const queue = queueFor(name, opts.ods);
  const id = jobId(name, payload) + (opts.jobIdSuffix ? `-${opts.jobIdSuffix}` : '');
  if (await hasLiveJob(ds, queues, queue, id, { suffixed: false })) return false;
  await queues.queue(queue).remove(id);
  return ds.transaction(async (tx) => {
    if (opts.stillStuck && !(await opts.stillStuck(tx))) return false;
    await enqueue(tx, name, payload, { ods: opts.ods, jobIdSuffix: opts.jobIdSuffix, priority: opts.priority });
    return true;
  });
}

/** How far one re-drive pass goes through a backlog of stuck rows. */
export interface RedrivePassLimits {
  /** Rows read per keyset page. */
  page: number;
  /** Re-drives per pass at most: an outage's backlog is worked through oldest first. */
  orders: number;
  /**
   * Rows looked at per pass at most. Rows whose job is still waiting or retrying are passed over
   * (they cost a look each), so a pass goes on past them to those whose job failed for good, rather
   * than spending itself on the same oldest page again and again.
   */
  looks: number;
}

export const REDRIVE_PASS_LIMITS: RedrivePassLimits = { page: 500, orders: 500, looks: 5_000 };

/**
 * One pass of a re-drive (the adapter's forwarding re-drive, the exchange's matching sweep): the
 * stuck rows in keyset pages, oldest first, each page read after the last row looked at
 * (`readPage(after, limit)`), each row handed to `redriveOne`, which says whether it ordered a job.
 * Bounded by `limits`; returns how many jobs were ordered.
 */
export async function redrivePass<R>(
  readPage: (after: R | null, limit: number) => Promise<R[]>,
  redriveOne: (row: R) => Promise<boolean>,
  limits: RedrivePassLimits = REDRIVE_PASS_LIMITS,
): Promise<number> {
  let ordered = 0;
  let looked = 0;
  let after: R | null = null;
  while (ordered < limits.orders && looked < limits.looks) {
    const rows = await readPage(after, limits.page);
    for (const row of rows) {
      looked++;
      if (await redriveOne(row)) ordered++;
      if (ordered >= limits.orders) break;
    }
    if (rows.length < limits.page) break;
    after = rows[rows.length - 1];
  }
  return ordered;
}
