/**
 * The notifier against real Postgres, real Redis (BullMQ) and a scripted Notify on a real socket,
 * spoken to by the real notifications-node-client: callback authentication and de-duplication,
 * delivery receipts, and what each kind of Notify answer does to a message (retry with back-off,
 * a 429 that pauses without spending an attempt, a refused number that moves the offer on).
 */
import { INestApplication } from '@nestjs/common';
import { createTestDatabase, TestDatabase } from '@app/persistence';
import { QueueService, bootstrapApp, loadConfig } from '@app/platform';
import { QueueName, SANDBOX_NOTIFY_CALLBACK_TOKEN, jobId } from '@app/contracts';
import { Job, Queue } from 'bullmq';
import IORedis from 'ioredis';
import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { Client } from 'pg';
import { createMessage, createOffer } from '../../../test/support/offer-fixtures';
import { NotifierModule } from './app.module';
import { NotifierConfig } from './config';
import { SmsSenderWorker } from './sms-sender.worker';
import { SmsSweep } from './sms-sweep';
import { until } from '../../../test/support/wait';

jest.setTimeout(60_000);

const PORT = 14002;
const BASE = `http://127.0.0.1:${PORT}`;
const REDIS_DB = 6;
const AUTH = { authorization: `Bearer ${SANDBOX_NOTIFY_CALLBACK_TOKEN}` };
/** This service's offer template in its Notify account (not the sandbox's default). */
const OFFER_TEMPLATE = '5e0c9b1a-7d2f-4c8e-a3b4-1f2e3d4c5b6a';

/**
 * A Notify that answers each send from a script (default 201), recording every request; a lookup
 * by reference (`GET /v2/notifications`) lists the sends it accepted with that reference.
 */
class ScriptedNotify {
  readonly requests: Array<{ at: number; body: Record<string, any>; authorization?: string }> = [];
  readonly accepted: Array<{ id: string; reference: string }> = [];
  readonly lookups: string[] = [];
  readonly script: Array<{ status: number; error?: string; message?: string }> = [];
  private server?: Server;

  async start(): Promise<string> {
    this.server = createServer((req: IncomingMessage, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        if (req.method === 'GET') {
          const reference = new URL(req.url ?? '/', 'http://x').searchParams.get('reference') ?? '';
          this.lookups.push(reference);
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ notifications: this.accepted.filter((a) => a.reference === reference), links: { current: 'x' } }));
          return;
        }
        const body = raw ? JSON.parse(raw) : {};
        this.requests.push({ at: Date.now(), body, authorization: req.headers.authorization });
        const next = this.script.shift() ?? { status: 201 };
        res.writeHead(next.status, { 'content-type': 'application/json' });
        if (next.status === 201) {
          const id = `00000000-0000-4000-8000-${String(this.requests.length).padStart(12, '0')}`;
          this.accepted.push({ id, reference: body.reference });
          res.end(JSON.stringify({ id, reference: body.reference, content: { body: 'x', from_number: 'NHS' }, uri: 'x', template: { id: body.template_id, version: 1, uri: 'x' } }));
        } else {
          res.end(JSON.stringify({ status_code: next.status, errors: [{ error: next.error ?? 'Error', message: next.message ?? 'scripted' }] }));
        }
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  for(phone: string) {
    return this.requests.filter((r) => r.body.phone_number === phone);
  }

