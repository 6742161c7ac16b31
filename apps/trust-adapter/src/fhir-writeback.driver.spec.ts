/**
 * Whether a booking the PAS never answered for may be held by it (`pasMayHold`), against real
 * sockets on this machine: a PAS whose connection is never made (its TLS handshake never
 * completes, so no byte of the request goes out), one that takes the request and never answers,
 * one that refuses connections, and a PAS or a gateway in front of it answering 5xx or 429.
 *
 * A TCP handshake that never completes is the same case to undici (a connect still pending, no
 * request written) but cannot be made here: this network answers for every address, routable or
 * not, and Linux completes handshakes even into a full backlog.
 */
import { AddressInfo, Server, Socket, createServer as createTcpServer } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { Logger } from '@nestjs/common';
import type { Job } from 'bullmq';
import type { WritebackOrder } from '@app/contracts';
import type { MetricsService, QueueService } from '@app/platform';
import type { AdapterConfig } from './config';
import type { ExchangeClient } from './exchange.client';
import { CircuitOpenError } from './circuit-breaker';
import { FhirWritebackDriver, PAS_CIRCUIT_COOL_DOWN_MS, PAS_CIRCUIT_THRESHOLD, WritebackResult } from './fhir-writeback.driver';
import { WritebackWorker } from './writeback.worker';

const PAS_TIMEOUT_MS = 300;
const metrics = { counter: () => ({ inc: () => undefined }), gauge: () => ({ set: () => undefined }) } as unknown as MetricsService;
const configFor = (baseUrl: string) => ({ TRUST_ODS: 'RQM', PAS_FHIR_BASE_URL: `${baseUrl}/RQM/fhir`, PAS_TIMEOUT_MS, BOOKING_IDENTIFIER_SYSTEM: 'urn:booking', PAS_WRITEBACK_GIVE_UP_MINUTES: 30 }) as AdapterConfig;
const order = { id: 'wb-1', kind: 'book', status: 'pending', bookingId: 'b-1', patient: { nhsNumber: '9990000018' }, appointment: { start: '2026-12-01T10:00:00Z', pasAppointmentId: null } } as unknown as WritebackOrder;

/** A booking through the real driver, its throw turned into a result as the worker does. */
async function book(baseUrl: string): Promise<WritebackResult> {
  const driver = new FhirWritebackDriver(configFor(baseUrl), metrics);
  const worker = new WritebackWorker(configFor(baseUrl), {} as ExchangeClient, driver, {} as QueueService, metrics);
  return (worker as unknown as { ask(call: () => Promise<WritebackResult>): Promise<WritebackResult> }).ask(() => driver.book(order));
}

const open: Array<{ close(): unknown }> = [];
const sockets: Socket[] = [];
afterEach(() => {
  jest.restoreAllMocks();
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of open.splice(0)) s.close();
});
const listening = async <T extends Server>(server: T): Promise<{ server: T; port: number }> => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  open.push(server);
  if ('closeAllConnections' in server) open.push({ close: () => (server as unknown as { closeAllConnections(): void }).closeAllConnections() });
  return { server, port: (server.address() as AddressInfo).port };
};

/** Accepts every connection and never says a word: no TLS handshake, no HTTP answer. */
async function silentPas(): Promise<number> {
  const { port } = await listening(createTcpServer((s) => void sockets.push(s)));
  return port;
}

/** A PAS, or the gateway in front of it, answering every request with `status`. */
async function answering(status: number, body = '', headers: Record<string, string> = {}): Promise<number> {
  const { port } = await listening(createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(status, headers).end(body));
  }));
  return port;
}

