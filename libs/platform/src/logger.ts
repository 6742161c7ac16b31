/**
 * Structured JSON logs (pino) for every process, with personal data scrubbed on the way out.
 * Nest's own logger calls are routed here so framework messages are JSON too.
 */
import { LoggerService } from '@nestjs/common';
import pino, { Logger } from 'pino';
import { redact, redactDeep } from './redact';

export type AppLogger = Logger;

export function createLogger(service: string, level = 'info'): AppLogger {
  return pino({
    level,
    base: { service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((a) => redactDeep(a)) as Parameters<typeof method>);
      },
    },
    serializers: { err: (e: Error) => ({ type: e?.name, message: redact(String(e?.message)), stack: e?.stack && redact(e.stack) }) },
  });
}

/** Nest's start-up narration (every module and route): useful when debugging, noise otherwise. */
const FRAMEWORK_CONTEXTS = new Set(['NestFactory', 'InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestApplication']);

export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: AppLogger) {}
  log(message: unknown, context?: string) {
    if (context && FRAMEWORK_CONTEXTS.has(context)) this.logger.debug({ context }, String(message));
    else this.logger.info({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string) { this.logger.error({ context, trace }, String(message)); }
  warn(message: unknown, context?: string) { this.logger.warn({ context }, String(message)); }
  debug(message: unknown, context?: string) { this.logger.debug({ context }, String(message)); }
  verbose(message: unknown, context?: string) { this.logger.trace({ context }, String(message)); }
}

export const APP_LOGGER = Symbol('APP_LOGGER');
