/**
 * Rebuilding the queues from Postgres after Redis lost its data (DESIGN.md: Postgres is the
 * source of truth; queues can be rebuilt from it). A Redis restarted without persistence, a
 * failover to an empty replica or a FLUSHDB all look the same: every waiting, delayed and active
 * job is gone, while the outbox rows that created them are marked published.
 *
 * The relay keeps a marker key in Redis. Redis never evicts it (`noeviction`) and nothing expires
 * it, so its absence means the data went away. The relay then marks every outbox row still kept
 * (published or due in the last RETENTION_HOURS: so every delayed job still to run, such as a
 * slot's cut-off days away) unpublished again and publishes them once more with their original
 * job ids. That re-runs finished work too, which is safe because every handler re-reads state and
 * skips what is done; delayed jobs (wave expiry, cut-off) get their delay from `run_at` again.
 * The marker is written only after the rows are reset, so a crash in between repeats the reset
 * (harmless) rather than skipping it; two processes noticing at once both reset (also harmless).
 */
import { DataSource } from 'typeorm';

export const QUEUE_EPOCH_KEY = 'sx:queue-epoch';

/** What the check needs of a Redis client (ioredis). */
export interface EpochStore {
  exists(key: string): Promise<number>;
  set(key: string, value: string): Promise<unknown>;
}

/** Returns how many outbox rows were set to be published again (0 when Redis kept its data). */
export async function republishIfQueuesLost(ds: DataSource, redis: EpochStore): Promise<number> {
  if ((await redis.exists(QUEUE_EPOCH_KEY)) === 1) return 0;
  const reset = await ds.query(`UPDATE outbox SET published_at = NULL WHERE published_at IS NOT NULL`);
  await redis.set(QUEUE_EPOCH_KEY, new Date().toISOString());
  // TypeORM answers [rows, count] for UPDATE.
  return Array.isArray(reset) && typeof reset[1] === 'number' ? reset[1] : 0;
}
