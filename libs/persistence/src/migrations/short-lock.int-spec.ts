/**
 * Migrations 1764502400000 (`writeback.listed_at`) and 1764502300000 (`sms_message.priority`) add
 * their column under a short lock_timeout (short-lock.ts), on real Postgres: behind a long reader
 * of the table each gives up after a few short tries, saying why, with nothing changed, while a
 * writer of the table queued behind it waits seconds, not for the reader; once the reader has
 * gone, running it again adds the column (and the priority migration then fills in a queued
 * message's priority from its outbox row).
 */
import { Client } from 'pg';
import { DataSource, MigrationInterface } from 'typeorm';
import { dataSourceOptions } from '../data-source';
import { createTestDatabase, TestDatabase } from '../testing';
import { SmsMessagePriority1764502300000 } from './1764502300000-sms-message-priority';
import { WritebackCancelListed1764502400000 } from './1764502400000-writeback-cancel-listed';
import { SHORT_LOCK } from './short-lock';

let db: TestDatabase;
let ds: DataSource;
const clients: Client[] = [];

async function client(): Promise<Client> {
  const c = new Client({ connectionString: db.url });
  await c.connect();
  clients.push(c);
  return c;
}

beforeAll(async () => {
  db = await createTestDatabase('sx_short_lock');
  ds = await new DataSource(dataSourceOptions(db.url, 3)).initialize();
  // As before the releases: no columns (an index goes with its column).
  await ds.query(`ALTER TABLE writeback DROP COLUMN listed_at`);
  await ds.query(`ALTER TABLE sms_message DROP COLUMN priority`);
});
afterAll(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  await ds?.destroy();
  await db?.drop();
});

const hasColumn = async (table: string, column: string) => (await ds.query(
  `SELECT 1 FROM information_schema.columns WHERE table_name = $1 AND column_name = $2`, [table, column],
)).length > 0;

/**
 * Runs `migration.up` while a long transaction reads `table`: a writer of the table arriving
 * meanwhile waits seconds, not for the reader; the migration fails saying why, within its tries,
 * with `column` not added and the session's lock_timeout as it was. Then the reader commits and
 * the migration, run again, succeeds.
 */
async function behindLongReader(migration: MigrationInterface & { name: string }, table: string, column: string, noop: string): Promise<void> {
  const reader = await client();
  await reader.query(`BEGIN`);
  await reader.query(`SELECT count(*) FROM ${table}`);

  const q = ds.createQueryRunner();
  const started = Date.now();
  const up = migration.up(q).then(() => undefined, (e: Error) => e);
  // A writer arriving meanwhile queues behind the migration's lock request.
  await new Promise((r) => setTimeout(r, 300));
  const writer = await client();
  const wrote = Date.now();
  await writer.query(noop);
  expect(Date.now() - wrote).toBeLessThan(SHORT_LOCK.lockTimeoutMs + 1_000);

  const failed = await up;
  expect(failed).toBeInstanceOf(Error);
  expect((failed as Error).message).toMatch(new RegExp(`^${migration.name}: no lock on its table within 2000 ms, 3 tries: a long transaction holds it .*nothing was changed`));
  expect(Date.now() - started).toBeLessThan(SHORT_LOCK.tries * (SHORT_LOCK.lockTimeoutMs + SHORT_LOCK.pauseMs) + 2_000);
  expect(await hasColumn(table, column)).toBe(false);
  // The lock_timeout was the statement's transaction's only.
  expect(await q.query(`SHOW lock_timeout`)).toEqual([{ lock_timeout: '0' }]);
  await q.release();

  await reader.query(`COMMIT`);
  const again = ds.createQueryRunner();
  await migration.up(again);
  await again.release();
  expect(await hasColumn(table, column)).toBe(true);
}

it('gives up behind a long reader of writeback, holding writers up for seconds only, and adds the column once it has gone', async () => {
  await behindLongReader(new WritebackCancelListed1764502400000(), 'writeback', 'listed_at', `UPDATE writeback SET attempts = attempts WHERE false`);
  expect(await ds.query(`SELECT indexname FROM pg_indexes WHERE indexname = 'writeback_cancel_unlisted'`)).toHaveLength(1);
}, 30_000);

it('adds sms_message.priority the same way, behind a long reader of sms_message, then fills in a queued message\'s priority from its outbox row', async () => {
  const [patient] = await ds.query(`INSERT INTO patient (nhs_number, mobile) VALUES ('9990000018', '+447700900001') RETURNING id`);
  const [sms] = await ds.query(`INSERT INTO sms_message (patient_id, kind, personalisation, status) VALUES ($1, 'offer', '{}', 'queued') RETURNING id`, [patient.id]);
  await ds.query(`INSERT INTO outbox (queue, job_name, job_id, payload, priority) VALUES ('sms-outbound', 'send-sms', $1, $2, 173)`, [`sms-${sms.id}`, { smsId: sms.id }]);
  await behindLongReader(new SmsMessagePriority1764502300000(), 'sms_message', 'priority', `UPDATE sms_message SET status = status WHERE false`);
  expect(await ds.query(`SELECT priority FROM sms_message WHERE id = $1`, [sms.id])).toEqual([{ priority: 173 }]);
}, 30_000);
