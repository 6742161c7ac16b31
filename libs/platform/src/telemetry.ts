/**
 * OpenTelemetry, set up once for every process. Off by default; `OTEL_TRACES_EXPORTER=console`
 * or `otlp` (with `OTEL_EXPORTER_OTLP_ENDPOINT`) turns it on. It must start before the modules it
 * instruments are loaded, which is why each `main.ts` imports `@app/platform/telemetry-preload`
 * first.
 */
import type { NodeSDK } from '@opentelemetry/sdk-node';

let sdk: NodeSDK | undefined;

export function startTelemetry(service: string, exporter: string | undefined, endpoint?: string): boolean {
  if (sdk || !exporter || exporter === 'none') return false;
  // Loaded lazily so that processes with telemetry off do not pay for the SDK in memory.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { NodeSDK: Sdk } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node');
  const { ConsoleSpanExporter, BatchSpanProcessor, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http') as typeof import('@opentelemetry/instrumentation-http');
  const spanProcessor =
    exporter === 'console'
      ? new SimpleSpanProcessor(new ConsoleSpanExporter())
      : new BatchSpanProcessor(
          new (require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter(
            endpoint ? { url: `${endpoint.replace(/\/$/, '')}/v1/traces` } : {},
          ),
        );
  /* eslint-enable @typescript-eslint/no-require-imports */
  sdk = new Sdk({
    serviceName: service,
    spanProcessors: [spanProcessor],
    instrumentations: [
      new HttpInstrumentation({
        // URLs can carry offer tokens and phone numbers (sandbox queries): keep only the route.
        requestHook: (span, req) => {
          const path = 'url' in req && typeof req.url === 'string' ? req.url : '';
          span.setAttribute('http.target', path.split('?')[0].replace(/\/o\/[^/]+/, '/o/:token'));
        },
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
