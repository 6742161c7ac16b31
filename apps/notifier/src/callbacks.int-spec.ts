/**
 * The received-text callback under a burst bigger than the notifier's database pool (issue 5: it
 * once ran out of connections under 200 simultaneous YES). The notifier runs with a pool of 2 and
 * room for only 40 waiting texts, and 240 patients' YES arrive at the same instant, sent the way
 * Notify sends them (again after a 5xx, when Retry-After says). Every text must end stored exactly
 * once, for the right patient, named by exactly one job (its batch's) to act on it; the texts that found the notifier
 * full (the database stalled by a lock while they arrive) were told so with 503 and Retry-After,
 * never an error that Notify would not retry.
 */
import { listenToOutbox, OutboxRelay } from '@app/persistence';
import { INestApplication } from '@nestjs/common';
import { bootstrapApp, loadConfig, QueueService } from '@app/platform';
import { QueueName, SANDBOX_NOTIFY_CALLBACK_TOKEN, jobId } from '@app/contracts';
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { NotifierModule } from './app.module';
import { NotifierConfig } from './config';
import { until } from '../../../test/support/wait';
import { FreshStores, freshStores } from '../../../tools/stack/fresh-stack';

jest.setTimeout(90_000);

// Below Linux's ephemeral range (32768+), where a client connection could already hold it.
const PORT = 14012;
const REDIS_DB = 8;
const CROWD = 240;
const mobileOf = (i: number) => `+4477009${String(50000 + i).padStart(5, '0')}`;

let stores: FreshStores;
let pg: Client;
let app: INestApplication;

beforeAll(async () => {
  stores = await freshStores('sx_h_booking_callbacks', REDIS_DB);
  const { db, redisUrl } = stores;
  pg = stores.pg;
  const config = loadConfig(NotifierConfig, {
    PORT: String(PORT), HOST: '127.0.0.1', DATABASE_URL: db.url, REDIS_URL: redisUrl, LOG_LEVEL: 'error',
    NOTIFY_BASE_URL: 'http://127.0.0.1:9', DATABASE_POOL_SIZE: '2', CALLBACK_BACKLOG_MAX: '40',
  });
  app = await bootstrapApp(NotifierModule.forRoot(config), { config });
  await pg.query(
    `INSERT INTO patient (nhs_number, birth_date, mobile, mobile_status)
     SELECT 'C' || lpad(i::text, 9, '0'), '1970-01-01', '+4477009' || lpad((50000 + i)::text, 5, '0'), 'valid' FROM generate_series(0, $1 - 1) i`,
    [CROWD],
  );
});

afterAll(async () => {
  await app?.close();
  await stores?.drop();
});

