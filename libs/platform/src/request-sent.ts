/**
 * Whether a `fetch` that failed had sent its request: the difference, for a write, between "the
 * other side never saw it" and "it may have acted on it and only the answer was lost". The error
 * cannot tell: a timeout (`AbortSignal.timeout`) reads the same whether it fired while connecting
 * (TCP, or TLS: no byte of the request can go out before the handshake ends) or while waiting for
 * the answer, and undici's own connect timeout (10 s, UND_ERR_CONNECT_TIMEOUT) only fires when the
 * caller's timeout is longer.
 *
 * So it is watched: Node's fetch is undici, which publishes on documented diagnostics channels when
 * it creates a request (`undici:request:create`) and right before the request's first byte is
 * written to the socket (`undici:client:sendHeaders`). Each watched request carries an
 * `X-Request-Id` (FHIR's own correlation header; the server may log it) that ties those messages to
 * it. The channels are process-wide, so this works whichever dispatcher (agent, proxy) is in use
 * and in any realm (a Jest sandbox too). Through a forward proxy, "sent" is to the proxy, which may
 * have passed it on: still "may have acted".
 *
 * HTTP/1.1 only: undici (6.x, bundled with Node 20.20 and 22) publishes `sendHeaders` for HTTP/1.1
 * requests, not HTTP/2 ones, which fetch does not use unless a dispatcher with `allowH2` is set;
 * with one, every failed request would read "not sent", so do not set one for a PAS.
 */
import { randomUUID } from 'node:crypto';
import { subscribe } from 'node:diagnostics_channel';

export const REQUEST_ID_HEADER = 'x-request-id';

/** A request that undici created but never wrote to a connection: the server cannot have acted on it. */
export class RequestNotSentError extends Error {
  constructor(cause: unknown) {
    const said = (cause as { message?: unknown } | undefined)?.message;
    super(`no connection made, nothing sent: ${typeof said === 'string' ? said : String(cause)}`, { cause });
    this.name = 'RequestNotSentError';
  }
}

interface Watch { created: boolean; sent: boolean }
const watching = new Map<string, Watch>();
let subscribed = false;

/** Our id among a request's headers: undici 6+ holds them as [name, value, ...], undici 5 as one string. */
function watchOf(headers: unknown): Watch | undefined {
  if (watching.size === 0) return undefined;
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) {
      if (String(headers[i]).toLowerCase() === REQUEST_ID_HEADER) return watching.get(String(headers[i + 1]));
    }
    return undefined;
  }
  if (typeof headers === 'string') {
    const id = /(?:^|\n)x-request-id:[ \t]*([^\r\n]+)/i.exec(headers)?.[1];
    return id === undefined ? undefined : watching.get(id.trim());
  }
  return undefined;
}

function watchUndici(): void {
  if (subscribed) return;
  subscribed = true;
  subscribe('undici:request:create', (m) => {
    const w = watchOf((m as { request?: { headers?: unknown } }).request?.headers);
    if (w) w.created = true;
  });
  subscribe('undici:client:sendHeaders', (m) => {
    const { request, headers } = m as { request?: { headers?: unknown }; headers?: unknown };
    const w = watchOf(request?.headers) ?? watchOf(headers);
    if (w) w.sent = true;
  });
}

/**
 * Runs `call` (a fetch, and the reading of its answer) with the `X-Request-Id` it must send. If it
 * throws after undici created the request but before any of it was written, the error is replaced
 * by a `RequestNotSentError` (the original as its `cause`). Any other error is passed on as it is,
 * including one from a fetch undici never saw (a stub in a test): not knowing is not "not sent".
 */
export async function failUnlessSent<T>(call: (headers: Record<string, string>) => Promise<T>): Promise<T> {
  watchUndici();
  const id = randomUUID();
  const watch: Watch = { created: false, sent: false };
  watching.set(id, watch);
  try {
    return await call({ [REQUEST_ID_HEADER]: id });
  } catch (e) {
    if (watch.created && !watch.sent) throw new RequestNotSentError(e);
    throw e;
  } finally {
    watching.delete(id);
  }
}
