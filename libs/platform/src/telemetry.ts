/**
 * OpenTelemetry, set up once for every process. Off by default; `OTEL_TRACES_EXPORTER=console`,
 * `otlp` (with `OTEL_EXPORTER_OTLP_ENDPOINT`) or `file` (JSON lines appended to `OTEL_TRACES_FILE`,
 * for tests and for a look at one process without a collector) turns it on. It must start before
 * the modules it instruments are loaded, which is why each `main.ts` imports
 * `@app/platform/telemetry-preload` first.
 *
 * Spans cross processes three ways: HTTP (auto-instrumented `http`, and `traceHeaders()` for
 * `fetch`), BullMQ (the `traceparent` in job data, see `tracing.ts`), and the slot row's stored
 * trace context for the gap between an offer and the patient's answer.
 */
import type { NodeSDK } from '@opentelemetry/sdk-node';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { ExportResult } from '@opentelemetry/core';
import { appendFileSync } from 'node:fs';
import { redact } from './redact';

let sdk: NodeSDK | undefined;

/** A URL as it may appear in a span: no query string (sandbox queries carry phone numbers), no offer token. */
export function safeUrlPath(url: string): string {
  return url.split('?')[0].replace(/\/o\/[^/]+/, '/o/:token');
}

/**
 * Wraps any exporter and scrubs every string attribute and event attribute with `redact` before
 * the span leaves the process: the last line of defence for "no personal data in traces".
 */
export class RedactingSpanExporter implements SpanExporter {
  constructor(private readonly inner: SpanExporter) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans.map(redactSpan), done);
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

function redactAttributes<A extends Record<string, unknown> | undefined>(attrs: A): A {
  if (!attrs) return attrs;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(attrs)) out[k] = typeof v === 'string' ? redact(v) : Array.isArray(v) ? v.map((x) => (typeof x === 'string' ? redact(x) : x)) : v;
  return out as A;
}

function redactSpan(span: ReadableSpan): ReadableSpan {
  // The SDK's span keeps its fields on the instance: a child object that shadows the two we change
  // keeps every other field and method (spanContext(), duration …) as they were.
  return Object.create(span, {
    name: { value: redact(span.name) },
    attributes: { value: redactAttributes(span.attributes) },
    events: { value: span.events.map((e) => ({ ...e, attributes: redactAttributes(e.attributes) })) },
  }) as ReadableSpan;
}

/** One JSON object per finished span, appended to a file that several processes may share. */
export class FileSpanExporter implements SpanExporter {
  constructor(private readonly path: string) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    try {
      const lines = spans.map((s) => {
        const ctx = s.spanContext();
        return JSON.stringify({
          traceId: ctx.traceId,
          spanId: ctx.spanId,
          parentSpanId: s.parentSpanId,
          name: s.name,
          kind: s.kind,
          service: s.resource.attributes['service.name'],
          start: s.startTime,
          end: s.endTime,
          status: s.status,
          attributes: s.attributes,
          events: s.events.map((e) => ({ name: e.name, attributes: e.attributes })),
        });
      });
      // One write per batch with O_APPEND: lines from several processes do not interleave.
      if (lines.length) appendFileSync(this.path, lines.join('\n') + '\n');
      done({ code: 0 });
    } catch (e) {
      done({ code: 1, error: e as Error });
    }
  }

  async shutdown(): Promise<void> {}
  async forceFlush(): Promise<void> {}
}

export interface TelemetryOptions {
  endpoint?: string;
  /** For the `file` exporter. */
  file?: string;
}

export function startTelemetry(service: string, exporter: string | undefined, opts: TelemetryOptions | string = {}): boolean {
  if (sdk || !exporter || exporter === 'none') return false;
  const { endpoint, file } = typeof opts === 'string' ? { endpoint: opts, file: undefined } : opts;
  // Loaded lazily so that processes with telemetry off do not pay for the SDK in memory.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { NodeSDK: Sdk } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node');
  const { ConsoleSpanExporter, BatchSpanProcessor, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http') as typeof import('@opentelemetry/instrumentation-http');
  let spanProcessor;
  if (exporter === 'console') spanProcessor = new SimpleSpanProcessor(new RedactingSpanExporter(new ConsoleSpanExporter()));
  else if (exporter === 'file') {
    if (!file) throw new Error('OTEL_TRACES_EXPORTER=file needs OTEL_TRACES_FILE');
    spanProcessor = new SimpleSpanProcessor(new RedactingSpanExporter(new FileSpanExporter(file)));
  } else {
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
    spanProcessor = new BatchSpanProcessor(new RedactingSpanExporter(new OTLPTraceExporter(endpoint ? { url: `${endpoint.replace(/\/$/, '')}/v1/traces` } : {})));
  }
  /* eslint-enable @typescript-eslint/no-require-imports */
  sdk = new Sdk({
    serviceName: service,
    spanProcessors: [spanProcessor],
    instrumentations: [
      new HttpInstrumentation({
        // URLs can carry offer tokens and phone numbers (sandbox queries): keep only the route.
        requestHook: (span, req) => {
          const path = 'url' in req && typeof req.url === 'string' ? req.url : 'path' in req && typeof req.path === 'string' ? req.path : '';
          span.setAttribute('http.target', safeUrlPath(path));
          span.setAttribute('http.url', safeUrlPath(path));
        },
        // Probes and scrapes every few seconds would drown the traces that matter.
        ignoreIncomingRequestHook: (req) => /^\/(health|metrics)/.test(req.url ?? ''),
      }),
    ],
  });
  sdk.start();
  return true;
}

export async function stopTelemetry(): Promise<void> {
  await sdk?.shutdown().catch(() => undefined);
  sdk = undefined;
}

/** Flushes the last spans when Nest shuts down on SIGTERM (`beforeExit` does not fire then). */
export class TelemetryShutdown {
  async onApplicationShutdown(): Promise<void> {
    await stopTelemetry();
  }
}
