import { Logger } from '@nestjs/common';
import type { Job } from 'bullmq';
import type { AdapterConfig } from './config';
import type { ExchangeClient } from './exchange.client';
import { FhirWritebackDriver } from './fhir-writeback.driver';
import { WritebackWorker } from './writeback.worker';
import type { MetricsService, QueueService } from '@app/platform';

/** What a PAS may answer a refused booking with: its OperationOutcome quoting the patient. */
const PAS_ANSWER = '{"resourceType":"OperationOutcome","issue":[{"diagnostics":"Patient SMITH, Jane Anne already booked"}]}';

/** The real driver against a PAS that answers every request with `status` and its OperationOutcome. */
function worker(status: number, answer = PAS_ANSWER) {
  jest.spyOn(globalThis, 'fetch').mockImplementation(async () => new Response(answer, { status }));
  const posted: Array<{ path: string; body: unknown }> = [];
  const exchange = {
    call: async (method: string, path: string, body?: unknown) => {
      if (method === 'GET') return { status: 'pending', kind: 'book', bookingId: 'b-1', patient: { nhsNumber: '9990000018' }, appointment: { start: '2026-12-01T10:00:00Z' } };
      posted.push({ path, body });
      return {};
    },
  } as unknown as ExchangeClient;
  const metrics = { counter: () => ({ inc: () => undefined }), gauge: () => ({ set: () => undefined }) } as unknown as MetricsService;
  const config = { TRUST_ODS: 'RQM', PAS_FHIR_BASE_URL: 'http://127.0.0.1:9/RQM/fhir', PAS_TIMEOUT_MS: 1000, BOOKING_IDENTIFIER_SYSTEM: 'urn:booking', PAS_WRITEBACK_GIVE_UP_MINUTES: 30 } as AdapterConfig;
  const w = new WritebackWorker(config, exchange, new FhirWritebackDriver(config, metrics), {} as QueueService, metrics);
  return { w, posted };
}

/** A job ordered `ageMs` ago; `moveToDelayed` records when it asked to run again, `updateData` what it kept. */
const job = (attemptsMade: number, ageMs = 0, data: Record<string, unknown> = {}) => {
  const delayedTo: number[] = [];
  const j = Object.assign({
    data: { writebackId: 'wb-1', ...data }, attemptsMade, attemptsStarted: attemptsMade + 1, opts: { attempts: 8 }, timestamp: Date.now() - ageMs,
    moveToDelayed: async (at: number) => void delayedTo.push(at),
    updateData: async (d: { writebackId: string }) => void (j.data = d),
  }, { delayedTo });
  return j as unknown as Job & { delayedTo: number[] };
};

describe('WritebackWorker: personal data', () => {
  afterEach(() => jest.restoreAllMocks());

  it("logs a refusal without the PAS's answer, which still reaches the failure record", async () => {
    const logged: string[] = [];
    jest.spyOn(Logger.prototype, 'error').mockImplementation((m: unknown) => void logged.push(String(m)));
    const { w, posted } = worker(422);
    await w.process(job(0));
    expect(logged.join('\n')).toContain('PAS answered 422');
    expect(logged.join('\n')).not.toMatch(/SMITH|Jane/);
    expect(posted[0].body).toMatchObject({ outcome: 'failed', permanent: true, reason: `PAS answered 422: ${PAS_ANSWER}` });
  });

  it("throws a retryable failure (logged by the queue) without the PAS's answer", async () => {
    const { w } = worker(503);
    const thrown = await w.process(job(0)).then(() => undefined, (e: Error) => e);
    expect(thrown?.message).toContain('PAS answered 503');
    expect(thrown?.message).not.toMatch(/SMITH|Jane/);
  });

  it("passes on a PAS answer holding U+0000 (which Postgres cannot store) with it replaced, so the exchange can record it", async () => {
    const { w, posted } = worker(422, 'refused\u0000 by PAS');
    await w.process(job(0));
    expect(posted[0].body).toMatchObject({ outcome: 'failed', permanent: true, reason: 'PAS answered 422: refused\uFFFD by PAS' });
  });
});

