/**
 * notify-sim in-process, driven by the real notifications-node-client exactly as the notifier
 * drives it, with a tiny HTTP server standing in for the notifier's callbacks.
 */
import { INestApplication } from '@nestjs/common';
import axios from 'axios';
import { randomUUID } from 'node:crypto';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { NotifyClient } from 'notifications-node-client';
import { SANDBOX_NOTIFY_API_KEY, SANDBOX_NOTIFY_CALLBACK_TOKEN, SMS_TEMPLATES, SmsKind } from '@app/contracts';
import { bootstrapApp, loadConfig } from '@app/platform';
import { AppModule } from './app.module';
import { NotifySimConfig } from './config';
import { parseApiKey, signNotifyToken } from './notify-auth';
import { decideReply, seededRng } from './patients';
import { placeholders } from './send-sms-request';

interface Received {
  path: string;
  authorization: string | undefined;
  body: Record<string, unknown>;
}

/** Stands in for the notifier: records every callback and answers with scripted statuses. */
class FakeNotifier {
  readonly received: Received[] = [];
  /** Statuses to answer with, per path, in order; 204 once the script runs out. */
  readonly script = new Map<string, number[]>();
  private server!: Server;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        const path = req.url ?? '';
        this.received.push({ path, authorization: req.headers.authorization, body: JSON.parse(raw || '{}') as Record<string, unknown> });
        res.statusCode = this.script.get(path)?.shift() ?? 204;
        res.end();
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  on(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  async until<T>(fn: () => T | undefined | false, ms = 5000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = fn();
      if (v) return v;
      if (Date.now() > end) throw new Error('timed out waiting for the notifier to be called');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface Sim {
  app: INestApplication;
  url: string;
}

/** Boots the app the way main.ts does (same pipes, parsers and filters), on a free port. */
async function startSim(env: Record<string, string>): Promise<Sim> {
  const config = loadConfig(NotifySimConfig, { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', NODE_ENV: 'test', ...env });
  const app = await bootstrapApp(AppModule.forRoot(config), { config });
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${port}` };
}

type AxiosLikeError = { response?: { status: number; data: unknown } };
async function failure(p: Promise<unknown>): Promise<{ status: number; data: unknown }> {
  try {
    await p;
  } catch (e) {
    const r = (e as AxiosLikeError).response;
    if (r) return { status: r.status, data: r.data };
    throw e;
  }
  throw new Error('expected the request to fail');
}

async function json(url: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** A value for every placeholder of a template; the offer's code is the one given. */
function personalisationFor(kind: SmsKind, code = '4821'): Record<string, string> {
  const values: Record<string, string> = { code, specialty: 'Dermatology', hospital: 'Charing Cross Hospital', site: 'Fulham Palace Road', date: 'Tuesday 14 July', time: '9:30am', expires: '11:30am', link: 'http://127.0.0.1:3002/o/abc', previous: 'Your earlier appointment has been cancelled.' };
  return Object.fromEntries(placeholders(SMS_TEMPLATES[kind].body).map((p) => [p, values[p]]));
}

const KEY = parseApiKey(SANDBOX_NOTIFY_API_KEY);
let phoneSeq = 100;
const nextPhone = () => `+447700900${String(phoneSeq++).padStart(3, '0')}`;

describe('notify-sim', () => {
  const notifier = new FakeNotifier();
  let sim: Sim;
  let client: NotifyClient;
  const undeliverable = '+447700900999';

  beforeAll(async () => {
    const notifierUrl = await notifier.start();
    sim = await startSim({ NOTIFIER_BASE_URL: notifierUrl, SIM_DELIVERY_DELAY_MS: '20', SIM_UNDELIVERABLE_NUMBERS: `07700 900999, +447700900998` });
    client = new NotifyClient(sim.url, SANDBOX_NOTIFY_API_KEY);
  });
  afterAll(async () => {
    await sim?.app.close();
    await notifier.stop();
  });

  it('accepts every template kind from notifications-node-client and lists them, rendered, under /sim/messages', async () => {
    const phone = nextPhone();
    const kinds = Object.keys(SMS_TEMPLATES) as SmsKind[];
    for (const kind of kinds) {
      const res = await client.sendSms(SMS_TEMPLATES[kind].id, phone.replace('+44', '0'), { personalisation: personalisationFor(kind), reference: `ref-${kind}` });
      expect(res.status).toBe(201);
      expect(res.data).toMatchObject({
        reference: `ref-${kind}`,
        content: { from_number: 'NHS' },
        uri: `${sim.url}/v2/notifications/${res.data.id}`,
        template: { id: SMS_TEMPLATES[kind].id, version: 1, uri: `${sim.url}/services/${KEY.serviceId}/templates/${SMS_TEMPLATES[kind].id}` },
      });
      expect(res.data.content.body).not.toMatch(/\(\(/);
    }

    for (const spelling of [phone, phone.replace('+44', '0'), phone.slice(1)]) {
      const { status, body } = await json(`${sim.url}/sim/messages?phone=${encodeURIComponent(spelling)}`);
      expect(status).toBe(200);
      expect(body.map((m: { template_id: string }) => m.template_id)).toEqual(kinds.map((k) => SMS_TEMPLATES[k].id));
    }
    const { body: list } = await json(`${sim.url}/sim/messages?phone=${encodeURIComponent(phone)}`);
    const offer = list[0];
    expect(offer).toEqual({
      id: expect.any(String),
      phone_number: phone,
      template_id: SMS_TEMPLATES.offer.id,
      template: 'offer',
      personalisation: personalisationFor('offer'),
      reference: 'ref-offer',
      created_at: expect.any(String),
      body: expect.stringContaining('Reply YES 4821 to book or NO 4821'),
      status: expect.any(String),
    });
    // The acceptance tests find the offer code with exactly this expression.
    expect(/YES\s+([A-Za-z0-9]{3,10})/.exec(offer.body)?.[1]).toBe('4821');
    expect(Date.parse(offer.created_at)).toBeGreaterThan(Date.now() - 60_000);
    const wording: Partial<Record<SmsKind, string>> = { confirmed: 'confirmed', taken: 'no longer available', expired: 'expired', booking_failed: 'could not' };
    for (const [kind, words] of Object.entries(wording)) {
      expect(list.find((m: { template: string }) => m.template === kind).body).toContain(words);
    }

    const { body: latest } = await json(`${sim.url}/sim/messages`);
    expect(latest.slice(-kinds.length).map((m: { id: string }) => m.id)).toEqual(list.map((m: { id: string }) => m.id));
  });

  it('answers getNotificationById and getNotifications in Notify’s shapes', async () => {
    const phone = nextPhone();
    const sent = await client.sendSms(SMS_TEMPLATES.help.id, phone, { reference: 'lookup-ref' });
    await notifier.until(() => notifier.on('/notify/status').find((r) => r.body.id === sent.data.id));

    const one = await client.getNotificationById(sent.data.id);
    expect(one.data).toMatchObject({
      id: sent.data.id,
      reference: 'lookup-ref',
      phone_number: phone,
      type: 'sms',
      status: 'delivered',
      template: { id: SMS_TEMPLATES.help.id, version: 1 },
      body: SMS_TEMPLATES.help.body,
      is_cost_data_ready: true,
    });
    expect(one.data.completed_at).toEqual(expect.any(String));

    const byRef = await client.getNotifications('sms', 'delivered', 'lookup-ref');
    expect(byRef.data.notifications.map((n) => n.id)).toEqual([sent.data.id]);
    expect(byRef.data.links.next).toContain(`older_than=${sent.data.id}`);
    const older = await client.getNotifications('sms', undefined, undefined, sent.data.id);
    expect(older.data.notifications.map((n) => n.id)).not.toContain(sent.data.id);
    expect((await client.getNotifications('email')).data.notifications).toEqual([]);

    const missing = await failure(client.getNotificationById('00000000-0000-4000-8000-000000000000'));
    expect(missing).toEqual({ status: 404, data: { status_code: 404, errors: [{ error: 'NoResultFound', message: 'No result found' }] } });
    const bad = await failure(client.getNotificationById('not-a-uuid'));
    expect(bad).toEqual({ status: 400, data: { status_code: 400, errors: [{ error: 'ValidationError', message: 'notification_id is not a valid UUID' }] } });
  });

  it('refuses a wrong API key, a missing token, a stale token and an unsigned one, as Notify does', async () => {
    const wrongSecret = SANDBOX_NOTIFY_API_KEY.slice(0, -36) + '00000000-0000-4000-8000-000000000000';
    const wrongService = `sandbox-00000000-0000-4000-8000-000000000000-${KEY.secret}`;
    for (const key of [wrongSecret, wrongService]) {
      const r = await failure(new NotifyClient(sim.url, key).sendSms(SMS_TEMPLATES.help.id, nextPhone(), {}));
      expect(r.status).toBe(403);
      expect(r.data).toEqual({ status_code: 403, errors: [{ error: 'AuthError', message: expect.stringMatching(/^Invalid token: /) }] });
    }

    const sms = `${sim.url}/v2/notifications/sms`;
    const body = JSON.stringify({ phone_number: nextPhone(), template_id: SMS_TEMPLATES.help.id });
    const post = (authorization?: string) => json(sms, { method: 'POST', headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) }, body });
    const now = Math.round(Date.now() / 1000);

    const none = await post();
    expect(none).toEqual({ status: 401, body: { status_code: 401, errors: [{ error: 'AuthError', message: 'Unauthorized: authentication token must be provided' }] } });
    const stale = await post(`Bearer ${signNotifyToken(KEY, now - 45)}`);
    expect(stale).toEqual({ status: 403, body: { status_code: 403, errors: [{ error: 'AuthError', message: 'Error: Your system clock must be accurate to within 30 seconds' }] } });
    const future = await post(`Bearer ${signNotifyToken(KEY, now + 45)}`);
    expect(future.status).toBe(403);
    const unsigned = signNotifyToken(KEY, now, 'none').split('.').slice(0, 2).join('.') + '.';
    expect((await post(`Bearer ${unsigned}`)).status).toBe(403);
    expect((await post('Bearer not.a.jwt')).status).toBe(403);
    expect((await post(`Bearer ${signNotifyToken(KEY, now)}`)).status).toBe(201);
  });

  it('refuses a number that is not a UK mobile, and an unknown template or missing personalisation', async () => {
    for (const phone of ['+15555550123', '020 7946 0123']) {
      const r = await failure(client.sendSms(SMS_TEMPLATES.help.id, phone, {}));
      expect(r).toEqual({ status: 400, data: { status_code: 400, errors: [{ error: 'ValidationError', message: 'phone_number Not a UK mobile number' }] } });
    }
    const letters = await failure(client.sendSms(SMS_TEMPLATES.help.id, '07700 9OO123', {}));
    expect(letters.data).toEqual({ status_code: 400, errors: [{ error: 'ValidationError', message: 'phone_number Must not contain letters or symbols' }] });

    const unknown = await failure(client.sendSms('11111111-1111-4111-8111-111111111111', nextPhone(), {}));
    expect(unknown.data).toEqual({ status_code: 400, errors: [{ error: 'BadRequestError', message: 'Template not found' }] });

    const { code: _code, expires: _expires, ...partial } = personalisationFor('offer');
    const missing = await failure(client.sendSms(SMS_TEMPLATES.offer.id, nextPhone(), { personalisation: partial }));
    expect(missing.data).toEqual({ status_code: 400, errors: [{ error: 'BadRequestError', message: 'Missing personalisation: code, expires' }] });
  });

  it('hands /sim/reply to the notifier’s inbound callback exactly as Notify would, retrying 5xx', async () => {
    const phone = nextPhone();
    const reply = await json(`${sim.url}/sim/reply`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ phone, message: 'YES 4821' }) });
    expect(reply).toEqual({ status: 200, body: { delivered: true, status: 204, id: expect.any(String) } });
    const got = notifier.on('/notify/inbound').find((r) => r.body.id === reply.body.id);
    expect(got).toEqual({
      path: '/notify/inbound',
      authorization: `Bearer ${SANDBOX_NOTIFY_CALLBACK_TOKEN}`,
      body: { id: reply.body.id, source_number: phone.slice(1), destination_number: '07700900000', message: 'YES 4821', date_received: expect.any(String) },
    });
    expect(Date.parse(got!.body.date_received as string)).toBeGreaterThan(Date.now() - 60_000);

    // A national spelling arrives in international form, and two 503s are retried through.
    notifier.script.set('/notify/inbound', [503, 503]);
    const retried = await json(`${sim.url}/sim/reply`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ phone: phone.replace('+44', '0'), message: 'no 4821' }) });
    expect(retried.body).toEqual({ delivered: true, status: 204, id: expect.any(String) });
    const attempts = notifier.on('/notify/inbound').filter((r) => r.body.id === retried.body.id);
    expect(attempts).toHaveLength(3);
    expect(attempts[2].body.source_number).toBe(phone.slice(1));

    // A 4xx is an answer, not a failure to retry.
    notifier.script.set('/notify/inbound', [401]);
    const refused = await json(`${sim.url}/sim/reply`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ phone, message: 'STOP' }) });
    expect(refused.body).toEqual({ delivered: false, status: 401, id: expect.any(String) });
    expect(notifier.on('/notify/inbound').filter((r) => r.body.id === refused.body.id)).toHaveLength(1);

    // Three retries, then it gives up.
    notifier.script.set('/notify/inbound', [500, 500, 500, 500, 500]);
    const down = await json(`${sim.url}/sim/reply`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ phone, message: 'YES 4821' }) });
    expect(down.body).toEqual({ delivered: false, status: 500, id: expect.any(String) });
    expect(notifier.on('/notify/inbound').filter((r) => r.body.id === down.body.id)).toHaveLength(4);
    notifier.script.delete('/notify/inbound');

    const badPhone = await json(`${sim.url}/sim/reply`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ phone: '+15555550123', message: 'YES' }) });
    expect(badPhone.status).toBe(400);
    const badBody = await json(`${sim.url}/sim/reply`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ phone }) });
    expect(badBody.status).toBe(400);
    expect((await json(`${sim.url}/sim/messages?phone=hello`)).status).toBe(400);
  });

  it('posts a delivery receipt for every message, permanent-failure for an undeliverable number', async () => {
    const ok = await client.sendSms(SMS_TEMPLATES.no_offer.id, nextPhone().replace('+', ''), { reference: 'receipt-ok' });
    const dead = await client.sendSms(SMS_TEMPLATES.no_offer.id, undeliverable, { reference: 'receipt-dead' });
    const receipt = await notifier.until(() => notifier.on('/notify/status').find((r) => r.body.id === ok.data.id));
    expect(receipt.authorization).toBe(`Bearer ${SANDBOX_NOTIFY_CALLBACK_TOKEN}`);
    expect(receipt.body).toEqual({
      id: ok.data.id,
      reference: 'receipt-ok',
      to: expect.stringMatching(/^447700900\d{3}$/),
      status: 'delivered',
      created_at: expect.any(String),
      completed_at: expect.any(String),
      sent_at: expect.any(String),
      notification_type: 'sms',
      template_id: SMS_TEMPLATES.no_offer.id,
      template_version: 1,
    });
    const failed = await notifier.until(() => notifier.on('/notify/status').find((r) => r.body.id === dead.data.id));
    expect(failed.body).toMatchObject({ reference: 'receipt-dead', to: undeliverable, status: 'permanent-failure' });
    expect((await client.getNotificationById(dead.data.id)).data.status).toBe('permanent-failure');
    expect((await client.getNotifications('sms', 'failed')).data.notifications.map((n) => n.id)).toContain(dead.data.id);
  });

  it('serves health and counts messages by template in /metrics', async () => {
    expect((await fetch(`${sim.url}/health/live`)).status).toBe(200);
    expect((await fetch(`${sim.url}/health/ready`)).status).toBe(200);
    const metrics = await (await fetch(`${sim.url}/metrics`)).text();
    expect(metrics).toMatch(/notify_sim_messages_total\{[^}]*template="offer"[^}]*\} [1-9]/);
    expect(metrics).not.toMatch(/447700900/);
  });
});

describe('notify-sim simulated patients', () => {
  const notifier = new FakeNotifier();
  let sim: Sim;
  const behaviour = { SIM_REPLY_RATE: '0.7', SIM_ACCEPT_RATE: '0.5', SIM_REPLY_DELAY_MS_MEDIAN: '30', SIM_REPLY_DELAY_MS_MAX: '150', SIM_SEED: 'patients-1' };

  beforeAll(async () => {
    sim = await startSim({ NOTIFIER_BASE_URL: await notifier.start(), SIM_AUTOREPLY: '1', SIM_DELIVERY_RECEIPTS: '0', SIM_DELIVERY_DELAY_MS: '10', ...behaviour });
  });
  afterAll(async () => {
    await sim?.app.close();
    await notifier.stop();
  });

  it('answers offers YES or NO with their code, as the seed says, and nothing else', async () => {
    const client = new NotifyClient(sim.url, SANDBOX_NOTIFY_API_KEY);
    const offers = Array.from({ length: 12 }, (_, i) => ({ phone: nextPhone(), code: `C${100 + i}` }));
    for (const o of offers) await client.sendSms(SMS_TEMPLATES.offer.id, o.phone, { personalisation: personalisationFor('offer', o.code) });
    // Not offers: no patient answers these.
    await client.sendSms(SMS_TEMPLATES.confirmed.id, offers[0].phone, { personalisation: personalisationFor('confirmed') });

    // The same seed in the same order of offers gives the same answers.
    const rng = seededRng(behaviour.SIM_SEED);
    const b = { replyRate: 0.7, acceptRate: 0.5, delayMedianMs: 30, delayMaxMs: 150 };
    const expected = offers.map((o) => ({ source_number: o.phone.slice(1), answer: decideReply(rng, b, o.code) })).filter((e) => e.answer);
    expect(expected.length).toBeGreaterThan(0);
    expect(expected.length).toBeLessThan(offers.length);
    expect(new Set(expected.map((e) => e.answer!.message.split(' ')[0]))).toEqual(new Set(['YES', 'NO']));

    await notifier.until(() => notifier.on('/notify/inbound').length >= expected.length);
    await new Promise((r) => setTimeout(r, 300)); // nothing more arrives
    const got = notifier.on('/notify/inbound').map((r) => ({ source_number: r.body.source_number, message: r.body.message, auth: r.authorization }));
    expect(got).toHaveLength(expected.length);
    for (const e of expected) {
      expect(got).toContainEqual({ source_number: e.source_number, message: e.answer!.message, auth: `Bearer ${SANDBOX_NOTIFY_CALLBACK_TOKEN}` });
    }
    for (const g of got) expect(g.message).toMatch(/^(YES|NO) C1\d\d$/);
  });
});

describe('notify-sim rate limit', () => {
  let sim: Sim;
  beforeAll(async () => {
    sim = await startSim({ SIM_RATE_PER_MINUTE: '3', SIM_DELIVERY_RECEIPTS: '0' });
  });
  afterAll(async () => {
    await sim?.app.close();
  });

  it('answers 429 in Notify’s words past SIM_RATE_PER_MINUTE', async () => {
    const client = new NotifyClient(sim.url, SANDBOX_NOTIFY_API_KEY);
    for (let i = 0; i < 3; i++) expect((await client.sendSms(SMS_TEMPLATES.help.id, nextPhone(), {})).status).toBe(201);
    const r = await failure(client.sendSms(SMS_TEMPLATES.help.id, nextPhone(), {}));
    expect(r).toEqual({ status: 429, data: { status_code: 429, errors: [{ error: 'RateLimitError', message: 'Exceeded rate limit for key type LIVE of 3 requests per 60 seconds' }] } });
  });
});

describe('notify-sim outage', () => {
  let sim: Sim;
  beforeAll(async () => {
    sim = await startSim({ SIM_DELIVERY_RECEIPTS: '0' });
  });
  afterAll(async () => {
    await sim?.app.close();
  });
  const outage = (body: unknown) => json(`${sim.url}/sim/outage`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it.each([
    ['auth', 403, { error: 'AuthError', message: 'Error: Your system clock must be accurate to within 30 seconds' }],
    ['exception', 500, { error: 'Exception', message: 'Internal server error' }],
    ['unavailable', 503, { error: 'ServiceUnavailable', message: 'Service temporarily unavailable' }],
  ])('fails every /v2 request with %s for the seconds asked, sends nothing, then is back', async (kind, status, error) => {
    const client = new NotifyClient(sim.url, SANDBOX_NOTIFY_API_KEY);
    const phone = nextPhone();
    // Two seconds: the four requests below must all land inside it on a busy machine.
    expect(await outage({ kind, seconds: 2 })).toEqual({ status: 200, body: { kind, until: expect.any(String) } });
    expect((await json(`${sim.url}/sim/outage`)).body).toEqual({ outage: { kind, until: expect.any(String) } });
    expect(await failure(client.sendSms(SMS_TEMPLATES.help.id, phone, {}))).toEqual({ status, data: { status_code: status, errors: [error] } });
    expect((await failure(client.getNotifications('sms'))).status).toBe(status);
    expect((await json(`${sim.url}/sim/messages?phone=${encodeURIComponent(phone)}`)).body).toEqual([]);
    await new Promise((r) => setTimeout(r, 2100));
    expect((await client.sendSms(SMS_TEMPLATES.help.id, phone, {})).status).toBe(201);
    expect((await json(`${sim.url}/sim/outage`)).body).toEqual({ outage: null });
  });

  it('drops connections without an answer, and DELETE ends the outage at once', async () => {
    const client = new NotifyClient(sim.url, SANDBOX_NOTIFY_API_KEY);
    await outage({ kind: 'drop', seconds: 60 });
    const dropped = await client.sendSms(SMS_TEMPLATES.help.id, nextPhone(), {}).then(() => null, (e: { response?: unknown; code?: string }) => e);
    expect(dropped).toMatchObject({ code: expect.stringMatching(/ECONNRESET|ERR_BAD_RESPONSE|socket hang up/i) });
    expect((dropped as { response?: unknown }).response).toBeUndefined();
    expect((await fetch(`${sim.url}/sim/outage`, { method: 'DELETE' })).status).toBe(204);
    expect((await client.sendSms(SMS_TEMPLATES.help.id, nextPhone(), {})).status).toBe(201);
  });

  it('slow sends: a send is answered, and its text held and listed by reference, only after the time asked; a client that gave up does not stop it', async () => {
    const slow = (body: unknown) => json(`${sim.url}/sim/slow-sends`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(await slow({ ms: 1000, seconds: 30 })).toEqual({ status: 200, body: { ms: 1000, until: expect.any(String) } });
    expect((await json(`${sim.url}/sim/slow-sends`)).body).toEqual({ slowSends: { ms: 1000, until: expect.any(String) } });
    const client = new NotifyClient(sim.url, SANDBOX_NOTIFY_API_KEY);
    client.setClient(axios.create({ timeout: 200 }));
    const phone = nextPhone();
    const reference = randomUUID();
    const gaveUp = await client.sendSms(SMS_TEMPLATES.help.id, phone, { reference }).then(() => null, (e: { code?: string }) => e);
    expect(gaveUp).toMatchObject({ code: 'ECONNABORTED' });
    // Still being worked on: nothing listed under the reference yet, and reads are not slowed.
    const reader = new NotifyClient(sim.url, SANDBOX_NOTIFY_API_KEY);
    expect((await reader.getNotifications('sms', undefined, reference)).data.notifications).toEqual([]);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await reader.getNotifications('sms', undefined, reference)).data.notifications).toEqual([expect.objectContaining({ reference })]);
    expect((await fetch(`${sim.url}/sim/slow-sends`, { method: 'DELETE' })).status).toBe(204);
    expect((await json(`${sim.url}/sim/slow-sends`)).body).toEqual({ slowSends: null });
    expect((await slow({ ms: 0, seconds: 5 })).status).toBe(400);
  });

  it('refuses an outage it does not know', async () => {
    expect((await outage({ kind: 'flood', seconds: 5 })).status).toBe(400);
    expect((await outage({ kind: 'auth', seconds: 0 })).status).toBe(400);
  });
});
