/**
 * The outbox on a real Postgres: `enqueueMany` writes the rows `enqueue` would, and every insert
 * wakes the relays at commit with the queues it wrote (trigger `outbox_notify`).
 */
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from './data-source';
import { MetricsService, QueueService } from '@app/platform';
import { OutboxRelay, enqueue, enqueueMany, quietOutboxSql } from './outbox';
import { createTestDatabase, TestDatabase } from './testing';
import { until as waitFor } from '../../../test/support/wait';

let db: TestDatabase;
let ds: DataSource;
let listener: Client;
const heard: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase('sx_h_matching_outbox');
  ds = new DataSource(dataSourceOptions(db.url, 2));
  await ds.initialize();
  listener = new Client({ connectionString: db.url });
  await listener.connect();
  listener.on('notification', (n) => heard.push(n.payload ?? ''));
  await listener.query('LISTEN outbox');
});

afterAll(async () => {
  await listener.end();
  await ds.destroy();
  await db.drop();
});

const until = async (ok: () => boolean) => {
  for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setTimeout(r, 20));
};

it('enqueueMany stores the same rows as enqueue, and one commit wakes the relays once, naming its queues', async () => {
  const runAt = new Date('2030-01-01T09:00:00Z');
  await ds.transaction(async (tx) => {
    await enqueue(tx, 'send-sms', { smsId: 'one' }, { priority: 7 });
    await enqueue(tx, 'expire-wave', { waveId: 'w1' }, { runAt });
  });
  await ds.transaction(async (tx) => {
    await enqueueMany(tx, [
      { name: 'send-sms', payload: { smsId: 'two' }, opts: { priority: 7 } },
      { name: 'expire-wave', payload: { waveId: 'w2' }, opts: { runAt } },
      { name: 'write-back', payload: { writebackId: 'b1' }, opts: { ods: 'RQM' } },
    ]);
  });
  const rows = await ds.query(`SELECT queue, job_name, job_id, payload, run_at, priority FROM outbox ORDER BY id`);
  expect(rows.map((r: Record<string, unknown>) => [r.queue, r.job_name, r.job_id, r.payload, r.priority])).toEqual([
    ['sms-outbound', 'send-sms', 'sms-one', { smsId: 'one' }, 7],
    ['slot-matching', 'expire-wave', 'expire-w1', { waveId: 'w1' }, null],
    ['sms-outbound', 'send-sms', 'sms-two', { smsId: 'two' }, 7],
    ['slot-matching', 'expire-wave', 'expire-w2', { waveId: 'w2' }, null],
    ['trust-writeback-RQM', 'write-back', 'writeback-b1', { writebackId: 'b1' }, null],
  ]);
  expect(new Date(rows[1].run_at).toISOString()).toBe(runAt.toISOString());
  expect(new Date(rows[3].run_at).toISOString()).toBe(runAt.toISOString());
  await until(() => heard.length >= 3);
  // First transaction: two statements, two notifications; the bulk insert: one.
  expect(heard).toEqual(['sms-outbound', 'slot-matching', 'slot-matching,sms-outbound,trust-writeback-RQM']);
});

it('a quiet transaction and an insert that writes no rows wake nobody; the next transaction notifies as before', async () => {
  heard.length = 0;
  await ds.transaction(async (tx) => {
    await tx.query(`SELECT ${quietOutboxSql}`);
    await enqueue(tx, 'send-sms', { smsId: 'quiet' });
  });
  // An insert whose SELECT finds nothing (as the intake's ON CONFLICT DO NOTHING can): no rows, no NOTIFY.
  await ds.query(`INSERT INTO outbox (queue, job_name, job_id, payload) SELECT queue, job_name, job_id, payload FROM outbox WHERE false`);
  // The setting was the quiet transaction's own: this one notifies.
  await enqueue(ds.manager, 'send-sms', { smsId: 'loud' });
  await until(() => heard.length >= 1);
  await new Promise((r) => setTimeout(r, 100));
  expect(heard).toEqual(['sms-outbound']);
  const quiet = await ds.query(`SELECT count(*)::int AS n FROM outbox WHERE job_id = 'sms-quiet'`);
  expect(quiet[0].n).toBe(1);
});

