/**
 * Starts a Nest HTTP app the same way in every process: JSON logs, strict validation, coded
 * errors, graceful shutdown on SIGTERM (in-flight jobs and requests finish first).
 */
import { INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { BaseConfig, trustProxySetting } from './config';
import { APP_LOGGER, AppLogger, PinoNestLogger } from './logger';
import { strictValidationPipe } from './errors';
import { stopTelemetry } from './telemetry';

export interface BootstrapOptions {
  config: BaseConfig;
  /** Raw-body parsers etc. applied before listen. */
  configure?: (app: INestApplication) => void | Promise<void>;
  bodyLimit?: string;
}

export async function bootstrapApp(module: Type<unknown> | import('@nestjs/common').DynamicModule, opts: BootstrapOptions): Promise<INestApplication> {
  const app = await NestFactory.create(module, { bufferLogs: true, bodyParser: false });
  const logger = app.get<AppLogger>(APP_LOGGER);
  app.useLogger(new PinoNestLogger(logger));
  app.useGlobalPipes(strictValidationPipe());
  app.enableShutdownHooks();
  // JSON bodies are parsed by express with a limit; other media types are read by their controllers.
  const express = app.getHttpAdapter().getInstance() as import('express').Express;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const bodyParser = require('body-parser') as typeof import('body-parser');
  express.use(bodyParser.json({ limit: opts.bodyLimit ?? '1mb', type: ['application/json', 'application/*+json'] }));
  express.use(bodyParser.urlencoded({ extended: false, limit: '100kb' }));
  express.disable('x-powered-by');
  express.set('trust proxy', trustProxySetting(opts.config.TRUST_PROXY));
  if (opts.config.PROCESS_ROLE === 'worker') {
    // A queue-worker pod serves probes and scrapes only; the API runs in its own pods.
    express.use((req: import('express').Request, res: import('express').Response, next: () => void) => {
      if (/^\/(health|metrics)(\/|$)/.test(req.path)) return next();
      res.status(404).json({ code: 'worker_only', message: 'this process runs queue workers only (PROCESS_ROLE=worker)' });
    });
  }
  await opts.configure?.(app);
  const server = app.getHttpServer() as import('node:http').Server;
  server.keepAliveTimeout = opts.config.HTTP_KEEPALIVE_TIMEOUT_MS;
  // Node's rule: longer than the keep-alive timeout, or a request that starts just as an idle
  // connection times out can be cut off.
  server.headersTimeout = Math.max(server.headersTimeout, opts.config.HTTP_KEEPALIVE_TIMEOUT_MS + 1000);
  await app.listen(opts.config.PORT, opts.config.HOST);
  logger.info({ port: opts.config.PORT }, `${opts.config.SERVICE_NAME} listening`);
  const stop = () => void stopTelemetry();
  process.once('beforeExit', stop);
  return app;
}
