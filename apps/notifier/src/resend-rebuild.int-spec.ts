/**
 * A text put back after Notify's `technical-failure` is sent again by its resend's own job
 * (`sms-<id>-resend-<n>`). When Redis loses its data while that job waits (here held by quiet
 * hours), the queues are rebuilt from the outbox (queue-rebuild.ts): the first send's job
 * `sms-<id>` comes back beside the resend's, and both find the message queued. Only the job of the
 * message's current send may send it, or the patient gets the text twice. On real Postgres and
 * Redis with notify-sim and the real client, the notifier's clock fixed (quiet hours 20:00-08:00).
 */
import { INestApplication } from '@nestjs/common';
import { QueueName, SANDBOX_NOTIFY_CALLBACK_TOKEN, jobId, smsResendJobSuffix } from '@app/contracts';
import { FixedClock } from '@app/domain';
import { QUEUE_EPOCH_KEY } from '@app/persistence';
import { Job, Queue } from 'bullmq';
import IORedis from 'ioredis';
import { Client } from 'pg';
import { FreshStores, freshStores } from '../../../tools/stack/fresh-stack';
import { createMessage } from '../../../test/support/offer-fixtures';
import { NotifySandbox, startNotifier, startNotifySandbox } from '../../../test/support/notify-sandbox';
import { http, until } from '../../../test/support/wait';

jest.setTimeout(60_000);

const PORT = 14072;
const REDIS_DB = 4;
/** Noon in London (GMT in December): no quiet hours. */
const NOON = new Date('2026-12-01T12:00:00Z');
/** 20:30: quiet hours began half an hour ago. */
const EVENING = new Date('2026-12-01T20:30:00Z');
/** 08:00 the next morning, when they end. */
const MORNING = new Date('2026-12-02T08:00:00Z');

let stores: FreshStores;
let pg: Client;
let sim: NotifySandbox;
let notifier: INestApplication;
let redis: IORedis;
let queue: Queue;
const clock = new FixedClock(NOON);

const row = async (id: string) => (await pg.query(`SELECT status, notify_id, resends FROM sms_message WHERE id = $1`, [id])).rows[0];
/** The job's state once it has run (completed, failed, or held back), undefined while it waits or runs. */
async function settled(id: string): Promise<Job | undefined> {
  const job = await Job.fromId(queue, id);
  return job && ['completed', 'failed', 'delayed'].includes(await job.getState()) ? job : undefined;
}

beforeAll(async () => {
  stores = await freshStores('sx_resend_rebuild', REDIS_DB);
  pg = stores.pg;
  redis = new IORedis(stores.redisUrl);
  queue = new Queue(QueueName.smsOutbound, { connection: new IORedis(stores.redisUrl, { maxRetriesPerRequest: null }) });
  sim = await startNotifySandbox();
  notifier = await startNotifier(stores, sim, PORT, { QUIET_HOURS: '20:00-08:00' }, { clock });
});

afterAll(async () => {
  await notifier?.close();
  await queue?.close();
  await (await queue?.client)?.quit().catch(() => undefined);
  await sim?.app.close();
  redis?.disconnect();
  await stores?.drop();
});

it("after Redis lost a resend's job held by quiet hours, the rebuilt first job sends nothing and the resend goes once", async () => {
  const m = await createMessage(pg, 'help');
  const firstJob = jobId('send-sms', { smsId: m.smsId });
  const resendJob = `${firstJob}-${smsResendJobSuffix(1)}`;
  await until('sent', async () => (await row(m.smsId)).status === 'sent', 15_000);
  const { notify_id: failed } = await row(m.smsId);
  expect(await sim.messages(m.mobile)).toHaveLength(1);

  // In the evening Notify reports that text never went: it is put back for its first resend, whose job waits for 08:00.
  clock.set(EVENING);
  const receipt = await http('POST', `http://127.0.0.1:${PORT}/notify/status`, { id: failed, reference: m.smsId, status: 'technical-failure' }, { authorization: `Bearer ${SANDBOX_NOTIFY_CALLBACK_TOKEN}` });
  expect(receipt.status).toBe(200);
  expect(await row(m.smsId)).toMatchObject({ status: 'queued', resends: 1 });
  await until('the resend held for quiet hours', async () => (await (await Job.fromId(queue, resendJob))?.getState()) === 'delayed', 15_000, 100);

  // Redis loses everything; the relay rebuilds the queues from the outbox, the first send's job with them.
  await redis.flushdb();
  await until('queues rebuilt', async () => (await redis.exists(QUEUE_EPOCH_KEY)) === 1, 15_000, 100);
  await until('the resend held again', async () => (await (await Job.fromId(queue, resendJob))?.getState()) === 'delayed', 15_000, 100);
  await until('the first send\'s job rebuilt and run', () => settled(firstJob), 15_000, 100);

  // 08:00. The first send's job goes first, if it still waits: whenever it runs, it sends nothing.
  clock.set(MORNING);
  const first = (await Job.fromId(queue, firstJob))!;
  if ((await first.getState()) === 'delayed') {
    await first.promote();
    await until('the first send\'s job run again', async () => ['completed', 'failed'].includes(await first.getState()), 15_000, 100);
  }
  await new Promise((r) => setTimeout(r, 500));
  expect(await sim.messages(m.mobile)).toHaveLength(1);
  expect(await row(m.smsId)).toMatchObject({ status: 'queued', resends: 1, notify_id: failed });
  expect(await first.getState()).toBe('completed');
  expect((await Job.fromId(queue, firstJob))?.returnvalue).toEqual({ status: 'skipped', reason: 'a job for send 0 of a message now at send 1' });

  // Then the resend's job: the text goes once more, once.
  await (await Job.fromId(queue, resendJob))!.promote();
  await until('sent again', async () => {
    const r = await row(m.smsId);
    return r.status === 'sent' && r.notify_id !== failed;
  }, 15_000);
  await new Promise((r) => setTimeout(r, 1500));
  expect(await sim.messages(m.mobile)).toHaveLength(2);
  expect(await (await Job.fromId(queue, resendJob))?.getState()).toBe('completed');
  expect((await Job.fromId(queue, resendJob))?.returnvalue).toEqual({ status: 'done' });
});
