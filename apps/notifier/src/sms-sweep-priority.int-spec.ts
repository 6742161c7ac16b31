/**
 * A text's send ordered again, by the send sweep or after Notify's technical-failure, keeps the
 * priority it was first ordered with (an offer's, its slot's closeness to the cut-off; kept on
 * `sms_message`), so it keeps its place when the SMS rate limit binds. Without it the job went to
 * BullMQ's wait list, which is served before every prioritised job: ahead of the offers of slots
 * nearer their cut-off. Real Postgres and Redis, the notifier with its workers and relay; retries
 * shortened (fast-retries.ts) so a job fails for good quickly.
 * - The sweep, for a job that failed for good (BullMQ still holds it).
 * - The sweep, for a job Redis lost whose outbox row was cleaned up too.
 * - The resend after a technical-failure receipt.
 */
import { FAST_BACKOFF_MS, restoreRetries } from '../../../test/support/fast-retries';
import { INestApplication } from '@nestjs/common';
import { QueueName, SANDBOX_NOTIFY_CALLBACK_TOKEN, smsResendJobSuffix } from '@app/contracts';
import { QueueService } from '@app/platform';
import { Client } from 'pg';
import { FreshStores, freshStores } from '../../../tools/stack/fresh-stack';
import { createOffer } from '../../../test/support/offer-fixtures';
import { NotifySandbox, startNotifier, startNotifySandbox } from '../../../test/support/notify-sandbox';
import { http, until } from '../../../test/support/wait';
import { whileSentRefused } from '../../../test/support/sms-faults';
import { SmsSweep } from './sms-sweep';

jest.setTimeout(90_000);

const PORT = 14082;
const REDIS_DB = 14;

let stores: FreshStores;
let pg: Client;
let sim: NotifySandbox;
let notifier: INestApplication;
let queues: QueueService;
let sweep: SmsSweep;

const status = async (id: string) => (await pg.query(`SELECT status FROM sms_message WHERE id = $1`, [id])).rows[0].status;
const job = (id: string) => queues.queue(QueueName.smsOutbound).getJob(id);
/** The job the sweep ordered, once the relay has published its outbox row. */
async function published(id: string) {
  await until('the re-driven job published', async () => (await job(id)) !== undefined, 10_000, 20);
  return (await job(id))!;
}

beforeAll(async () => {
  expect(FAST_BACKOFF_MS).toBeLessThanOrEqual(50);
  stores = await freshStores('sx_sms_sweep_priority', REDIS_DB);
  pg = stores.pg;
  sim = await startNotifySandbox();
  // The sweep runs once at start-up (nothing is queued then); the test runs it again by hand.
  // Short Notify waits, so the look-up before each later attempt (send-unanswered) does not hold the job.
  notifier = await startNotifier(stores, sim, PORT, { NOTIFY_TIMEOUT_MS: '1000', NOTIFY_SEND_SETTLE_MS: '500' }, { sweep: { everyMs: 3_600_000, graceMs: 500 } });
  queues = notifier.get(QueueService);
  sweep = notifier.get(SmsSweep);
});

afterAll(async () => {
  await notifier?.close();
  await sim?.app.close();
  await stores?.drop();
  restoreRetries();
});

it('an offer text whose job failed for good is ordered again with the priority it was first ordered with', async () => {
  // Recording "sent" fails until the fault is lifted: every attempt is spent, the job fails for
  // good and the text stays queued.
  const smsId = await whileSentRefused(pg, async () => {
    const id = (await createOffer(pg, { smsPriority: 137 })).smsId!;
    await until('its job failed for good', async () => (await queues.queue(QueueName.smsOutbound).getJobState(`sms-${id}`)) === 'failed', 30_000, 100);
    return id;
  });
  expect((await job(`sms-${smsId}`))!.opts.priority).toBe(137); // as matching ordered it
  await new Promise((r) => setTimeout(r, 600)); // past the sweep's grace period
  expect(await status(smsId)).toBe('queued');

  expect(await sweep.sweep()).toBe(1);
  const redriven = await published(`sms-${smsId}`);
  expect(redriven.opts.priority).toBe(137);
  expect(redriven.priority).toBe(137);
  await until('sent', async () => (await status(smsId)) === 'sent', 20_000);
});

it('an offer text whose job Redis lost, its outbox row cleaned up too, is ordered again with the priority it was first ordered with', async () => {
  // Held until tomorrow (as by quiet hours): its job waits, delayed, and then Redis loses it; the
  // outbox row that ordered it is gone as well (cleaned up), so neither keeps the priority.
  const { smsId } = await createOffer(pg, { smsPriority: 241, smsSendAt: new Date(Date.now() + 24 * 3_600_000) });
  await until('its job delayed', async () => (await queues.queue(QueueName.smsOutbound).getJobState(`sms-${smsId}`)) === 'delayed', 10_000, 50);
  await queues.queue(QueueName.smsOutbound).remove(`sms-${smsId!}`);
  expect(await job(`sms-${smsId!}`)).toBeUndefined();
  expect((await pg.query(`DELETE FROM outbox WHERE job_id = $1`, [`sms-${smsId}`])).rowCount).toBe(1);
  await new Promise((r) => setTimeout(r, 600));

  expect(await sweep.sweep()).toBe(1);
  const redriven = await published(`sms-${smsId!}`);
  expect(redriven.opts.priority).toBe(241);
  await until('sent', async () => (await status(smsId!)) === 'sent', 20_000);
});

it('an offer text Notify reports a technical-failure for is sent again with the priority it was first ordered with', async () => {
  const { smsId } = await createOffer(pg, { smsPriority: 173 });
  await until('sent', async () => (await status(smsId!)) === 'sent', 20_000);
  const { notify_id: failed } = (await pg.query(`SELECT notify_id FROM sms_message WHERE id = $1`, [smsId])).rows[0];

  const receipt = await http('POST', `http://127.0.0.1:${PORT}/notify/status`, { id: failed, reference: smsId, status: 'technical-failure' }, { authorization: `Bearer ${SANDBOX_NOTIFY_CALLBACK_TOKEN}` });
  expect(receipt.status).toBe(200);
  const resendId = `sms-${smsId}-${smsResendJobSuffix(1)}`;
  expect((await pg.query(`SELECT priority FROM outbox WHERE job_id = $1`, [resendId])).rows).toEqual([{ priority: 173 }]);
  expect((await published(resendId)).opts.priority).toBe(173);
  await until('sent again', async () => (await status(smsId!)) === 'sent', 20_000);
});
