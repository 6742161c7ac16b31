/**
 * Re-driving a job whose work Postgres says is not done but which BullMQ will not run again (it
 * failed for good, or Redis lost it). `hasLiveJob` serves booking's reconciler and the trust
 * adapter's forwarding re-drive and archive replay; `redriveJob` the latter two. Postgres decides
 * what is stuck; these decide whether a job for it is still coming, and order one again through
 * the outbox.
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
  const q = queues.queue(queue);
  for (const id of new Set([baseId, ...ids.map((r) => r.job_id)])) {
    if (LIVE_JOB_STATES.has(await q.getJobState(id))) return true;
  }
  return false;
}

/**
 * Orders `name` for `payload` again, under its own job id, unless a job for it will still run.
 * BullMQ ignores an add whose id it still holds (a failed job is kept for days: JOB_DEFAULTS'
 * removeOnFail), so the finished job is removed first; that also keeps a long outage from piling
 * up one failed job per attempt in Redis. Returns whether a job was ordered. Two re-drives that
 * race order at most one job that runs (the second add of the same id is a no-op), and the
 * handlers are idempotent in any case.
 */
export async function redriveJob<N extends JobName>(ds: DataSource, queues: QueueService, name: N, payload: JobPayloads[N], opts: Pick<EnqueueOptions, 'ods'> = {}): Promise<boolean> {
  const queue = queueFor(name, opts.ods);
  const id = jobId(name, payload);
  if (await hasLiveJob(ds, queues, queue, id, { suffixed: false })) return false;
  await queues.queue(queue).remove(id);
  await ds.transaction((tx) => enqueue(tx, name, payload, opts));
  return true;
}
