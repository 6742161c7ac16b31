/**
 * A Postgres outage does not lose texts, nor send one twice. The notifier reaches its database
 * through a TCP proxy (tools/stack/tcp-proxy.ts) that cuts every connection and refuses new ones
 * for a while, as a failover or a restart does; Notify is notify-sim over HTTP with the real
 * client, Redis is real. Retries are shortened (fast-retries.ts) so that, without the waits for the
 * database, a job would spend all its attempts well inside the outage.
 * - A text Notify took while the database went away is recorded as sent once it is back (the job
 *   waited for it, then asked Notify), and the patient has it once.
 * - A message whose job failed for good is ordered again by the send sweep and sent, once.
 */
import { FAST_BACKOFF_MS, restoreRetries } from '../../../test/support/fast-retries';
import { INestApplication } from '@nestjs/common';
import { QueueName } from '@app/contracts';
import { QueueService } from '@app/platform';
import { Client } from 'pg';
import { FreshStores, freshStores } from '../../../tools/stack/fresh-stack';
import { TcpProxy, startTcpProxy } from '../../../tools/stack/tcp-proxy';
import { createMessage } from '../../../test/support/offer-fixtures';
import { NotifySandbox, startNotifier, startNotifySandbox } from '../../../test/support/notify-sandbox';
import { http, until } from '../../../test/support/wait';
import { whileSentRefused } from '../../../test/support/sms-faults';
import { SmsSweep } from './sms-sweep';

jest.setTimeout(90_000);

const PORT = 14062;
const REDIS_DB = 15;
/** Longer than every attempt of a job with the short back-off (eight attempts, at most ~5 s). */
const OUTAGE_MS = 8000;

let stores: FreshStores;
let pg: Client;
let sim: NotifySandbox;
let proxy: TcpProxy;
let notifier: INestApplication;

const row = async (id: string) => (await pg.query(`SELECT status, notify_id FROM sms_message WHERE id = $1`, [id])).rows[0];

beforeAll(async () => {
  expect(FAST_BACKOFF_MS).toBeLessThanOrEqual(50);
  stores = await freshStores('sx_sms_db_outage', REDIS_DB);
  pg = stores.pg;
  const db = new URL(stores.db.url);
  proxy = await startTcpProxy(Number(db.port || 5432), { upstreamHost: db.hostname });
  db.port = String(proxy.port);
  sim = await startNotifySandbox();
  // The sweep runs once at start-up (nothing is queued then); the test runs it again by hand.
  notifier = await startNotifier({ db: { ...stores.db, url: db.toString() }, redisUrl: stores.redisUrl }, sim, PORT, {
    NOTIFY_TIMEOUT_MS: '1000', NOTIFY_SEND_SETTLE_MS: '500',
  }, { sweep: { everyMs: 3_600_000, graceMs: 500 } });
});

afterAll(async () => {
  proxy?.cut(false);
  await notifier?.close();
  await sim?.app.close();
  await proxy?.close();
  await stores?.drop();
  restoreRetries();
});

afterEach(async () => {
  proxy.cut(false);
  await http('DELETE', `${sim.url}/sim/slow-sends`);
});

it('a text Notify took as the database went away is recorded as sent once it is back, and sent once', async () => {
  // Notify takes 1.5 s to answer; meanwhile the database goes, so "sent" cannot be recorded.
  expect((await http('POST', `${sim.url}/sim/slow-sends`, { ms: 1500, seconds: 30 })).status).toBe(200);
  const m = await createMessage(pg, 'help');
  await until('the send at Notify', async () => (await pg.query(`SELECT send_started_at FROM sms_message WHERE id = $1`, [m.smsId])).rows[0].send_started_at !== null, 10_000, 20);
  proxy.cut(true);
  await new Promise((r) => setTimeout(r, OUTAGE_MS));
  expect(proxy.cuts).toBeGreaterThan(0);
  expect(await sim.messages(m.mobile)).toHaveLength(1); // Notify took it during the outage
  expect((await row(m.smsId)).status).toBe('queued');
  proxy.cut(false);

  await until('sent', async () => (await row(m.smsId)).status === 'sent', 20_000);
  const held = await sim.messages(m.mobile);
  expect(held).toHaveLength(1);
  expect((await row(m.smsId)).notify_id).toBe(held[0].id);
  const metrics = (await http('GET', `http://127.0.0.1:${PORT}/metrics`)).text;
  expect(Number(/^sms_database_waits_total(?:\{[^}]*\})? (\d+)$/m.exec(metrics)?.[1] ?? 0)).toBeGreaterThan(0);
});

it('the sweep orders again the send of a message whose job failed for good, and it goes once', async () => {
  // Recording "sent" fails (not the database being away) until the fault is lifted: every
  // attempt is spent, and the job fails for good with the message still queued.
  const sweep = notifier.get(SmsSweep);
  const queues = notifier.get(QueueService);
  const m = await whileSentRefused(pg, async () => {
    const made = await createMessage(pg, 'help');
    await until('its job failed for good', async () => (await queues.queue(QueueName.smsOutbound).getJobState(`sms-${made.smsId}`)) === 'failed', 30_000, 100);
    return made;
  });
  await new Promise((r) => setTimeout(r, 1000));
  expect((await row(m.smsId)).status).toBe('queued'); // stuck: nothing else will send it

  expect(await sweep.sweep()).toBe(1);
  await until('sent', async () => (await row(m.smsId)).status === 'sent', 20_000);
  const held = await sim.messages(m.mobile);
  expect(held).toHaveLength(1);
  expect((await row(m.smsId)).notify_id).toBe(held[0].id);
  // Nothing is stuck now: a second pass orders nothing.
  expect(await sweep.sweep()).toBe(0);
  const metrics = (await http('GET', `http://127.0.0.1:${PORT}/metrics`)).text;
  expect(metrics).toMatch(/^sms_redrives_total(?:\{[^}]*\})? 1$/m);
});