  stop(): Promise<void> {
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

let db: TestDatabase;
let pg: Client;
let app: INestApplication;
let redisUrl: string;
const notify = new ScriptedNotify();


const post = (path: string, body: unknown, headers: Record<string, string> = AUTH) =>
  fetch(`${BASE}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
const sms = async (id: string) => (await pg.query(`SELECT status, error, notify_id FROM sms_message WHERE id = $1`, [id])).rows[0];
const mobileStatus = async (patientId: string) => (await pg.query(`SELECT mobile_status FROM patient WHERE id = $1`, [patientId])).rows[0].mobile_status;
/** Attempts the send job of a message has spent (a pause that puts it back spends none). */
async function attemptsMade(smsId: string): Promise<number | undefined> {
  const queue = new Queue(QueueName.smsOutbound, { connection: new IORedis(redisUrl, { maxRetriesPerRequest: null }) });
  try {
    return (await Job.fromId(queue, jobId('send-sms', { smsId })))?.attemptsMade;
  } finally {
    await queue.close();
    await (await queue.client).quit().catch(() => undefined);
  }
}
const outboxJobs = async (name: string, payloadKey: string, value: string) =>
  (await pg.query(`SELECT job_id FROM outbox WHERE job_name = $1 AND payload->>$2 = $3`, [name, payloadKey, value])).rows;

beforeAll(async () => {
  db = await createTestDatabase('sx_notifier');
  pg = new Client({ connectionString: db.url });
  await pg.connect();
  redisUrl = `${(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379').replace(/\/\d+$/, '')}/${REDIS_DB}`;
  const redis = new IORedis(redisUrl);
  await redis.flushdb();
  await redis.quit();
  const config = loadConfig(NotifierConfig, {
    PORT: String(PORT), HOST: '127.0.0.1', DATABASE_URL: db.url, REDIS_URL: redisUrl, LOG_LEVEL: 'error',
    NOTIFY_BASE_URL: await notify.start(), NOTIFY_RATE_LIMITED_PAUSE_MS: '400', NOTIFY_AUTH_FAILED_PAUSE_MS: '400', QUIET_HOURS: '', NOTIFY_TEMPLATE_OFFER: OFFER_TEMPLATE,
    // A retry after a 5xx waits NOTIFY_TIMEOUT_MS + NOTIFY_SEND_SETTLE_MS from the send it follows.
    NOTIFY_TIMEOUT_MS: '1000', NOTIFY_SEND_SETTLE_MS: '300',
  }).check();
  app = await bootstrapApp(NotifierModule.forRoot(config), { config });
});

afterAll(async () => {
  await app?.close();
  await pg?.end();
  await notify.stop();
  await db?.drop();
});

describe('Notify callbacks', () => {
  const text = (id: string, message = 'YES 4821', source = '447700900501') => ({
    id, source_number: source, destination_number: '07700900000', message, date_received: new Date().toISOString(),
  });

  it.each([
    ['no token', {}],
    ['a wrong token', { authorization: 'Bearer wrong-token' }],
    ['the right token with a suffix', { authorization: `Bearer ${SANDBOX_NOTIFY_CALLBACK_TOKEN}x` }],
    ['another scheme', { authorization: `Basic ${SANDBOX_NOTIFY_CALLBACK_TOKEN}` }],
  ])('refuses %s on both callbacks and stores nothing', async (_what, headers) => {
    const id = `auth-${Math.random()}`;
    expect((await post('/notify/inbound', text(id), headers as Record<string, string>)).status).toBe(401);
    expect((await post('/notify/status', { id, status: 'delivered' }, headers as Record<string, string>)).status).toBe(401);
    expect((await pg.query(`SELECT 1 FROM patient_reply WHERE external_id = $1`, [id])).rowCount).toBe(0);
  });

  it('acts on a received text once however often Notify retries it', async () => {
    const offer = await createOffer(pg, { sms: false, mobile: '+447700900501' });
    const id = 'b8f2c1de-0000-4000-8000-000000000001';
    const answers = await Promise.all([1, 2, 3].map(() => post('/notify/inbound', text(id, 'Yes please'))));
    const bodies = (await Promise.all(answers.map((r) => r.json()))) as Array<{ duplicate: boolean }>;
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(bodies.filter((b) => b.duplicate === false)).toHaveLength(1);
    const stored = (await pg.query(`SELECT id, mobile, intent, code FROM patient_reply WHERE channel = 'sms' AND external_id = $1`, [id])).rows;
    expect(stored).toEqual([{ id: expect.any(String), mobile: offer.mobile, intent: 'yes', code: null }]);
    // One job for the text, named by the batch it was stored in.
    expect((await pg.query(`SELECT job_id, payload->'replyIds' AS ids FROM outbox WHERE job_name = 'process-replies' AND payload->'replyIds' ? $1`, [stored[0].id])).rows)
      .toEqual([{ job_id: jobId('process-replies', { replyIds: [stored[0].id] }), ids: [stored[0].id] }]);
  });

  it('refuses a malformed received text with a clear error and stores nothing', async () => {
    const res = await post('/notify/inbound', { id: 'bad-1', message: 'YES' });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toMatch(/source_number/);
    expect((await pg.query(`SELECT 1 FROM patient_reply WHERE external_id = 'bad-1'`)).rowCount).toBe(0);
  });

  it('records delivery receipts per message, by Notify id or by our reference, and never undoes a final status', async () => {
    const a = await createMessage(pg, 'no_offer');
    await until('sent', async () => (await sms(a.smsId)).status === 'sent');
    const notifyId = (await sms(a.smsId)).notify_id;
    expect((await post('/notify/status', { id: notifyId, reference: a.smsId, status: 'delivered' })).status).toBe(200);
    expect(await sms(a.smsId)).toMatchObject({ status: 'delivered' });
    // A late failure receipt for a delivered text changes nothing.
    await post('/notify/status', { id: notifyId, reference: a.smsId, status: 'temporary-failure' });
    expect(await sms(a.smsId)).toMatchObject({ status: 'delivered' });
    // A receipt found only by our reference (Notify's id not yet stored on our side).
    const b = await createMessage(pg, 'help');
    await until('sent', async () => (await sms(b.smsId)).status === 'sent');
    await pg.query(`UPDATE sms_message SET notify_id = NULL WHERE id = $1`, [b.smsId]);
    await post('/notify/status', { id: 'c0ffee00-0000-4000-8000-000000000002', reference: b.smsId, status: 'temporary-failure' });
    expect(await sms(b.smsId)).toMatchObject({ status: 'failed', error: 'temporary-failure', notify_id: 'c0ffee00-0000-4000-8000-000000000002' });
    expect(await mobileStatus(b.patientId)).toBe('valid');
    // Not a status Notify has.
    expect((await post('/notify/status', { id: notifyId, status: 'exploded' })).status).toBe(400);
  });

  it('sends a text again after a technical-failure receipt, each time with a job of its own, at most NOTIFY_TECHNICAL_FAILURE_RESENDS times; then an offer moves on, its number still valid', async () => {
    const offer = await createOffer(pg);
    const smsId = offer.smsId!;
    await until('offer sent', async () => (await sms(smsId)).status === 'sent');
    const failedIds: string[] = [];
    for (let resend = 1; resend <= 2; resend++) {
      const { notify_id: notifyId } = await sms(smsId);
      failedIds.push(notifyId);
      // Notify repeats its callbacks: the repeat changes nothing.
      for (let i = 0; i < 2; i++) expect((await post('/notify/status', { id: notifyId, reference: smsId, status: 'technical-failure' })).status).toBe(200);
      await until(`sent again (${resend})`, async () => {
        const m = await sms(smsId);
        return m.status === 'sent' && !failedIds.includes(m.notify_id);
      });
      expect(notify.for(offer.mobile)).toHaveLength(resend + 1);
      expect((await pg.query(`SELECT resends FROM sms_message WHERE id = $1`, [smsId])).rows[0].resends).toBe(resend);
    }
    expect((await outboxJobs('send-sms', 'smsId', smsId)).map((j) => j.job_id).sort()).toEqual(
      [jobId('send-sms', { smsId }), `${jobId('send-sms', { smsId })}-resend-1`, `${jobId('send-sms', { smsId })}-resend-2`].sort(),
    );
    // A late repeat about a text already sent again changes nothing.
    expect((await post('/notify/status', { id: failedIds[0], reference: smsId, status: 'technical-failure' })).status).toBe(200);
    expect(await sms(smsId)).toMatchObject({ status: 'sent' });
    expect(await outboxJobs('offer-undeliverable', 'offerId', offer.offerId)).toHaveLength(0);
    // The resends are spent: the text failed, and the offer moves on as an undeliverable one.
    const { notify_id: last } = await sms(smsId);
    expect((await post('/notify/status', { id: last, reference: smsId, status: 'technical-failure' })).status).toBe(200);
    expect(await sms(smsId)).toMatchObject({ status: 'failed', error: 'technical-failure', notify_id: last });
    expect(await outboxJobs('offer-undeliverable', 'offerId', offer.offerId)).toHaveLength(1);
    expect(await mobileStatus(offer.patientId)).toBe('valid');
    await new Promise((r) => setTimeout(r, 300));
    expect(notify.for(offer.mobile)).toHaveLength(3);
  });

  it('answers 503 with Retry-After to a technical-failure receipt that beats the record of its send, and resends once it is recorded', async () => {
    const offer = await createOffer(pg, { sms: false });
    const [row] = (await pg.query(
      `INSERT INTO sms_message (patient_id, offer_id, kind, personalisation, status) VALUES ($1, $2, 'no_offer', '{}', 'queued') RETURNING id`,
      [offer.patientId, offer.offerId],
    )).rows;
    const receipt = { id: 'c0ffee00-0000-4000-8000-000000000003', reference: row.id, status: 'technical-failure' };
    const early = await post('/notify/status', receipt);
    expect(early.status).toBe(503);
    expect(early.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await sms(row.id)).toMatchObject({ status: 'queued', error: null, notify_id: null });
    expect(await outboxJobs('send-sms', 'smsId', row.id)).toHaveLength(0);
    // The sender records the send; Notify's retry of the callback lands.
    await pg.query(`UPDATE sms_message SET status = 'sent', notify_id = $2 WHERE id = $1`, [row.id, receipt.id]);
    expect((await post('/notify/status', receipt)).status).toBe(200);
    expect((await outboxJobs('send-sms', 'smsId', row.id)).map((j) => j.job_id)).toEqual([`${jobId('send-sms', { smsId: row.id })}-resend-1`]);
  });

  it("leaves a text being sent again to its resend's job in the send sweep, and orders that job again if it was lost", async () => {
    const m = await createMessage(pg, 'help');
    await until('sent', async () => (await sms(m.smsId)).status === 'sent');
    const resendJob = `${jobId('send-sms', { smsId: m.smsId })}-resend-1`;
    // Its first resend waits (as in quiet hours) while its first job is long done.
    const queue = app.get(QueueService).queue(QueueName.smsOutbound);
    await queue.add('send-sms', { smsId: m.smsId }, { jobId: resendJob, delay: 3_600_000 });
    // As the technical-failure receipt leaves it.
    await pg.query(`UPDATE sms_message SET status = 'queued', resends = 1, error = 'technical-failure', send_started_at = NULL, created_at = now() - interval '1 hour' WHERE id = $1`, [m.smsId]);
    const sweep = app.get(SmsSweep);
    const timing = sweep.timing;
    // No grace for this case only: left at 0, the app's own periodic pass would order jobs for
    // the rows later cases write as queued and drive by hand.
    sweep.timing = { ...timing, graceMs: 0 };
    try {
      expect(await sweep.sweep()).toBe(0);
      expect(await outboxJobs('send-sms', 'smsId', m.smsId)).toHaveLength(1);
      // The resend's job is lost (Redis lost it, say): ordered again under its own id, and sent.
      await queue.remove(resendJob);
      expect(await sweep.sweep()).toBe(1);
      expect((await outboxJobs('send-sms', 'smsId', m.smsId)).map((j) => j.job_id)).toContain(resendJob);
      await until('sent again', async () => (await sms(m.smsId)).status === 'sent');
      expect(notify.for(m.mobile)).toHaveLength(2);
    } finally {
      sweep.timing = timing;
    }
  });

  it("does not order a message's first job again when the sweep read it before a technical-failure put it back to queued for its resend", async () => {
    const m = await createMessage(pg, 'help');
    await until('sent', async () => (await sms(m.smsId)).status === 'sent');
    // The sweep's page was read while the first job was still sending: queued, no resend yet.
    const stale = (await pg.query(`SELECT id, created_at, resends FROM sms_message WHERE id = $1`, [m.smsId])).rows[0];
    stale.resends = 0;
    // Then the first job recorded the send and finished; a technical-failure receipt put the text
    // back for its resend, whose job waits (as in quiet hours).
    const queue = app.get(QueueService).queue(QueueName.smsOutbound);
    await queue.add('send-sms', { smsId: m.smsId }, { jobId: `${jobId('send-sms', { smsId: m.smsId })}-resend-1`, delay: 3_600_000 });
    await pg.query(`UPDATE sms_message SET status = 'queued', resends = 1, error = 'technical-failure', send_started_at = NULL WHERE id = $1`, [m.smsId]);
    // The sweep reaches the message with what it read: the first job is done, but not the message's job any more.
    expect(await app.get(SmsSweep).redriveOne(stale)).toBe(false);
    expect((await outboxJobs('send-sms', 'smsId', m.smsId)).map((j) => j.job_id)).toEqual([jobId('send-sms', { smsId: m.smsId })]);
    await new Promise((r) => setTimeout(r, 300));
    expect(notify.for(m.mobile)).toHaveLength(1);
  });

  it("answers 503 with Retry-After to a resend's delivery or permanent-failure receipt that beats the record of the resend's send, and records it once that is recorded", async () => {
    const offer = await createOffer(pg);
    const smsId = offer.smsId!;
    await until('offer sent', async () => (await sms(smsId)).status === 'sent');
    const { notify_id: failed } = await sms(smsId);
    // As a technical-failure receipt leaves it, while the resend's job is sending (and held here).
    const queue = app.get(QueueService).queue(QueueName.smsOutbound);
    await queue.add('send-sms', { smsId }, { jobId: `${jobId('send-sms', { smsId })}-resend-1`, delay: 3_600_000 });
    await pg.query(`UPDATE sms_message SET status = 'queued', resends = 1, error = 'technical-failure', send_started_at = now() WHERE id = $1`, [smsId]);
    const resent = 'c0ffee00-0000-4000-8000-000000000004';
    for (const status of ['delivered', 'permanent-failure']) {
      const early = await post('/notify/status', { id: resent, reference: smsId, status });
      expect(early.status).toBe(503);
      expect(early.headers.get('retry-after')).toMatch(/^\d+$/);
    }
    expect(await sms(smsId)).toMatchObject({ status: 'queued', notify_id: failed });
    expect(await mobileStatus(offer.patientId)).toBe('valid');
    // The resend's "sent" is recorded; Notify's retry of the permanent failure lands.
    await pg.query(`UPDATE sms_message SET status = 'sent', notify_id = $2 WHERE id = $1`, [smsId, resent]);
    expect((await post('/notify/status', { id: resent, reference: smsId, status: 'permanent-failure' })).status).toBe(200);
    expect(await sms(smsId)).toMatchObject({ status: 'failed', error: 'permanent-failure', notify_id: resent });
    expect(await mobileStatus(offer.patientId)).toBe('invalid');
    expect(await outboxJobs('offer-undeliverable', 'offerId', offer.offerId)).toHaveLength(1);
  });

  it('fails a text on a temporary-failure receipt without sending it again; an offer moves on, its number still valid', async () => {
    const offer = await createOffer(pg);
    await until('offer sent', async () => (await sms(offer.smsId!)).status === 'sent');
    const { notify_id: notifyId } = await sms(offer.smsId!);
    expect((await post('/notify/status', { id: notifyId, reference: offer.smsId, status: 'temporary-failure' })).status).toBe(200);
    expect(await sms(offer.smsId!)).toMatchObject({ status: 'failed', error: 'temporary-failure' });
    expect(await mobileStatus(offer.patientId)).toBe('valid');
    expect(await outboxJobs('offer-undeliverable', 'offerId', offer.offerId)).toHaveLength(1);
    expect(await outboxJobs('send-sms', 'smsId', offer.smsId!)).toHaveLength(1);
  });

  it('treats a permanent-failure receipt for an offer as undeliverable: number invalid, offer moves on once', async () => {
    const offer = await createOffer(pg);
    await until('offer sent', async () => (await sms(offer.smsId!)).status === 'sent');
    const { notify_id: notifyId } = await sms(offer.smsId!);
    for (let i = 0; i < 2; i++) expect((await post('/notify/status', { id: notifyId, reference: offer.smsId, status: 'permanent-failure' })).status).toBe(200);
    expect(await sms(offer.smsId!)).toMatchObject({ status: 'failed', error: 'permanent-failure' });
    expect(await mobileStatus(offer.patientId)).toBe('invalid');
    expect(await outboxJobs('offer-undeliverable', 'offerId', offer.offerId)).toHaveLength(1);
  });
});

describe('sending through Notify', () => {
  it("sends with the configured template id of the text's kind, and a reference that is our message id and nothing personal", async () => {
    const offer = await createOffer(pg);
    await until('sent', async () => (await sms(offer.smsId!)).status === 'sent');
    const [req] = notify.for(offer.mobile);
    expect(req.body).toEqual({
      phone_number: offer.mobile,
      template_id: OFFER_TEMPLATE,
      reference: offer.smsId,
      personalisation: expect.objectContaining({ code: offer.code, link: expect.stringContaining(`/o/${offer.token}`) }),
    });
    expect(req.authorization).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/); // Notify's JWT, from the real client
    const nhs = (await pg.query(`SELECT nhs_number FROM patient WHERE id = $1`, [offer.patientId])).rows[0].nhs_number;
    expect(JSON.stringify(req.body)).not.toContain(nhs);
  });

  it('retries a 5xx with back-off until Notify takes the message', async () => {
    notify.script.push({ status: 503, error: 'ServiceUnavailable' }, { status: 500, error: 'Exception' });
    const m = await createMessage(pg, 'help');
    await until('sent after retries', async () => (await sms(m.smsId)).status === 'sent');
    const attempts = notify.for(m.mobile);
    expect(attempts).toHaveLength(3);
    // Each retry first asked Notify whether it had taken the text after all; the first send did not.
    expect(notify.lookups.filter((r) => r === m.smsId)).toHaveLength(2);
    // Notify may still be working on a send it answered 5xx: each retry waits for it to finish
    // (NOTIFY_TIMEOUT_MS + NOTIFY_SEND_SETTLE_MS from the send) before asking, then sends again.
    expect(attempts[1].at - attempts[0].at).toBeGreaterThanOrEqual(1300 - 50);
    expect(attempts[2].at - attempts[1].at).toBeGreaterThanOrEqual(1300 - 50);
  });

  it('pauses the queue on a 429 and sends afterwards without spending an attempt', async () => {
    notify.script.push({ status: 429, error: 'RateLimitError', message: 'Exceeded rate limit for key type LIVE of 3000 requests per 60 seconds' });
    const m = await createMessage(pg, 'help');
    await until('sent after the pause', async () => (await sms(m.smsId)).status === 'sent');
    const attempts = notify.for(m.mobile);
    expect(attempts).toHaveLength(2);
    expect(attempts[1].at - attempts[0].at).toBeGreaterThanOrEqual(350);
    // The completed job counts one attempt (the one that succeeded): the 429 was not one.
    expect(await attemptsMade(m.smsId)).toBe(1);
    // Notify said it did not take the text: the start after the pause sent it without waiting for
    // that send to settle or asking Notify for it.
    expect(notify.lookups).not.toContain(m.smsId);
  });

  it.each([
    ['a 400 "Template not found" (a template id that is not our service\'s)', { status: 400, error: 'BadRequestError', message: 'Template not found' }],
    ['a 404 (a wrong NOTIFY_BASE_URL)', { status: 404, error: 'NotFound', message: 'The requested URL was not found on the server.' }],
    ['a 400 for a service in trial mode', { status: 400, error: 'BadRequestError', message: "Can't send to this recipient when service is in trial mode - see https://www.notifications.service.gov.uk/trial-mode" }],
  ])('on %s pauses the queue and sends afterwards: no attempt spent, the offer and the number untouched, the operator told', async (_what, answer) => {
    notify.script.push(answer);
    const offer = await createOffer(pg);
    await until('sent after the pause', async () => (await sms(offer.smsId!)).status === 'sent');
    const attempts = notify.for(offer.mobile);
    expect(attempts).toHaveLength(2);
    expect(attempts[1].at - attempts[0].at).toBeGreaterThanOrEqual(350);
    expect(await mobileStatus(offer.patientId)).toBe('valid');
    expect(await outboxJobs('offer-undeliverable', 'offerId', offer.offerId)).toHaveLength(0);
    expect(await attemptsMade(offer.smsId!)).toBe(1);
    expect(notify.lookups).not.toContain(offer.smsId);
    const metrics = await (await fetch(`${BASE}/metrics`)).text();
    expect(Number(/notify_service_failures_total\{[^}]*reason="config"[^}]*\} (\d+)/.exec(metrics)?.[1] ?? 0)).toBeGreaterThan(0);
  });

  it("keeps a team-only key's refusal of a number outside the team to that message: failed at once, the offer moved on, the number still valid", async () => {
    notify.script.push({ status: 400, error: 'BadRequestError', message: "Can't send to this recipient using a team-only API key" });
    const offer = await createOffer(pg);
    await until('failed', async () => (await sms(offer.smsId!)).status === 'failed');
    expect(await mobileStatus(offer.patientId)).toBe('valid');
    expect(await outboxJobs('offer-undeliverable', 'offerId', offer.offerId)).toHaveLength(1);
    expect(notify.for(offer.mobile)).toHaveLength(1);
  });

  it('marks a refused number invalid and moves its offer on at once, without retrying', async () => {
    notify.script.push({ status: 400, error: 'ValidationError', message: 'phone_number Not a UK mobile number' });
    const offer = await createOffer(pg);
    await until('failed', async () => (await sms(offer.smsId!)).status === 'failed');
    expect(await sms(offer.smsId!)).toMatchObject({ error: 'ValidationError: phone_number Not a UK mobile number' });
    expect(await mobileStatus(offer.patientId)).toBe('invalid');
    expect(await outboxJobs('offer-undeliverable', 'offerId', offer.offerId)).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 700));
    expect(notify.for(offer.mobile)).toHaveLength(1);
  });

  it('on the last attempt gives up for good: the message failed, the offer moved on, the number still valid', async () => {
    const offer = await createOffer(pg, { sms: false });
    const [row] = (await pg.query(
      `INSERT INTO sms_message (patient_id, offer_id, kind, personalisation, status) VALUES ($1, $2, 'offer', $3, 'queued') RETURNING id`,
      [offer.patientId, offer.offerId, JSON.stringify({ hospital: 'H', site: 'S', specialty: 'Dermatology', date: 'd', time: 't', code: offer.code, expires: 'e', link: 'l' })],
    )).rows;
    notify.script.push({ status: 502, error: 'BadGateway' });
    const outcome = await app.get(SmsSenderWorker).process({ smsId: row.id }, { attemptsMade: 7, attempts: 8 });
    expect(outcome).toEqual({ status: 'done', reason: 'gave up' });
    expect(await sms(row.id)).toMatchObject({ status: 'failed', error: 'BadGateway: scripted' });
    expect(await mobileStatus(offer.patientId)).toBe('valid');
    expect(await outboxJobs('offer-undeliverable', 'offerId', offer.offerId)).toHaveLength(1);
  });

  it('on the last attempt, a send Notify did not answer is looked up once Notify has had time to finish it, before the message is given up', async () => {
    const worker = app.get(SmsSenderWorker);
    const holds: Array<[number, unknown]> = [];
    const holdFor = async (ms: number, note?: unknown): Promise<never> => {
      holds.push([ms, note]);
      throw new Error('held');
    };
    const lastAttempt = async () => {
      const offer = await createOffer(pg, { sms: false });
      const [row] = (await pg.query(
        `INSERT INTO sms_message (patient_id, offer_id, kind, personalisation, status) VALUES ($1, $2, 'offer', $3, 'queued') RETURNING id`,
        [offer.patientId, offer.offerId, JSON.stringify({ hospital: 'H', site: 'S', specialty: 'Dermatology', date: 'd', time: 't', code: offer.code, expires: 'e', link: 'l' })],
      )).rows;
      notify.script.push({ status: 504, error: 'GatewayTimeout' });
      await expect(worker.process({ smsId: row.id }, { attemptsMade: 7, attempts: 8, holdFor })).rejects.toThrow('held');
      // Held for NOTIFY_TIMEOUT_MS + NOTIFY_SEND_SETTLE_MS, to look then; not given up yet.
      expect(holds.pop()).toEqual([1300, { lookUpThenGiveUp: true }]);
      expect(await sms(row.id)).toMatchObject({ status: 'queued' });
      expect(await outboxJobs('offer-undeliverable', 'offerId', offer.offerId)).toHaveLength(0);
      // Notify has had its time.
      await pg.query(`UPDATE sms_message SET send_started_at = now() - interval '1 minute' WHERE id = $1`, [row.id]);
      return { offer, smsId: row.id as string };
    };

    // Notify did take it behind its gateway's 504: recorded as sent, and not sent again.
    const took = await lastAttempt();
    notify.accepted.push({ id: '00000000-0000-4000-8000-00000000f504', reference: took.smsId });
    expect(await worker.process({ smsId: took.smsId }, { attemptsMade: 7, attempts: 8, holdFor, lookUpThenGiveUp: true })).toEqual({ status: 'done' });
    expect(await sms(took.smsId)).toMatchObject({ status: 'sent', notify_id: '00000000-0000-4000-8000-00000000f504' });
    expect(notify.for(took.offer.mobile)).toHaveLength(1);
    expect(await outboxJobs('offer-undeliverable', 'offerId', took.offer.offerId)).toHaveLength(0);

    // Notify does not hold it: given up, without another send.
    const lost = await lastAttempt();
    expect(await worker.process({ smsId: lost.smsId }, { attemptsMade: 7, attempts: 8, holdFor, lookUpThenGiveUp: true })).toEqual({ status: 'done', reason: 'gave up' });
    expect(await sms(lost.smsId)).toMatchObject({ status: 'failed' });
    expect(notify.for(lost.offer.mobile)).toHaveLength(1);
    expect(await outboxJobs('offer-undeliverable', 'offerId', lost.offer.offerId)).toHaveLength(1);
    expect(holds).toEqual([]);
  });

  it('records as sent, not skipped, a text whose unanswered send reached Notify before its number was marked invalid', async () => {
    const offer = await createOffer(pg, { sms: false });
    const [row] = (await pg.query(
      `INSERT INTO sms_message (patient_id, offer_id, kind, personalisation, status, send_started_at) VALUES ($1, $2, 'offer', $3, 'queued', now() - interval '1 minute') RETURNING id`,
      [offer.patientId, offer.offerId, JSON.stringify({ hospital: 'H', site: 'S', specialty: 'Dermatology', date: 'd', time: 't', code: offer.code, expires: 'e', link: 'l' })],
    )).rows;
    // The send timed out, but Notify took it; the number was marked invalid since (another text's permanent failure).
    notify.accepted.push({ id: '00000000-0000-4000-8000-0000000ba5e0', reference: row.id });
    await pg.query(`UPDATE patient SET mobile_status = 'invalid' WHERE id = $1`, [offer.patientId]);
    expect(await app.get(SmsSenderWorker).process({ smsId: row.id }, { attemptsMade: 1, attempts: 8 })).toEqual({ status: 'done' });
    expect(await sms(row.id)).toMatchObject({ status: 'sent', notify_id: '00000000-0000-4000-8000-0000000ba5e0' });
    expect(notify.for(offer.mobile)).toHaveLength(0);
  });

  it('records what Notify accepted for many messages at once in a few commits, each with its own Notify id', async () => {
    const rows: string[] = [];
    for (let i = 0; i < 20; i++) {
      const offer = await createOffer(pg, { sms: false });
      rows.push((await pg.query(
        `INSERT INTO sms_message (patient_id, offer_id, kind, personalisation, status) VALUES ($1, $2, 'offer', $3, 'queued') RETURNING id`,
        [offer.patientId, offer.offerId, JSON.stringify({ hospital: 'H', site: 'S', specialty: 'Dermatology', date: 'd', time: 't', code: offer.code, expires: 'e', link: 'l' })],
      )).rows[0].id);
    }
    const worker = app.get(SmsSenderWorker);
    const outcomes = await Promise.all(rows.map((smsId) => worker.process({ smsId })));
    expect(outcomes.every((o) => o.status === 'done')).toBe(true);
    const sent = (await pg.query(`SELECT status, notify_id, sent_at FROM sms_message WHERE id = ANY($1::uuid[])`, [rows])).rows;
    expect(sent.every((r) => r.status === 'sent' && r.notify_id)).toBe(true);
    expect(new Set(sent.map((r) => r.notify_id)).size).toBe(rows.length);
    // now() is the transaction's start: rows recorded by one commit share it.
    expect(new Set(sent.map((r) => r.sent_at.getTime())).size).toBeLessThan(rows.length);
  });

  it('does not send an offer whose slot has gone meanwhile, nor a message twice', async () => {
    const offer = await createOffer(pg, { sms: false });
    await pg.query(`UPDATE offer SET status = 'superseded' WHERE id = $1`, [offer.offerId]);
    const [row] = (await pg.query(
      `INSERT INTO sms_message (patient_id, offer_id, kind, personalisation, status) VALUES ($1, $2, 'offer', '{}', 'queued') RETURNING id`,
      [offer.patientId, offer.offerId],
    )).rows;
    const worker = app.get(SmsSenderWorker);
    expect(await worker.process({ smsId: row.id })).toEqual({ status: 'skipped', reason: 'offer is superseded' });
    expect(await worker.process({ smsId: row.id })).toEqual({ status: 'skipped', reason: 'already skipped' });
    expect(notify.for(offer.mobile)).toHaveLength(0);
  });
});