/**
 * The real driver against a PAS played by `pas` (method, path → answer, or a thrown error for a
 * request that never got one), and an exchange whose order is pending until `exchangeSays` is
 * asked for the outcome of a success.
 */
function worldWith(pas: (method: string, path: string) => Response | Error, exchangeSays = 'succeeded', order: Record<string, unknown> = {}) {
  const requests: string[] = [];
  jest.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
    const u = new URL(String(input));
    const method = init?.method ?? 'GET';
    requests.push(`${method} ${u.pathname}${u.search}`);
    const r = pas(method, `${u.pathname}${u.search}`);
    if (r instanceof Error) throw r;
    return r;
  });
  const posted: unknown[] = [];
  const exchange = {
    call: async (method: string, _path: string, body?: { outcome?: string }) => {
      if (method === 'GET') return { id: 'wb-1', status: 'pending', kind: 'book', bookingId: 'b-1', patient: { nhsNumber: '9990000018' }, appointment: { start: '2026-12-01T10:00:00Z', pasAppointmentId: null }, ...order };
      requests.push(`exchange ${body?.outcome}`);
      posted.push(body);
      return { status: body?.outcome === 'succeeded' ? exchangeSays : 'pending' };
    },
  } as unknown as ExchangeClient;
  const metrics = { counter: () => ({ inc: () => undefined }), gauge: () => ({ set: () => undefined }) } as unknown as MetricsService;
  const config = { TRUST_ODS: 'RQM', PAS_FHIR_BASE_URL: 'http://pas.test/RQM/fhir', PAS_TIMEOUT_MS: 1000, BOOKING_IDENTIFIER_SYSTEM: 'urn:booking', PAS_WRITEBACK_GIVE_UP_MINUTES: 30 } as AdapterConfig;
  return { w: new WritebackWorker(config, exchange, new FhirWritebackDriver(config, metrics), {} as QueueService, metrics), posted, requests };
}

const fhir = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/fhir+json' } });
const timedOut = () => Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' });
const held = { resourceType: 'Appointment', id: 'A-1', status: 'booked', identifier: [{ system: 'urn:booking', value: 'b-1' }] };

describe('WritebackWorker: an answer that never came', () => {
  afterEach(() => jest.restoreAllMocks());

  it('reports success when the PAS, asked by booking id once time is up, holds the appointment it did not answer for', async () => {
    const { w, posted, requests } = worldWith((method, path) => method === 'POST' ? timedOut() : path.startsWith('/RQM/fhir/Appointment?identifier=') ? fhir({ resourceType: 'Bundle', entry: [{ resource: held }] }) : fhir({}, 404));
    expect(await w.process(job(7, 31 * 60_000))).toEqual({ status: 'done' });
    expect(requests).toContain(`GET /RQM/fhir/Appointment?identifier=${encodeURIComponent('urn:booking|b-1')}`);
    expect(posted).toEqual([{ outcome: 'succeeded', pasAppointmentId: 'A-1' }]);
  });

  it('reports a permanent failure once time is up only when the PAS holds nothing for the booking', async () => {
    const { w, posted } = worldWith((method) => method === 'POST' ? fhir({}, 503) : fhir({ resourceType: 'Bundle', entry: [] }));
    expect(await w.process(job(3, 31 * 60_000))).toEqual({ status: 'done', reason: 'failed' });
    expect(posted).toEqual([expect.objectContaining({ outcome: 'failed', permanent: true, reason: expect.stringMatching(/503/) })]);
  });

  it("keeps retrying a 503 within the give-up limit, past the queue's last attempt, without a permanent report", async () => {
    const { w, posted } = worldWith(() => fhir({}, 503));
    const j = job(7, 5 * 60_000); // the old eighth and last attempt, five minutes in
    await expect(w.process(j)).rejects.toMatchObject({ name: 'DelayedError', message: expect.stringMatching(/PAS answered 503/) });
    expect(j.delayedTo).toHaveLength(1);
    expect(j.delayedTo[0]).toBeGreaterThan(Date.now());
    expect(posted).toEqual([expect.objectContaining({ outcome: 'failed', permanent: false })]);
  });

  it('a refusal (4xx) is reported for good at once, without waiting for the limit', async () => {
    const { w, posted } = worldWith(() => fhir({ resourceType: 'OperationOutcome' }, 422));
    expect(await w.process(job(0))).toEqual({ status: 'done', reason: 'failed' });
    expect(posted).toEqual([expect.objectContaining({ outcome: 'failed', permanent: true })]);
  });
});