/** One received text, delivered as Notify would: sent again after a 5xx, waiting as Retry-After says. */
async function deliver(id: string, i: number, seen: { busy: number; retryAfter: Set<string> }): Promise<{ status: number; duplicate: boolean }> {
  const body = JSON.stringify({ id, source_number: mobileOf(i).slice(1), destination_number: '07700900000', message: `YES ${1000 + i}`, date_received: new Date().toISOString() });
  for (let attempt = 0; attempt < 50; attempt++) {
    const res = await fetch(`http://127.0.0.1:${PORT}/notify/inbound`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${SANDBOX_NOTIFY_CALLBACK_TOKEN}` }, body,
    });
    const json = (await res.json()) as { duplicate?: boolean };
    if (res.status < 500) return { status: res.status, duplicate: json.duplicate === true };
    seen.busy++;
    seen.retryAfter.add(`${res.status} ${res.headers.get('retry-after')}`);
    await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after') ?? 1) * 1000));
  }
  throw new Error(`text ${i} never taken`);
}

describe('a burst of received texts bigger than the pool and the backlog', () => {
  const ids = Array.from({ length: CROWD }, () => randomUUID());

  it('stores every text once, for its patient, named by one job of its batch; the overflow is told 503 + Retry-After and lands on the retry', async () => {
    const seen = { busy: 0, retryAfter: new Set<string>() };
    // The database stalls (a lock that blocks every insert of a reply) while the burst arrives, so
    // the texts pile up: the writers' batches wait, the backlog fills, the rest are turned away.
    await pg.query('BEGIN');
    await pg.query('LOCK TABLE patient_reply IN SHARE MODE');
    const burst = Promise.all(ids.map((id, i) => deliver(id, i, seen)));
    await until('some texts to be turned away', async () => seen.busy > 0, 20_000, 20);
    await pg.query('COMMIT');
    const answers = await burst;
    expect(answers.every((a) => a.status === 200 && !a.duplicate)).toBe(true);
    // The bound was met (more texts at once than may wait), and answered the way Notify retries.
    expect(seen.busy).toBeGreaterThan(0);
    expect([...seen.retryAfter]).toEqual([expect.stringMatching(/^503 \d+$/)]);

    const stored = (await pg.query(
      `SELECT r.id, r.external_id, r.intent, r.code, r.mobile, p.mobile AS addressee_mobile FROM patient_reply r LEFT JOIN patient p ON p.id = r.patient_id WHERE r.external_id = ANY($1)`, [ids],
    )).rows;
    expect(stored).toHaveLength(CROWD);
    const byId = new Map(stored.map((r) => [r.external_id, r]));
    // Stored with the number, and still naming a patient of it for a booking process of the previous
    // release during a rolling release (it decides by patient_id; without one it would drop the text).
    ids.forEach((id, i) => expect(byId.get(id)).toMatchObject({ intent: 'yes', code: String(1000 + i), mobile: mobileOf(i), addressee_mobile: mobileOf(i) }));
    // One job per stored batch, naming each of its texts in order of arrival: every text is named
    // by exactly one job, and the burst's texts shared jobs (not a job per text).
    expect((await pg.query(`SELECT count(*)::int AS n FROM outbox WHERE job_name = 'process-reply'`)).rows[0].n).toBe(0);
    const jobs: Array<{ job_id: string; queue: string; ids: string[] }> = (await pg.query(`SELECT job_id, queue, payload->'replyIds' AS ids FROM outbox WHERE job_name = 'process-replies'`)).rows;
    const named = jobs.flatMap((j) => j.ids);
    expect(named.sort()).toEqual(stored.map((r) => r.id).sort());
    // The texts that waited out the stalled database (the backlog, CALLBACK_BACKLOG_MAX of them,
    // full when the first was turned away) went in batches, not one by one: however the machine's
    // load spreads the retries' arrival (which decides how the rest group), one job names at least
    // a quarter of the backlog, and there are fewer jobs than texts.
    expect(Math.max(...jobs.map((j) => j.ids.length))).toBeGreaterThanOrEqual(10);
    expect(jobs.length).toBeLessThan(CROWD);
    expect(jobs.every((j) => j.queue === 'offer-replies' && j.job_id === jobId('process-replies', { replyIds: j.ids }))).toBe(true);
    const receivedAt = new Map((await pg.query(`SELECT id, received_at FROM patient_reply`)).rows.map((r) => [r.id, new Date(r.received_at).getTime()]));
    for (const j of jobs) expect(j.ids.map((id) => receivedAt.get(id)!)).toEqual(j.ids.map((id) => receivedAt.get(id)!).sort((a, b) => a - b));
  });

  it('answers Notify repeating the whole burst as duplicates, adding nothing', async () => {
    const seen = { busy: 0, retryAfter: new Set<string>() };
    const answers = await Promise.all(ids.map((id, i) => deliver(id, i, seen)));
    expect(answers.every((a) => a.status === 200 && a.duplicate)).toBe(true);
    expect((await pg.query(`SELECT count(*)::int AS n FROM patient_reply`)).rows[0].n).toBe(CROWD);
    expect((await pg.query(`SELECT count(*)::int AS n FROM outbox o, jsonb_array_elements(o.payload->'replyIds') WHERE o.job_name = 'process-replies'`)).rows[0].n).toBe(CROWD);
  });
});

describe('a received text', () => {
  it("is stored without a NOTIFY (which serialises commits cluster-wide) and its job relayed by the notifier's own wake-up, not a sweep", async () => {
    // The relay's 2 s sweep is stopped (as if never started) and no pass is running, so only the
    // wake-up the callback gives its relay can publish the job: the assertion needs no stopwatch.
    const relay = app.get(OutboxRelay);
    clearInterval(relay['timer']);
    await until('the relay idle', async () => !relay['running'], 10_000, 10);
    const listener = await listenToOutbox(stores.db.url);
    const { heard } = listener;
    try {
      const id = randomUUID();
      expect((await deliver(id, 0, { busy: 0, retryAfter: new Set() })).status).toBe(200);
      const published = await until('the job published', async () => {
        const { rows } = await pg.query(`SELECT o.job_id, o.published_at FROM outbox o JOIN patient_reply r ON o.job_name = 'process-replies' AND o.payload->'replyIds' ? r.id::text WHERE r.external_id = $1`, [id]);
        return rows[0]?.published_at ? rows[0].job_id as string : undefined;
      }, 10_000, 20);
      expect(await app.get(QueueService).queue(QueueName.offerReplies).getJob(published)).toBeDefined();
      expect(heard).toEqual([]);
    } finally {
      await listener.end();
    }
  });
});

describe('connections', () => {
  it('keeps an idle callback connection open far longer than Node’s 5 s, and tells the client so', async () => {
    const { request, Agent } = await import('node:http');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const post = () => new Promise<{ status: number; keepAlive: string | undefined; socket: unknown }>((done, fail) => {
      const body = JSON.stringify({ id: randomUUID(), source_number: '447700900999', destination_number: '07700900000', message: 'HELLO', date_received: new Date().toISOString() });
      const req = request({ host: '127.0.0.1', port: PORT, path: '/notify/inbound', method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${SANDBOX_NOTIFY_CALLBACK_TOKEN}` } }, (res) => {
        res.resume();
        res.on('end', () => done({ status: res.statusCode!, keepAlive: res.headers['keep-alive'] as string | undefined, socket: req.socket }));
      });
      req.on('error', fail);
      req.end(body);
    });
    try {
      const first = await post();
      expect(first.status).toBe(200);
      expect(first.keepAlive).toBe('timeout=65');
      // Past Node's default keep-alive timeout the same socket still carries the next callback.
      await new Promise((r) => setTimeout(r, 5_600));
      const second = await post();
      expect(second.status).toBe(200);
      expect(second.socket).toBe(first.socket);
    } finally {
      agent.destroy();
    }
  });
});

