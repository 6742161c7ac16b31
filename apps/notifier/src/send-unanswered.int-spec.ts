/**
 * A send Notify did not answer in time may still be taken: Notify goes on working on a request
 * whose client gave up, and shows the text (to a look-up by our reference) only once it is done.
 * Played by notify-sim (`POST /sim/slow-sends`: each send answered, and its text held, only after
 * 3 s) against a notifier that waits 1 s for Notify, with the real client over real Postgres and
 * Redis. What must hold: the patient gets the text once, and it is recorded as sent with Notify's
 * id — both when the job retries on its own, and when Redis loses the job meanwhile and the queue
 * is rebuilt from Postgres (a fresh job, with no memory of the send).
 */
import { INestApplication } from '@nestjs/common';
import { QUEUE_EPOCH_KEY } from '@app/persistence';
import IORedis from 'ioredis';
import { Client } from 'pg';
import { FreshStores, freshStores } from '../../../tools/stack/fresh-stack';
import { createMessage } from '../../../test/support/offer-fixtures';
import { NotifySandbox, startNotifier, startNotifySandbox } from '../../../test/support/notify-sandbox';
import { http, until } from '../../../test/support/wait';

jest.setTimeout(60_000);

const PORT = 14052;
const REDIS_DB = 14;
/** Notify's time to take a text, against the notifier's 1 s timeout. */
const NOTIFY_TAKES_MS = 3000;

let stores: FreshStores;
let pg: Client;
let sim: NotifySandbox;
let notifier: INestApplication;
let redis: IORedis;

const row = async (id: string) => (await pg.query(`SELECT status, notify_id FROM sms_message WHERE id = $1`, [id])).rows[0];

beforeAll(async () => {
  stores = await freshStores('sx_send_unanswered', REDIS_DB);
  pg = stores.pg;
  redis = new IORedis(stores.redisUrl);
  sim = await startNotifySandbox();
  notifier = await startNotifier(stores, sim, PORT, { NOTIFY_TIMEOUT_MS: '1000', NOTIFY_SEND_SETTLE_MS: '3000' });
});

afterAll(async () => {
  await notifier?.close();
  await sim?.app.close();
  redis?.disconnect();
  await stores?.drop();
});

afterEach(async () => {
  await http('DELETE', `${sim.url}/sim/slow-sends`);
});

it('a send that timed out is looked up, not sent again, and recorded as sent with Notify\'s id', async () => {
  expect((await http('POST', `${sim.url}/sim/slow-sends`, { ms: NOTIFY_TAKES_MS, seconds: 30 })).status).toBe(200);
  const m = await createMessage(pg, 'help');

  await until('sent', async () => (await row(m.smsId)).status === 'sent', 30_000);
  const held = await sim.messages(m.mobile);
  expect(held).toHaveLength(1);
  expect(held[0].reference).toBe(m.smsId);
  expect((await row(m.smsId)).notify_id).toBe(held[0].id);
  // Nothing more goes later either.
  await new Promise((r) => setTimeout(r, 1500));
  expect(await sim.messages(m.mobile)).toHaveLength(1);
});

it('after Redis lost the job of a send that timed out, the rebuilt job looks Notify up before sending', async () => {
  expect((await http('POST', `${sim.url}/sim/slow-sends`, { ms: NOTIFY_TAKES_MS, seconds: 30 })).status).toBe(200);
  const m = await createMessage(pg, 'help');
  // The send is at Notify, unanswered: the notifier gives up on it after 1 s.
  await until('the send at Notify', async () => (await pg.query(`SELECT send_started_at FROM sms_message WHERE id = $1`, [m.smsId])).rows[0].send_started_at !== null, 10_000, 20);
  await new Promise((r) => setTimeout(r, 1200));
  expect(await sim.messages(m.mobile)).toEqual([]);
  // Redis loses everything; the relay rebuilds the queues from the outbox (queue-rebuild.ts).
  await redis.flushdb();
  await until('queues rebuilt', async () => (await redis.exists(QUEUE_EPOCH_KEY)) === 1, 15_000, 100);

  await until('sent', async () => (await row(m.smsId)).status === 'sent', 30_000);
  const held = await sim.messages(m.mobile);
  expect(held).toHaveLength(1);
  expect((await row(m.smsId)).notify_id).toBe(held[0].id);
  await new Promise((r) => setTimeout(r, 1500));
  expect(await sim.messages(m.mobile)).toHaveLength(1);
});