describe('FhirWritebackDriver: a booking that got no answer', () => {
  it('is not one the PAS may hold when the TLS handshake never completed (no byte of the request can have gone out)', async () => {
    const port = await silentPas();
    expect(await book(`https://127.0.0.1:${port}`)).toEqual({ ok: false, permanent: false, reason: expect.stringMatching(/no connection made.*timeout/), pasMayHold: false });
  });

  it('may be held by the PAS when the request was written and the answer never came', async () => {
    const port = await silentPas();
    expect(await book(`http://127.0.0.1:${port}`)).toEqual({ ok: false, permanent: false, reason: expect.stringMatching(/timeout/), pasMayHold: true });
  });

  it('is not one the PAS may hold when its connection was refused', async () => {
    const { server, port } = await listening(createTcpServer());
    await new Promise((r) => server.close(r));
    expect(await book(`http://127.0.0.1:${port}`)).toEqual({ ok: false, permanent: false, reason: expect.stringMatching(/ECONNREFUSED/), pasMayHold: false });
  });
});

describe('FhirWritebackDriver: a 5xx or 429 answer', () => {
  /** What HAProxy answers when no PAS behind it is up. */
  const GATEWAY_503 = '<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>';

  it('503 (not handled at all: a PAS in maintenance, a gateway with no PAS behind it) is not one the PAS may hold', async () => {
    const port = await answering(503, GATEWAY_503, { 'content-type': 'text/html', 'retry-after': '30' });
    expect(await book(`http://127.0.0.1:${port}`)).toMatchObject({ ok: false, permanent: false, reason: 'PAS answered 503', pasMayHold: false });
  });

  it('429 (not taken, try later) is not one the PAS may hold', async () => {
    const port = await answering(429, '', { 'retry-after': '5' });
    expect(await book(`http://127.0.0.1:${port}`)).toMatchObject({ ok: false, permanent: false, pasMayHold: false });
  });

  it.each([500, 502, 504])('%i (the PAS may have committed before it, or behind the gateway) may be held by the PAS', async (status) => {
    const port = await answering(status, '<html><body>Bad Gateway</body></html>', { 'content-type': 'text/html' });
    expect(await book(`http://127.0.0.1:${port}`)).toMatchObject({ ok: false, permanent: false, reason: `PAS answered ${status}`, pasMayHold: true });
  });
});

describe('FhirWritebackDriver: the circuit to a PAS answering 503', () => {
  /** How long the circuit refuses calls once `threshold` bookings in a row were answered 503. */
  const openFor = async (driver: FhirWritebackDriver): Promise<number> => {
    for (let i = 0; i < PAS_CIRCUIT_THRESHOLD; i++) await driver.book(order);
    const refused = await driver.book(order).then(() => undefined, (e: unknown) => e);
    expect(refused).toBeInstanceOf(CircuitOpenError);
    return (refused as CircuitOpenError).retryInMs;
  };

  it('stays open for the production cool-down unless a test injects a shorter one (AdapterModule.forRoot circuit)', async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const base = `http://127.0.0.1:${await answering(503)}`;
    const production = await openFor(new FhirWritebackDriver(configFor(base), metrics));
    expect(production).toBeGreaterThan(PAS_CIRCUIT_COOL_DOWN_MS - 1_000);
    expect(production).toBeLessThanOrEqual(PAS_CIRCUIT_COOL_DOWN_MS);
    expect(await openFor(new FhirWritebackDriver(configFor(base), metrics, { coolDownMs: 200 }))).toBeLessThanOrEqual(200);
  });
});

describe('WritebackWorker: giving up on a PAS it never connected to', () => {
  it('reports a plain failure, so the slot may be offered again, when no try and no search ever made a connection', async () => {
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const port = await silentPas();
    const posted: unknown[] = [];
    const exchange = {
      call: async (method: string, _path: string, body?: unknown) => (method === 'GET' ? order : (posted.push(body), {})),
    } as unknown as ExchangeClient;
    const config = configFor(`https://127.0.0.1:${port}`);
    const w = new WritebackWorker(config, exchange, new FhirWritebackDriver(config, metrics), {} as QueueService, metrics);
    const job = { data: { writebackId: 'wb-1' }, attemptsMade: 7, attemptsStarted: 8, timestamp: Date.now() - 31 * 60_000, updateData: async () => undefined } as unknown as Job;
    expect(await w.process(job)).toEqual({ status: 'done', reason: 'failed' });
    expect(posted).toEqual([{ outcome: 'failed', permanent: true, reason: expect.stringMatching(/no connection made/) }]);
  });
});