describe('the offer page', () => {
  const page = (path: string, init?: RequestInit) => fetch(`${BASE}${path}`, init).then(async (r) => ({ status: r.status, html: await r.text() }));
  const form = (fields: Array<[string, string]>) => ({
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString(),
  });

  it('shows the offer: hospital, address, specialty, date, time, how long it lasts, and both answers', async () => {
    const offer = await createOffer(pg, { sms: false });
    const res = await fetch(`${BASE}/o/${offer.token}`);
    const { status, html } = { status: res.status, html: await res.text() };
    expect(status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('content-security-policy')).toBe("frame-ancestors 'none'");
    for (const text of ['Chelsea and Westminster Hospital NHS Foundation Trust', '369 Fulham Rd', 'SW10 9NH', 'Dermatology', 'about 2 hours', `YES ${offer.code}`]) expect(html).toContain(text);
    expect(html).toContain(`action="/o/${offer.token}/accept"`);
    expect(html).toContain(`action="/o/${offer.token}/decline"`);
    expect(html).toMatch(/current appointment/);
    expect(html).toMatch(/place on the waiting list/);
  });

  it('lets exactly one of two simultaneous clicks through, and says so plainly to the other', async () => {
    const offer = await createOffer(pg, { sms: false });
    const clicks = await Promise.all([page(`/o/${offer.token}/accept`, { method: 'POST' }), page(`/o/${offer.token}/decline`, { method: 'POST' })]);
    expect(clicks.map((c) => c.status).sort()).toEqual([200, 409]);
    expect(clicks.find((c) => c.status === 409)!.html).toContain('We already have your answer');
    const replies = (await pg.query(`SELECT intent FROM patient_reply WHERE channel = 'web' AND offer_id = $1`, [offer.offerId])).rows;
    expect(replies).toHaveLength(1);
    // The link has done its work: a plain page, not the offer again.
    const again = await page(`/o/${offer.token}`);
    expect(again.html).toContain('We already have your answer');
    expect(again.html).not.toContain('/accept');
  });

  it.each([
    ['expired', { expiresAt: new Date(Date.now() - 60_000) }, 410, 'This offer has expired'],
    ['taken by someone else', { status: 'superseded' }, 410, 'no longer available'],
    ['declined', { status: 'declined' }, 200, 'You turned down this offer'],
    ['accepted', { status: 'accepted' }, 200, 'You have accepted this appointment'],
  ])('shows a clear page for a link whose offer was %s, and accepts nothing', async (_what, opts, status, text) => {
    const offer = await createOffer(pg, { sms: false, ...opts });
    expect(await page(`/o/${offer.token}`)).toEqual({ status, html: expect.stringContaining(text) });
    expect((await page(`/o/${offer.token}/accept`, { method: 'POST' })).status).toBe(status);
    expect((await pg.query(`SELECT 1 FROM patient_reply WHERE offer_id = $1`, [offer.offerId])).rowCount).toBe(0);
  });

  it('answers an unknown or malformed token with "not valid"', async () => {
    for (const token of ['x'.repeat(32), 'short', '..%2F..%2Fetc']) expect(await page(`/o/${token}`)).toEqual({ status: 404, html: expect.stringContaining('This link is not valid') });
  });

  it('stores the sites a patient can reach and the dates they cannot make where matching reads them', async () => {
    const offer = await createOffer(pg, { sms: false });
    const get = await page(`/o/${offer.token}/preferences`);
    expect(get.status).toBe(200);
    expect(get.html).toContain('value="RYJ02"');
    expect(get.html).not.toContain('value="RQM01"'); // their own trust's sites are always acceptable
    const from = new Date(Date.now() + 20 * 86_400_000);
    const to = new Date(Date.now() + 30 * 86_400_000);
    const parts = (name: string, d: Date): Array<[string, string]> => [[`${name}[day]`, String(d.getUTCDate())], [`${name}[month]`, String(d.getUTCMonth() + 1)], [`${name}[year]`, String(d.getUTCFullYear())]];
    const saved = await page(`/o/${offer.token}/preferences`, form([['sites', 'RYJ02'], ['sites', 'RAS01'], ...parts('unavailableFrom', from), ...parts('unavailableTo', to)]));
    expect(saved).toEqual({ status: 200, html: expect.stringContaining('Your choices have been saved') });
    const [entry] = (await pg.query(
      `SELECT any_site, acceptable_sites, unavailable, sites_stated_at IS NOT NULL AND preferences_stated_at IS NOT NULL AS stated FROM waiting_list_entry WHERE id = $1`, [offer.entryId],
    )).rows;
    const iso = (d: Date) => d.toISOString().slice(0, 10);
    // Marked as the patient's own, so the trust's next PTL upload leaves them be.
    expect(entry).toEqual({ any_site: false, acceptable_sites: ['RAS01', 'RYJ02'], unavailable: [{ from: iso(from), to: iso(to) }], stated: true });
    // Shown back on the form, where it can be removed.
    expect((await page(`/o/${offer.token}/preferences`)).html).toContain(`value="${iso(from)}/${iso(to)}"`);
  });

  it("writes only what the form showed, to the offer's own pathway: the patient's other pathways keep their sites", async () => {
    // The offer is for a pathway without ICS-wide consent (its page shows no sites); the same
    // patient waits at another trust on a pathway that may be offered any site.
    const offer = await createOffer(pg, { sms: false, icsWideConsent: false });
    await pg.query(`UPDATE waiting_list_entry SET any_site = true, acceptable_sites = '{RQM01}' WHERE id = $1`, [offer.entryId]);
    const [other] = (await pg.query(
      `INSERT INTO waiting_list_entry (trust_ods, pathway_id, patient_id, tfc, appointment_type, priority, priority_rank, rtt_start, breach_date, offer_consent, ics_wide_consent, any_site, acceptable_sites)
       VALUES ('RAS', $1, $2, '130', 'NEW', 'P3', 3, '2026-06-01', '2026-10-01', true, true, true, '{RYJ02}') RETURNING id`,
      [`PW-OTHER-${offer.offerId}`, offer.patientId],
    )).rows;
    const get = await page(`/o/${offer.token}/preferences`);
    expect(get.html).not.toContain('name="sites"');
    const day = new Date(Date.now() + 20 * 86_400_000);
    const saved = await page(`/o/${offer.token}/preferences`, form([
      // A site sent anyway (an old form, a crafted post) is not a choice the page offered.
      ['sites', 'RYJ02'],
      ['unavailableFrom[day]', String(day.getUTCDate())], ['unavailableFrom[month]', String(day.getUTCMonth() + 1)], ['unavailableFrom[year]', String(day.getUTCFullYear())],
    ]));
    expect(saved.status).toBe(200);
    const entry = async (id: string) => (await pg.query(
      `SELECT any_site, acceptable_sites, unavailable, sites_stated_at IS NOT NULL AS sites_stated, preferences_stated_at IS NOT NULL AS dates_stated FROM waiting_list_entry WHERE id = $1`, [id],
    )).rows[0];
    const iso = day.toISOString().slice(0, 10);
    expect(await entry(offer.entryId)).toEqual({ any_site: true, acceptable_sites: ['RQM01'], unavailable: [{ from: iso, to: iso }], sites_stated: false, dates_stated: true });
    expect(await entry(other.id)).toEqual({ any_site: true, acceptable_sites: ['RYJ02'], unavailable: [], sites_stated: false, dates_stated: false });
  });

  it('refuses a bad form with the design system error summary and changes nothing', async () => {
    const offer = await createOffer(pg, { sms: false });
    const bad = await page(`/o/${offer.token}/preferences`, form([['sites', 'XXX99'], ['unavailableFrom[day]', '31'], ['unavailableFrom[month]', '2'], ['unavailableFrom[year]', '2027']]));
    expect(bad.status).toBe(400);
    expect(bad.html).toContain('nhsuk-error-summary');
    expect(bad.html).toContain('href="#unavailableFrom-day"');
    const [entry] = (await pg.query(`SELECT acceptable_sites, unavailable FROM waiting_list_entry WHERE id = $1`, [offer.entryId])).rows;
    expect(entry).toEqual({ acceptable_sites: [], unavailable: [] });
  });

  it('stops offers the same way a texted STOP does', async () => {
    const offer = await createOffer(pg, { sms: false });
    const res = await page(`/o/${offer.token}/preferences`, form([['stopOffers', 'yes']]));
    expect(res).toEqual({ status: 200, html: expect.stringContaining('We will not send you any more offers') });
    const [reply] = (await pg.query(`SELECT id, intent, channel FROM patient_reply WHERE offer_id = $1`, [offer.offerId])).rows;
    expect(reply).toMatchObject({ intent: 'stop', channel: 'web' });
    expect(await outboxJobs('process-reply', 'replyId', reply.id)).toHaveLength(1);
  });
});
