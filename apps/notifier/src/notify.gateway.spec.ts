import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { KeyObject } from 'node:crypto';
import { NotifyClient } from 'notifications-node-client';
import { SANDBOX_NOTIFY_API_KEY } from '@app/contracts';
import { authenticate, parseApiKey } from '../../notify-sim/src/notify-auth';
import { NotifierConfig } from './config';
import { classifyNotifyFailure, holdSecretAsKey, NotifyGateway } from './notify.gateway';

/** A stand-in Notify that records what it was sent and answers as Notify does. */
let server: Server;
const seen: IncomingHttpHeaders[] = [];
beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.headers);
    req.resume().on('end', () => {
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ id: '2d4f0e3c-6f0b-4b8a-9a53-0c6e1f6ad4a1' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('NotifyGateway', () => {
  it('signs each request with a token Notify accepts, with the secret held as a key object', async () => {
    const config = Object.assign(new NotifierConfig(), { NOTIFY_BASE_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
    const gateway = new NotifyGateway(config);
    const sent = await gateway.send('template-1', '07700900123', { code: '1234' }, 'msg-1');
    expect(sent).toEqual({ ok: true, notifyId: '2d4f0e3c-6f0b-4b8a-9a53-0c6e1f6ad4a1' });
    const auth = authenticate(seen.at(-1)?.authorization, parseApiKey(SANDBOX_NOTIFY_API_KEY), Date.now());
    expect(auth).toEqual({ ok: true, serviceId: parseApiKey(SANDBOX_NOTIFY_API_KEY).serviceId });
    // The client's own field now holds a key object, so jsonwebtoken skips its failing PEM parse.
    expect((gateway as unknown as { client: { apiClient: { apiKeyId: unknown } } }).client.apiClient.apiKeyId).toBeInstanceOf(KeyObject);
  });

  it('keeps a connection for every send the notifier runs at once (SMS_SEND_CONCURRENCY), not fewer', async () => {
    // A stand-in that holds every request until all have arrived, counting the sockets they came on.
    const concurrency = 100;
    const sockets = new Set<unknown>();
    const held: Array<() => void> = [];
    const slow = createServer((req, res) => {
      sockets.add(req.socket);
      req.resume().on('end', () => {
        held.push(() => res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ id: '2d4f0e3c-6f0b-4b8a-9a53-0c6e1f6ad4a1' })));
        if (held.length === concurrency) for (const answer of held) answer();
      });
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    try {
      const config = Object.assign(new NotifierConfig(), { NOTIFY_BASE_URL: `http://127.0.0.1:${(slow.address() as AddressInfo).port}`, SMS_SEND_CONCURRENCY: concurrency, NOTIFY_TIMEOUT_MS: 10_000 });
      const gateway = new NotifyGateway(config);
      // With fewer sockets than sends, the sends beyond them would queue behind requests that are
      // never answered, and all would time out.
      const sent = await Promise.all(Array.from({ length: concurrency }, (_, i) => gateway.send('template-1', '07700900123', {}, `msg-${i}`)));
      expect(sent.every((x) => x.ok)).toBe(true);
      expect(sockets.size).toBe(concurrency);
    } finally {
      slow.closeAllConnections();
      await new Promise<void>((r) => slow.close(() => r()));
    }
  });

  it('leaves a client it does not recognise as it was', () => {
    const odd = { apiClient: { apiKeyId: 42 } } as unknown as NotifyClient;
    holdSecretAsKey(odd);
    expect((odd as unknown as { apiClient: { apiKeyId: unknown } }).apiClient.apiKeyId).toBe(42);
  });
});

describe('classifyNotifyFailure', () => {
  it.each([
    [400, 'refused'], [404, 'config'],
    [401, 'auth'], [403, 'auth'],
    [429, 'rate-limited'],
    [500, 'unavailable'], [502, 'unavailable'], [503, 'unavailable'], [null, 'unavailable'],
  ])('takes Notify answering %s as %s', (status, failure) => {
    expect(classifyNotifyFailure(status)).toBe(failure);
  });

  // Notify's own error messages (its API documentation and notifications-api).
  it.each([
    ['ValidationError', 'phone_number Not a UK mobile number', 'refused'],
    ['BadRequestError', 'Missing personalisation: code', 'refused'],
    ['BadRequestError', "Can't send to this recipient using a team-only API key (service 3f1c2d4e-0000-4000-8000-000000000001) - see https://www.notifications.service.gov.uk/trial-mode", 'refused'],
    ['BadRequestError', 'Text messages cannot be longer than 918 characters. Your message is 1000 characters long.', 'refused'],
    ['BadRequestError', 'Template not found', 'config'],
    ['BadRequestError', 'Template has been deleted', 'config'],
    ['BadRequestError', 'email template is not suitable for sms notification', 'config'],
    ['BadRequestError', 'Service is not allowed to send text messages', 'config'],
    ['BadRequestError', "Can't send to this recipient when service is in trial mode - see https://www.notifications.service.gov.uk/trial-mode", 'config'],
    ['ValidationError', 'template_id is not a valid UUID', 'config'],
  ])('takes a 400 %s "%s" as %s', (error, message, failure) => {
    expect(classifyNotifyFailure(400, [{ error, message }])).toBe(failure);
  });

  it('takes a 400 naming a problem of our settings beside one of the message as ours: no text of that kind would go', () => {
    expect(classifyNotifyFailure(400, [{ error: 'ValidationError', message: 'phone_number Not a UK mobile number' }, { error: 'BadRequestError', message: 'Template not found' }])).toBe('config');
  });
});

/** `call` on a gateway whose Notify answers every request with `status` and `body`. */
const answering = async (status: number, body: unknown, call: (g: NotifyGateway) => Promise<unknown>) => {
  const s = createServer((req, res) => req.resume().on('end', () => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  try {
    return await call(new NotifyGateway(Object.assign(new NotifierConfig(), { NOTIFY_BASE_URL: `http://127.0.0.1:${(s.address() as AddressInfo).port}` })));
  } finally {
    await new Promise<void>((r) => s.close(() => r()));
  }
};

describe('NotifyGateway failures', () => {
  it('reports "Template not found" as our settings, not the number', async () => {
    const sent = await answering(400, { status_code: 400, errors: [{ error: 'BadRequestError', message: 'Template not found' }] }, (g) => g.send('template-1', '07700900123', {}, 'msg-1'));
    expect(sent).toEqual({ ok: false, failure: 'config', invalidNumber: false, status: 400, message: 'BadRequestError: Template not found' });
  });

  it('reports a 404 (a wrong NOTIFY_BASE_URL) as our settings, on a send and on a lookup', async () => {
    const page = '<!doctype html><title>404 Not Found</title>';
    expect(await answering(404, page, (g) => g.send('template-1', '07700900123', {}, 'msg-1'))).toMatchObject({ ok: false, failure: 'config', invalidNumber: false, status: 404 });
    expect(await answering(404, page, (g) => g.findByReference('msg-1'))).toMatchObject({ ok: false, failure: 'config', status: 404 });
  });

  it('still reports a refused number as the message\'s', async () => {
    const sent = await answering(400, { status_code: 400, errors: [{ error: 'ValidationError', message: 'phone_number Not a UK mobile number' }] }, (g) => g.send('template-1', '07700900123', {}, 'msg-1'));
    expect(sent).toMatchObject({ ok: false, failure: 'refused', invalidNumber: true });
  });
});

describe('NotifyGateway.findByReference', () => {
  const listing = (notifications: unknown[]) => answering(200, { notifications, links: {} }, (g) => g.findByReference('msg-1'));

  it('passes over a text Notify failed technically (never sent, and being sent again under the same reference)', async () => {
    expect(await listing([{ id: 'n1', reference: 'msg-1', status: 'technical-failure' }])).toEqual({ ok: true, notifyId: null });
    expect(await listing([{ id: 'n2', reference: 'msg-1', status: 'sending' }, { id: 'n1', reference: 'msg-1', status: 'technical-failure' }])).toEqual({ ok: true, notifyId: 'n2' });
    expect(await listing([{ id: 'n1', reference: 'msg-1', status: 'delivered' }])).toEqual({ ok: true, notifyId: 'n1' });
  });
});
