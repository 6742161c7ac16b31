/**
 * Imported first by every main.ts. This is the one place that reads the environment before the
 * validated config exists, because instrumentation must patch modules before they are required.
 */
import { startTelemetry } from './telemetry';

startTelemetry(process.env.SERVICE_NAME ?? 'slot-exchange', process.env.OTEL_TRACES_EXPORTER, process.env.OTEL_EXPORTER_OTLP_ENDPOINT);
