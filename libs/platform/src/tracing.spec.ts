/**
 * Trace propagation without the network, on an in-memory span exporter: a job's span continues
 * the trace whose `traceparent` its producer put in the job data; a stored `traceparent` (the
 * slot's) parents later work; nothing is carried when telemetry is off; and the exporter's
 * redaction scrubs personal data that slipped into a span. Also the PROCESS_ROLE switch's
 * validation.
 */
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { propagation } from '@opentelemetry/api';
import { BaseConfig, ConfigError, loadConfig } from './config';
import { RedactingSpanExporter, safeUrlPath } from './telemetry';
import { currentTraceparent, runJobInTrace, withSpan } from './tracing';

describe('without telemetry', () => {
  it('carries nothing and still runs the work', async () => {
    expect(currentTraceparent()).toBeUndefined();
    await expect(withSpan('x', {}, async () => 42)).resolves.toBe(42);
    await expect(runJobInTrace('q', { name: 'j', attemptsMade: 0, data: {} }, async () => ({ status: 'done' }))).resolves.toEqual({ status: 'done' });
  });
});

describe('with an in-memory exporter', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new RedactingSpanExporter(exporter))] } as never);
  const contextManager = new AsyncLocalStorageContextManager();

  beforeAll(() => {
    contextManager.enable();
    context.setGlobalContextManager(contextManager);
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(provider);
  });
  afterAll(async () => {
    await provider.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
  });
  beforeEach(() => exporter.reset());

  it('continues the producer\'s trace in the job that it enqueued, across an async gap', async () => {
    let carried: string | undefined;
    await withSpan('mllp receive', {}, async () => {
      await new Promise((r) => setTimeout(r, 5));
      carried = currentTraceparent();
    });
    expect(carried).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const outcome = await runJobInTrace('slot-matching', { id: 'match-1-1', name: 'match-slot', attemptsMade: 0, data: { slotId: '1', traceparent: carried } }, async () => {
      await withSpan('inner', {}, async () => undefined);
      return { status: 'done' };
    });
    expect(outcome).toEqual({ status: 'done' });
    const spans = exporter.getFinishedSpans();
    const root = spans.find((s) => s.name === 'mllp receive')!;
    const job = spans.find((s) => s.name === 'slot-matching match-slot')!;
    const inner = spans.find((s) => s.name === 'inner')!;
    expect(job.spanContext().traceId).toBe(root.spanContext().traceId);
    expect(job.parentSpanId).toBe(root.spanContext().spanId);
    expect(inner.parentSpanId).toBe(job.spanContext().spanId);
    expect(job.attributes).toMatchObject({ 'messaging.system': 'bullmq', 'messaging.destination.name': 'slot-matching', 'job.outcome': 'done' });
  });

  it('parents later work on a stored traceparent (the slot\'s), and records a failure without personal data', async () => {
    let stored: string | undefined;
    await withSpan('release', {}, async () => {
      stored = currentTraceparent();
    });
    await expect(withSpan('booking accept', { parent: stored }, async () => {
      throw new Error('PAS refused 9990000018 on 07700 900123');
    })).rejects.toThrow();
    const spans = exporter.getFinishedSpans();
    const accept = spans.find((s) => s.name === 'booking accept')!;
    expect(accept.spanContext().traceId).toBe(spans.find((s) => s.name === 'release')!.spanContext().traceId);
    const text = JSON.stringify([accept.status, accept.events]);
    expect(text).toContain('[nhs-number]');
    expect(text).not.toMatch(/9990000018|07700 900123/);
  });

  it('re-throws what the work threw, whatever it is, and records it', async () => {
    await expect(withSpan('odd failure', {}, () => Promise.reject(undefined))).rejects.toBeUndefined();
    const span = exporter.getFinishedSpans().find((s) => s.name === 'odd failure')!;
    expect(span.status).toEqual({ code: 2, message: 'undefined' });
  });

  it('scrubs attributes that carry personal data before export', async () => {
    await withSpan('GET', { attributes: { 'http.url': '/sim/messages?phone=+447700900123', note: 'nhs 999 000 0018' } }, async () => undefined);
    const [span] = exporter.getFinishedSpans();
    expect(JSON.stringify(span.attributes)).not.toMatch(/447700900123|999 000 0018/);
    expect(safeUrlPath('/o/abc123TOKEN?x=07700900123')).toBe('/o/:token');
  });
});

describe('PROCESS_ROLE', () => {
  it('defaults to all, accepts api and worker, refuses anything else by name', () => {
    expect(loadConfig(BaseConfig, {}).PROCESS_ROLE).toBe('all');
    expect(loadConfig(BaseConfig, { PROCESS_ROLE: 'worker' }).PROCESS_ROLE).toBe('worker');
    expect(() => loadConfig(BaseConfig, { PROCESS_ROLE: 'both' })).toThrow(ConfigError);
    expect(() => loadConfig(BaseConfig, { PROCESS_ROLE: 'both' })).toThrow(/PROCESS_ROLE/);
    expect(() => loadConfig(BaseConfig, { OTEL_TRACES_EXPORTER: 'jaeger' })).toThrow(/OTEL_TRACES_EXPORTER/);
  });
});
