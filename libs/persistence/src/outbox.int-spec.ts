/**
 * The outbox on a real Postgres: `enqueueMany` writes the rows `enqueue` would, and every insert
 * wakes the relays at commit with the queues it wrote (trigger `outbox_notify`).
 */
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from './data-source';
import { enqueue, enqueueMany } from './outbox';
import { createTestDatabase, TestDatabase } from './testing';

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
