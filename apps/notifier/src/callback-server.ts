/**
 * Notify's two callbacks (`POST /notify/inbound`, `POST /notify/status`) served straight from
 * Node's HTTP server, ahead of Express and Nest; every other request goes on to them unchanged.
 *
 * Why: in a storm of replies the notifier's CPU went mostly to handling these small requests, and
 * most of that was the generic machinery around the handler (profile of the accept-storm bench:
 * Express's router and response (`send` computes an ETag by hashing the body), body-parser with
 * its media-type checks, class-transformer building the DTO, Nest's guard, pipe and filter
 * contexts) rather than the handler itself. Here each request costs one body read, one
 * JSON.parse, the same class-validator rules on the same DTO classes, the same constant-time
 * bearer check, and one write of the answer.
 *
 * The contract is the one the Nest route had: 401 without the callback token; 400 naming each
 * invalid field (`validation_failed`, as `strictValidationPipe` words it), a field the DTO does not
 * know dropped (`@ToleratesNewerSenders()`: Notify may add fields); the
 * controller's own answers (503 + Retry-After when busy, `{ received, duplicate }`), errors shaped
 * by `errorResponse` as `AppErrorFilter` shapes them. A body that is not JSON is handed to
 * Express as before.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Logger } from '@nestjs/common';
import { TOLERATES_NEWER_SENDERS, bearerToken, errorResponse, safeEqual, validationFailed } from '@app/platform';
import { validateSync } from 'class-validator';
import { CallbacksController, DeliveryReceiptDto, ReceivedTextDto } from './callbacks.controller';

/** As the JSON body parser allowed before (a text is at most 1,600 characters; Notify sends little more). */
const BODY_LIMIT = 1024 * 1024;

type Route = { dto: new () => object; handle: (dto: never, res: ServerResponse) => Promise<unknown> };

/** Serves the callbacks on `server` before its other `request` listeners (Express), which see everything else. */
export function serveCallbacksFirst(server: Server, controller: CallbacksController, token: () => string): void {
  const logger = new Logger('callbacks');
  const routes: Record<string, Route> = {
    '/notify/inbound': { dto: ReceivedTextDto, handle: (dto: ReceivedTextDto, res) => controller.inbound(dto, res as never) },
    '/notify/status': { dto: DeliveryReceiptDto, handle: (dto: DeliveryReceiptDto, res) => controller.status(dto, res as never) },
  };
  const others = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>;
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const route = req.method === 'POST' && isJson(req.headers['content-type']) ? routes[pathOf(req.url)] : undefined;
    if (!route) {
      for (const l of others) l.call(server, req, res);
      return;
    }
    void serve(route, req, res, token(), logger);
  });
}

async function serve(route: Route, req: IncomingMessage, res: ServerResponse, token: string, logger: Logger): Promise<void> {
  let raw: string;
  try {
    raw = await readBody(req);
  } catch (e) {
    if ((e as Error).message === 'too large') return answer(res, 413, { error: 'payload_too_large', message: `The body is larger than ${BODY_LIMIT} bytes` }, { connection: 'close' });
    return; // the client went away
  }
  try {
    const presented = bearerToken(req.headers.authorization);
    if (!presented || !safeEqual(presented, token)) {
      return answer(res, 401, { error: 'unauthorized', message: 'A valid "Authorization: Bearer <token>" header is required' });
    }
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      return answer(res, 400, { error: 'bad_request', message: 'The body is not valid JSON' });
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return answer(res, 400, { error: 'validation_failed', message: 'The request is not valid', details: ['body: must be a JSON object'] });
    }
    // Own data properties only, defined rather than assigned: a `__proto__` key stays a field
    // (dropped or refused below as unknown) instead of replacing the DTO's prototype.
    const dto = new route.dto();
    for (const [k, v] of Object.entries(body)) Object.defineProperty(dto, k, { value: v, enumerable: true, writable: true, configurable: true });
    const tolerant = (route.dto as { [TOLERATES_NEWER_SENDERS]?: boolean })[TOLERATES_NEWER_SENDERS] === true;
    const errors = validateSync(dto, { whitelist: true, forbidNonWhitelisted: !tolerant });
    if (errors.length > 0) throw validationFailed(errors);
    answer(res, 200, await route.handle(dto as never, res));
  } catch (e) {
    const { status, body } = errorResponse(e, logger);
    answer(res, status, body);
  }
}

function answer(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const json = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(json)) });
  res.end(json);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((done, fail) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > BODY_LIMIT) {
        req.removeAllListeners('data');
        req.resume();
        fail(new Error('too large'));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => done(chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8')));
    req.on('error', fail);
    req.on('aborted', () => fail(new Error('aborted')));
  });
}

function isJson(type: string | undefined): boolean {
  if (!type) return false;
  const t = type.trimStart().toLowerCase();
  return t.startsWith('application/json') && (t.length === 16 || t[16] === ';' || t[16] === ' ');
}

function pathOf(url: string | undefined): string {
  const u = url ?? '';
  const q = u.indexOf('?');
  return q < 0 ? u : u.slice(0, q);
}