describe('WritebackWorker: a success the exchange no longer accepts', () => {
  afterEach(() => jest.restoreAllMocks());

  it('cancels the appointment it just made in the PAS, and says so in the log without personal data', async () => {
    const logged: string[] = [];
    jest.spyOn(Logger.prototype, 'error').mockImplementation((m: unknown) => void logged.push(String(m)));
    const written: unknown[] = [];
    const { w } = worldWith((method, path) => {
      if (method === 'POST') return fhir(held, 201);
      if (method === 'PUT') return (written.push(path), fhir({ ...held, status: 'cancelled' }));
      if (path.includes('?identifier=')) return fhir({ resourceType: 'Bundle', entry: [{ resource: held }] });
      return fhir(held);
    }, 'failed');
    expect(await w.process(job(0))).toEqual({ status: 'done', reason: 'withdrawn' });
    expect(written).toEqual(['/RQM/fhir/Appointment/A-1']);
    expect(logged.join('\n')).toMatch(/exchange has it as failed/);
    expect(logged.join('\n')).not.toMatch(/9990000018/);
  });
});

/** What fetch throws when nothing listens on the PAS's port: the request never reached it. */
const refused = () => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:11599'), { code: 'ECONNREFUSED' }) });
/** What fetch throws when the connection is cut after the request went out. */
const cut = () => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) });

describe('WritebackWorker: giving up on a PAS that cannot be asked', () => {
  afterEach(() => jest.restoreAllMocks());

  it('reports the failure as one the PAS may hold when the last try timed out and the search gets no answer', async () => {
    const { w, posted } = worldWith((method) => method === 'POST' ? timedOut() : refused());
    expect(await w.process(job(7, 31 * 60_000))).toEqual({ status: 'done', reason: 'failed' });
    expect(posted).toEqual([expect.objectContaining({ outcome: 'failed', permanent: true, pasMayHold: true })]);
  });

  it('remembers a try that went unanswered, so that one never reaching the PAS later does not undo it', async () => {
    const first = worldWith(() => cut());
    const j = job(0, 0);
    await expect(first.w.process(j)).rejects.toMatchObject({ name: 'DelayedError' });
    expect(j.data).toMatchObject({ pasMayHold: true });
    expect(first.posted).toEqual([expect.objectContaining({ outcome: 'failed', permanent: false, pasMayHold: true })]);
    jest.restoreAllMocks();
    const last = worldWith(() => refused());
    expect(await last.w.process(Object.assign(j, { timestamp: Date.now() - 31 * 60_000 }))).toEqual({ status: 'done', reason: 'failed' });
    expect(last.posted).toEqual([expect.objectContaining({ outcome: 'failed', permanent: true, pasMayHold: true })]);
  });

  it('reports a plain failure (the slot may be offered again) when no try ever reached the PAS', async () => {
    const first = worldWith(() => refused());
    const j = job(0, 0);
    await expect(first.w.process(j)).rejects.toMatchObject({ name: 'DelayedError' });
    expect(j.data).not.toHaveProperty('pasMayHold');
    jest.restoreAllMocks();
    const last = worldWith(() => refused());
    expect(await last.w.process(Object.assign(j, { timestamp: Date.now() - 31 * 60_000 }))).toEqual({ status: 'done', reason: 'failed' });
    expect(last.posted).toEqual([{ outcome: 'failed', permanent: true, reason: expect.stringMatching(/ECONNREFUSED/) }]);
  });

  it('reports a plain failure when every try was answered 503 (not handled: a PAS in maintenance, a gateway with none behind it) and the search neither', async () => {
    const { w, posted } = worldWith(() => fhir({}, 503));
    expect(await w.process(job(7, 31 * 60_000))).toEqual({ status: 'done', reason: 'failed' });
    expect(posted).toEqual([{ outcome: 'failed', permanent: true, reason: expect.stringMatching(/PAS answered 503/) }]);
  });

  it('reports the failure as one the PAS may hold when a try was answered 502 or 504 by a gateway, which may have passed it on', async () => {
    for (const status of [502, 504]) {
      const { w, posted } = worldWith((method) => method === 'POST' ? fhir({}, status) : fhir({}, 503));
      expect(await w.process(job(7, 31 * 60_000))).toEqual({ status: 'done', reason: 'failed' });
      expect(posted).toEqual([expect.objectContaining({ outcome: 'failed', permanent: true, pasMayHold: true })]);
      jest.restoreAllMocks();
    }
  });

  it('says the PAS holds nothing when, after a try that timed out, its search comes back empty', async () => {
    const { w, posted } = worldWith((method) => method === 'POST' ? fhir({}, 504) : fhir({ resourceType: 'Bundle', entry: [] }));
    expect(await w.process(job(7, 31 * 60_000, { pasMayHold: true }))).toEqual({ status: 'done', reason: 'failed' });
    expect(posted).toEqual([expect.objectContaining({ outcome: 'failed', permanent: true, pasMayHold: false })]);
  });
});

