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
  const config = { TRUST_ODS: 'RQM', PAS_FHIR_BASE_URL: 'http://127.0.0.1:9/RQM/fhir', PAS_TIMEOUT_MS: 1000, BOOKING_IDENTIFIER_SYSTEM: 'urn:booking' } as AdapterConfig;
  const w = new WritebackWorker(config, exchange, new FhirWritebackDriver(config, metrics), {} as QueueService, metrics);
  return { w, posted };
}

const job = (attemptsMade: number) => ({ data: { writebackId: 'wb-1' }, attemptsMade, opts: { attempts: 8 } }) as unknown as Job;

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