/**
 * A relay (its sweep never started: no onApplicationBootstrap) that has already published every
 * earlier row, then one `send-sms` row written quietly and the relay woken for it, as a hot path does.
 */
async function wokenRelayWithQuietRow(smsId: string) {
  const queues = new QueueService(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const relay = new OutboxRelay(ds, queues, new MetricsService('test'));
  await relay.drain();
  await ds.transaction(async (tx) => {
    await tx.query(`SELECT ${quietOutboxSql}`);
    await enqueue(tx, 'send-sms', { smsId });
  });
  relay.wake(['sms-outbound']);
  const publishedAt = async (): Promise<Date | null> => (await ds.query(`SELECT published_at FROM outbox WHERE job_id = $1`, [`sms-${smsId}`]))[0].published_at;
  const close = async () => {
    await queues.queue('sms-outbound').remove(`sms-${smsId}`).catch(() => undefined);
    await relay.onApplicationShutdown();
    await queues.onApplicationShutdown();
  };
  return { queues, relay, publishedAt, close };
}

it('OutboxRelay.wake moves quietly written rows to BullMQ without waiting for the sweep', async () => {
  const rig = await wokenRelayWithQuietRow('woken');
  try {
    // Only the wake can publish it: the 2 s sweep never started here. Polled, not slept: on a busy
    // machine the wake's pass may take longer than a fixed wait.
    expect(await waitFor('the wake to publish the row', () => rig.publishedAt(), 2_000, 20)).not.toBeNull();
    expect(await rig.queues.queue('sms-outbound').getJob('sms-woken')).toBeDefined();
  } finally {
    await rig.close();
  }
});

it('a relay shutting down first moves what it was woken for, instead of leaving it to another process\'s sweep', async () => {
  const rig = await wokenRelayWithQuietRow('at-shutdown');
  try {
    await rig.relay.onApplicationShutdown();
    expect(await rig.publishedAt()).not.toBeNull();
  } finally {
    await rig.close();
  }
});

/**
 * The relay's mark (`published_at`) is only a hint that a row reached BullMQ: it commits without
 * waiting for its WAL flush, and a mark lost in a crash only makes the row go to BullMQ again
 * under the same job id, which adds nothing. Postgres itself records the commit mode here (a
 * trigger on the marking UPDATE reads the transaction's synchronous_commit).
 */
describe('the relay\'s mark', () => {
  beforeAll(async () => {
    await ds.query(`
      CREATE TABLE mark_mode (job_id text, sync text);
      CREATE FUNCTION note_mark_mode() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.published_at IS NOT NULL AND OLD.published_at IS NULL THEN
          INSERT INTO mark_mode VALUES (NEW.job_id, current_setting('synchronous_commit'));
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER note_mark_mode BEFORE UPDATE ON outbox FOR EACH ROW EXECUTE FUNCTION note_mark_mode()`);
  });
  afterAll(async () => {
    await ds.query(`DROP TRIGGER note_mark_mode ON outbox; DROP FUNCTION note_mark_mode(); DROP TABLE mark_mode`);
  });

  const relayWith = (queues: QueueService) => new OutboxRelay(ds, queues, new MetricsService('test'));

  it('commits asynchronously (the rows themselves were written by a synchronous commit)', async () => {
    const queues = new QueueService(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    const relay = relayWith(queues);
    try {
      await enqueue(ds.manager, 'send-sms', { smsId: 'mark-async' });
      expect((await ds.query(`SHOW synchronous_commit`))[0].synchronous_commit).toBe('on');
      await relay.drain();
      const modes = await ds.query(`SELECT sync FROM mark_mode WHERE job_id = 'sms-mark-async'`);
      expect(modes).toEqual([{ sync: 'off' }]);
      // SET LOCAL: the pool's connections (both of them) are synchronous again afterwards.
      const after = await Promise.all([1, 2].map(() => ds.transaction((tx) => tx.query(`SELECT current_setting('synchronous_commit') AS s, pg_sleep(0.05)`))));
      expect(after.map((r) => r[0].s)).toEqual(['on', 'on']);
    } finally {
      await queues.queue('sms-outbound').remove('sms-mark-async').catch(() => undefined);
      await relay.onApplicationShutdown();
      await queues.onApplicationShutdown();
    }
  });

  it('lost in a crash, it only re-publishes the row under the same job id, which adds no job', async () => {
    const queues = new QueueService(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    const relay = relayWith(queues);
    const queue = queues.queue('sms-outbound');
    try {
      await enqueue(ds.manager, 'send-sms', { smsId: 'mark-lost' });
      await relay.drain();
      const first = await queue.getJob('sms-mark-lost');
      expect(first).toBeDefined();
      // The job has moved on (here: a worker changed its data) before the crash lost the mark.
      await first!.updateData({ smsId: 'mark-lost', seen: true } as never);
      await ds.query(`UPDATE outbox SET published_at = NULL WHERE job_id = 'sms-mark-lost'`);

      expect(await relay.drain()).toBeGreaterThanOrEqual(1);
      const again = await queue.getJob('sms-mark-lost');
      expect(again!.timestamp).toBe(first!.timestamp);
      expect(again!.data).toEqual({ smsId: 'mark-lost', seen: true });
      const [row] = await ds.query(`SELECT published_at FROM outbox WHERE job_id = 'sms-mark-lost'`);
      expect(row.published_at).not.toBeNull();
    } finally {
      await queue.remove('sms-mark-lost').catch(() => undefined);
      await relay.onApplicationShutdown();
      await queues.onApplicationShutdown();
    }
  });

  it('is not kept when BullMQ refuses the jobs: the rows stay unpublished for the next pass', async () => {
    const queues = new QueueService(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    const relay = relayWith(queues);
    const real = queues.queue.bind(queues);
    const down = jest.spyOn(queues, 'queue').mockImplementation(
      (name: string) => ({ ...real(name), addBulk: () => Promise.reject(new Error('redis down')) }) as unknown as ReturnType<QueueService['queue']>,
    );
    try {
      await enqueue(ds.manager, 'send-sms', { smsId: 'mark-refused' });
      expect(await relay.drain()).toBe(0);
      const [row] = await ds.query(`SELECT published_at FROM outbox WHERE job_id = 'sms-mark-refused'`);
      expect(row.published_at).toBeNull();

      down.mockRestore();
      await relay.drain();
      const [later] = await ds.query(`SELECT published_at FROM outbox WHERE job_id = 'sms-mark-refused'`);
      expect(later.published_at).not.toBeNull();
      expect(await queues.queue('sms-outbound').getJob('sms-mark-refused')).toBeDefined();
    } finally {
      down.mockRestore();
      await queues.queue('sms-outbound').remove('sms-mark-refused').catch(() => undefined);
      await relay.onApplicationShutdown();
      await queues.onApplicationShutdown();
    }
  });
});

/**
 * A published row is the only record of a delayed job once it is in Redis: a slot's `close-slot`
 * is written days before its cut-off. The relay's clean-up keeps every row until a day after it
 * was due as well as a day after it was published, so a Redis that comes back empty is rebuilt
 * with the jobs still to run.
 */
it('the clean-up keeps a published row whose job is not yet due, and deletes one published and due over a day ago', async () => {
  const queues = new QueueService(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const relay = new OutboxRelay(ds, queues, new MetricsService('test'));
  try {
    await ds.query(
      `INSERT INTO outbox (queue, job_name, job_id, payload, run_at, created_at, published_at) VALUES
         ('slot-matching', 'close-slot', 'close-kept', '{"slotId":"kept"}', now() + interval '3 days', now() - interval '30 hours', now() - interval '30 hours'),
         ('slot-matching', 'close-slot', 'close-done', '{"slotId":"done"}', now() - interval '25 hours', now() - interval '30 hours', now() - interval '30 hours')`,
    );
    // The first pass of a relay cleans up.
    await relay.drain();
    const kept = await ds.query(`SELECT job_id FROM outbox WHERE job_id IN ('close-kept', 'close-done') ORDER BY job_id`);
    expect(kept).toEqual([{ job_id: 'close-kept' }]);
  } finally {
    await relay.onApplicationShutdown();
    await queues.onApplicationShutdown();
  }
});