describe('WritebackWorker: a booking the exchange failed before the PAS answered', () => {
  afterEach(() => jest.restoreAllMocks());
  const failed = { status: 'failed' };

  it('cancels the appointment the exchange already knows of directly, without searching for it', async () => {
    const { w, requests, posted } = worldWith((method) => method === 'PUT' ? fhir({ ...held, status: 'cancelled' }) : fhir(held), 'failed', { ...failed, appointment: { start: '2026-12-01T10:00:00Z', pasAppointmentId: 'A-1' } });
    expect(await w.process(job(0))).toEqual({ status: 'done', reason: 'withdrawn' });
    expect(requests).toEqual(['GET /RQM/fhir/Appointment/A-1', 'PUT /RQM/fhir/Appointment/A-1']);
    expect(posted).toEqual([]);
  });

  it('tells the exchange the appointment it found before cancelling it, so that its SIU^S15 is known as our own', async () => {
    const { w, requests, posted } = worldWith((method, path) => {
      if (method === 'PUT') return fhir({ ...held, status: 'cancelled' });
      if (path.includes('?identifier=')) return fhir({ resourceType: 'Bundle', entry: [{ resource: held }] });
      return fhir(held);
    }, 'failed', failed);
    expect(await w.process(job(0))).toEqual({ status: 'done', reason: 'withdrawn' });
    expect(posted).toEqual([{ outcome: 'succeeded', pasAppointmentId: 'A-1' }]);
    expect(requests.indexOf('exchange succeeded')).toBeLessThan(requests.indexOf('PUT /RQM/fhir/Appointment/A-1'));
  });

  it('fails the job with an error logged (no personal data), not skipped, when the PAS refuses the search', async () => {
    const logged: string[] = [];
    jest.spyOn(Logger.prototype, 'error').mockImplementation((m: unknown) => void logged.push(String(m)));
    const { w, requests } = worldWith(() => fhir({ resourceType: 'OperationOutcome', issue: [{ diagnostics: 'no search for SMITH' }] }, 403), 'failed', failed);
    await expect(w.process(job(0))).rejects.toThrow(/refused the search.*403/);
    expect(requests.filter((r) => r.startsWith('PUT'))).toEqual([]);
    expect(logged.join('\n')).toMatch(/refused the search/);
    expect(logged.join('\n')).not.toMatch(/SMITH|9990000018/);
  });

  it('skips when the search plainly finds nothing', async () => {
    const { w } = worldWith(() => fhir({ resourceType: 'Bundle', entry: [] }), 'failed', failed);
    expect(await w.process(job(0))).toMatchObject({ status: 'skipped' });
  });
});
