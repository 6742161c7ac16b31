/**
 * A fault-injecting HTTP proxy in front of pas-sim, for the write-back fault tests. The adapters
 * talk to it as to their PAS (`PAS_FHIR_BASE_URL_<ODS>`); it forwards to pas-sim untouched unless
 * told to misbehave for one trust:
 * - `delayMs`: every request waits this long before it is forwarded (a slow PAS);
 * - `slowWritesMs`: writes only wait this long before they are forwarded, reads go straight through
 *   (a PAS that commits a booking after the adapter stopped waiting, and answers a search at once);
 * - `failNext`: the next N writes are answered 503 without reaching the PAS (a PAS that is down);
 * - `dropAfterCommitNext`: the next N writes reach the PAS and are committed there, then the
 *   connection is cut before the answer gets back (the lost response a retry must survive);
 * - `refuseWrites`: writes matching a method (`POST` book, `PUT` cancel) are answered 422 with an
 *   OperationOutcome, as a PAS that will not take them (a failure that retrying cannot fix);
 * - `unreachable`: every request's connection is cut before anything is answered or forwarded (a
 *   PAS that is down, or a network between that is), for as long as it is set;
 * - `unavailable`: every request, reads too, is answered 503 without reaching the PAS (a gateway or
 *   load balancer with no PAS behind it), for as long as it is set.
 * It counts what it did, so a test can show the faults were really met.
 */
import { createServer, IncomingMessage, request, Server, ServerResponse } from 'node:http';

export interface PasFaults {
  delayMs?: number;
  slowWritesMs?: number;
  failNext?: number;
  dropAfterCommitNext?: number;
  refuseWrites?: Array<'POST' | 'PUT'>;
  unreachable?: boolean;
  unavailable?: boolean;
}

export interface PasProxy {
  baseUrl: string;
  set(ods: string, faults: PasFaults): void;
  clear(): void;
  /** Per trust: requests failed with 503, answers dropped after commit, writes refused, connections cut (unreachable), writes held (slowWritesMs). */
  seen(ods: string): Counts;
  close(): Promise<void>;
}

const WRITE = new Set(['POST', 'PUT']);

/** `held`: writes `slowWritesMs` began to hold (counted as they arrive, before the wait). */
interface Counts { failed: number; dropped: number; refused: number; forwarded: number; cut: number; held: number }

export async function startPasProxy(port: number, upstream: string): Promise<PasProxy> {
  const faults = new Map<string, PasFaults>();
  const counts = new Map<string, Counts>();
  const count = (ods: string) => {
    let c = counts.get(ods);
    if (!c) counts.set(ods, (c = { failed: 0, dropped: 0, refused: 0, forwarded: 0, cut: 0, held: 0 }));
    return c;
  };
  const up = new URL(upstream);

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const ods = /^\/([A-Z0-9]{3})\//.exec(req.url ?? '')?.[1] ?? '';
    const f = faults.get(ods) ?? {};
    const c = count(ods);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (f.unreachable) {
      c.cut++;
      req.socket.destroy();
      return;
    }
    if (f.delayMs) await new Promise((r) => setTimeout(r, f.delayMs));
    const method = req.method ?? 'GET';
    if (f.slowWritesMs && WRITE.has(method)) {
      c.held++;
      await new Promise((r) => setTimeout(r, f.slowWritesMs));
    }
    const outcome = (status: number, diagnostics: string) => {
      res.writeHead(status, { 'content-type': 'application/fhir+json' });
      res.end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: status === 503 ? 'transient' : 'business-rule', diagnostics }] }));
    };
    if (WRITE.has(method) && f.refuseWrites?.includes(method as 'POST' | 'PUT')) {
      c.refused++;
      return outcome(422, 'the PAS will not take this appointment');
    }
    if (f.unavailable) {
      c.failed++;
      res.writeHead(503, { 'content-type': 'text/html', 'retry-after': '30' });
      return res.end('<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>');
    }
    if (WRITE.has(method) && (f.failNext ?? 0) > 0) {
      f.failNext!--;
      c.failed++;
      return outcome(503, 'the PAS is temporarily unavailable');
    }
    const drop = WRITE.has(method) && (f.dropAfterCommitNext ?? 0) > 0;
    if (drop) f.dropAfterCommitNext!--;
    c.forwarded++;
    const headers = { ...req.headers, host: up.host, 'content-length': String(body.length) };
    const upstreamReq = request({ host: up.hostname, port: up.port, method, path: req.url, headers }, (upRes) => {
      const parts: Buffer[] = [];
      upRes.on('data', (d: Buffer) => parts.push(d));
      upRes.on('end', () => {
        if (drop) {
          // pas-sim has committed the write and answered; the answer never reaches the adapter.
          c.dropped++;
          res.socket?.destroy();
          return;
        }
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        res.end(Buffer.concat(parts));
      });
    });
    upstreamReq.on('error', (e) => outcome(502, `upstream: ${e.message}`));
    upstreamReq.end(body);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(e));
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    set: (ods, f) => faults.set(ods, { ...f }),
    clear: () => faults.clear(),
    seen: (ods) => ({ ...count(ods) }),
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