describe('the callback routes, answered ahead of Express and Nest', () => {
  const post = async (path: string, body: string, token = SANDBOX_NOTIFY_CALLBACK_TOKEN) => {
    const res = await fetch(`http://127.0.0.1:${PORT}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body });
    return { status: res.status, etag: res.headers.get('etag'), type: res.headers.get('content-type'), json: (await res.json()) as Record<string, unknown> };
  };
  const text = (over: Record<string, unknown> = {}) => JSON.stringify({ id: randomUUID(), source_number: '447700900998', destination_number: '07700900000', message: 'YES 1234', date_received: new Date().toISOString(), ...over });

  it('answers a received text with its JSON alone: no ETag computed for a body nobody caches', async () => {
    const r = await post('/notify/inbound', text());
    expect(r).toEqual({ status: 200, etag: null, type: 'application/json; charset=utf-8', json: { received: true, duplicate: false } });
  });

  it('refuses a callback without the token (401) before reading anything of it', async () => {
    expect(await post('/notify/inbound', text(), 'not-the-token')).toMatchObject({ status: 401, json: { error: 'unauthorized' } });
    expect(await post('/notify/status', '{not json', 'not-the-token')).toMatchObject({ status: 401, json: { error: 'unauthorized' } });
  });

  it('names each invalid or missing field (400); a __proto__ key fills in nothing', async () => {
    const r = await post('/notify/inbound', text({ source_number: 7, date_received: 'yesterday', extra: 1 }));
    expect(r.status).toBe(400);
    expect(r.json.error).toBe('validation_failed');
    const details = (r.json.details as string[]).join('\n');
    expect(details).toMatch(/^source_number: /m);
    expect(details).toMatch(/^date_received: /m);
    expect(details).not.toMatch(/extra/);
    // A `__proto__` key does not lend the DTO fields it lacks: the missing id is still refused.
    const proto = await post('/notify/inbound', text({ id: undefined }).replace(/^\{/, '{"__proto__":{"id":"x"},'));
    expect(proto.status).toBe(400);
    expect((proto.json.details as string[]).join('\n')).toMatch(/^id: /m);
    const receipt = await post('/notify/status', JSON.stringify({ id: 'n1', status: 'lost' }));
    expect(receipt).toMatchObject({ status: 400, json: { error: 'validation_failed' } });
    expect((receipt.json.details as string[]).join('\n')).toMatch(/^status: /m);
    expect(await post('/notify/inbound', '[1]')).toMatchObject({ status: 400, json: { error: 'validation_failed' } });
    expect(await post('/notify/inbound', '{not json')).toMatchObject({ status: 400, json: { error: 'bad_request' } });
  });

  it('takes a received text and a delivery receipt carrying fields Notify added since, dropping them, rather than turn every callback away', async () => {
    const id = randomUUID();
    const r = await post('/notify/inbound', text({ id, source_number: '447700900997', message: 'NO 1234', carrier: 'vodafone', received_via: { kind: 'sms' } }));
    expect(r).toMatchObject({ status: 200, json: { received: true, duplicate: false } });
    expect((await pg.query(`SELECT intent, code FROM patient_reply WHERE external_id = $1`, [id])).rows).toEqual([{ intent: 'no', code: '1234' }]);
    const receipt = await post('/notify/status', JSON.stringify({ id: randomUUID(), reference: null, to: '447700900997', status: 'delivered', status_reason: 'n/a', cost_in_pounds: 0.0197, is_international: false }));
    expect(receipt).toMatchObject({ status: 200, json: { received: true } });
    // The fields we read are as strict as before.
    expect(await post('/notify/status', JSON.stringify({ id: randomUUID(), status: 'lost', status_reason: 'n/a' }))).toMatchObject({ status: 400, json: { error: 'validation_failed' } });
  });

  it('takes a delivery receipt, and is idempotent on a received text’s Notify id', async () => {
    expect(await post('/notify/status', JSON.stringify({ id: randomUUID(), status: 'delivered', reference: null }))).toMatchObject({ status: 200, json: { received: true } });
    const body = text();
    expect((await post('/notify/inbound', body)).json).toEqual({ received: true, duplicate: false });
    expect((await post('/notify/inbound', body)).json).toEqual({ received: true, duplicate: true });
  });

  it('leaves every other request to Express and Nest', async () => {
    const res = await fetch(`http://127.0.0.1:${PORT}/notify/inbound`, { method: 'GET' });
    expect(res.status).toBe(404);
    const form = await fetch(`http://127.0.0.1:${PORT}/notify/inbound`, { method: 'POST', headers: { 'content-type': 'text/plain', authorization: `Bearer ${SANDBOX_NOTIFY_CALLBACK_TOKEN}` }, body: 'YES' });
    expect(form.status).toBe(400);
  });
});
