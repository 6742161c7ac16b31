/**
 * Carrying one freed slot's trace across every hop that is not plain HTTP: the outbox and BullMQ
 * (the W3C `traceparent` travels in the job's data, `TraceCarrier` in @app/contracts), MLLP, and
 * the hours-long gap between an offer and the patient's reply (the slot keeps the trace context it
 * was released under, and the booking continues that trace).
 *
 * Everything here goes through `@opentelemetry/api`, which is a no-op until `startTelemetry` has
 * registered an SDK: with telemetry off these helpers cost a function call and add nothing to job
 * data.
 *
 * Attributes are ids, codes and counts only. Never put an NHS number, name, phone number or message
 * body in a span; the exporter's redaction (`RedactingSpanExporter`) is a last line of defence.
 */
import {
  Attributes, Context, ROOT_CONTEXT, Span, SpanKind, SpanStatusCode, context, propagation, trace,
} from '@opentelemetry/api';
import { errorMessage } from './errors';
import { redact } from './redact';
import { safeUrlPath } from './telemetry';

const TRACER = 'ics-slot-exchange';

/** The active span's W3C `traceparent`, or undefined when there is none (telemetry off, or no span). */
export function currentTraceparent(): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent;
}

/** The context a stored `traceparent` stands for; the root context when it is missing or malformed. */
export function contextFromTraceparent(traceparent: string | null | undefined): Context {
  if (!traceparent) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

/** Headers that carry the active trace to another process (for `fetch`, which is not auto-instrumented). */
export function traceHeaders(): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier;
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** Parent: a stored `traceparent`. Without it the span is a child of the active span (or a new trace). */
  parent?: string | null;
}

/**
 * Runs `fn` inside a new active span, ending it when `fn` settles. An error is recorded (message
 * redacted) and re-thrown.
 */
export async function withSpan<T>(name: string, opts: SpanOptions, fn: (span: Span) => Promise<T>): Promise<T> {
  const parent = opts.parent ? contextFromTraceparent(opts.parent) : context.active();
  return trace.getTracer(TRACER).startActiveSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL, attributes: opts.attributes }, parent, async (span) => {
    try {
      const result = await fn(span);
      return result;
    } catch (e) {
      // Whatever was thrown (reading `.name` of a thrown `undefined` would replace it with a TypeError).
      const message = redact(errorMessage(e));
      span.recordException({ name: e instanceof Error ? e.name : 'Error', message });
      span.setStatus({ code: SpanStatusCode.ERROR, message: message.slice(0, 200) });
      throw e;
    } finally {
      span.end();
    }
  });
}

/** The fields of a BullMQ job a consumer span needs; `data.traceparent` is the producer's context. */
export interface TracedJob {
  id?: string;
  name: string;
  attemptsMade: number;
  data: unknown;
}

/**
 * One consumer span per job run, continuing the trace of whoever enqueued it. Job ids are built
 * from database ids only (contracts `jobId`), so they are safe as attributes.
 */
export function runJobInTrace<T>(queue: string, job: TracedJob, fn: () => Promise<T>): Promise<T> {
  const carried = (job.data as { traceparent?: unknown } | null)?.traceparent;
  return withSpan(
    `${queue} ${job.name}`,
    {
      kind: SpanKind.CONSUMER,
      parent: typeof carried === 'string' ? carried : undefined,
      attributes: {
        'messaging.system': 'bullmq',
        'messaging.destination.name': queue,
        'messaging.operation': 'process',
        'messaging.message.id': job.id ?? '',
        'bullmq.job.name': job.name,
        'bullmq.job.attempt': job.attemptsMade + 1,
      },
    },
    async (span) => {
      const outcome = await fn();
      const status = (outcome as { status?: unknown } | undefined)?.status;
      if (typeof status === 'string') span.setAttribute('job.outcome', status);
      return outcome;
    },
  );
}

/**
 * `fetch` with a client span and the trace headers: Node's built-in fetch (undici) is not covered
 * by the `http` instrumentation. The span names the method and path only (no query string).
 */
export function tracedFetch(url: string, init: RequestInit & { method: string }, peer: string): Promise<Response> {
  const path = safeUrlPath(new URL(url).pathname);
  return withSpan(`${init.method} ${peer}`, { kind: SpanKind.CLIENT, attributes: { 'http.request.method': init.method, 'url.path': path, 'server.peer': peer } }, async (span) => {
    const res = await fetch(url, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), ...traceHeaders() } });
    span.setAttribute('http.response.status_code', res.status);
    if (res.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    return res;
  });
}
