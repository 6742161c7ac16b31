/**
 * Imported first by every main.ts. This is the one place that reads the environment before the
 * validated config exists, because instrumentation must patch modules before they are required.
 * (The same variables are validated with the rest of the config at boot: `BaseConfig`.)
 */
import { startTelemetry } from './telemetry';

startTelemetry(process.env.SERVICE_NAME ?? 'slot-exchange', process.env.OTEL_TRACES_EXPORTER, {
  endpoint: process.env.OTEL_EXPORTER_OTLP_ENDPOINT,
  file: process.env.OTEL_TRACES_FILE,
});
