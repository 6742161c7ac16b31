/**
 * `failUnlessSent` against real sockets: a request whose TLS handshake never completes was never
 * written; one written to a server that never answers was; a fetch undici never saw (a stub) is
 * not known either way, so its error is passed on as it is.
 */
import { AddressInfo, Server, Socket, createServer } from 'node:net';
import { REQUEST_ID_HEADER, RequestNotSentError, failUnlessSent } from './request-sent';

let server: Server;
let port: number;
const accepted: Socket[] = [];
const seen: string[] = [];
beforeAll(async () => {
  // Takes every connection, keeps what it is sent, never answers (no TLS hello, no HTTP answer).
  server = createServer((s) => {
    accepted.push(s);
    s.on('data', (d: Buffer) => seen.push(d.toString('latin1')));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => {
  for (const s of accepted) s.destroy();
  server.close();
});

const post = (url: string) => failUnlessSent((headers) => fetch(url, { method: 'POST', body: '{}', headers, signal: AbortSignal.timeout(300) }));

describe('failUnlessSent', () => {
  it('says "not sent" when the connection was never made (the TLS handshake timed out)', async () => {
    const e = await post(`https://127.0.0.1:${port}/x`).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(RequestNotSentError);
    expect((e as Error).message).toMatch(/no connection made, nothing sent: .*timeout/);
    expect((e as Error).cause).toMatchObject({ name: 'TimeoutError' });
  });

  it('passes the timeout on as it is when the request was written, with the id it carried', async () => {
    seen.length = 0;
    const e = await post(`http://127.0.0.1:${port}/x`).catch((err: unknown) => err);
    expect(e).not.toBeInstanceOf(RequestNotSentError);
    expect(e).toMatchObject({ name: 'TimeoutError' });
    expect(seen.join('')).toMatch(new RegExp(`^POST /x HTTP/1.1\\r\\n[^]*${REQUEST_ID_HEADER}: [0-9a-f-]{36}\\r\\n`, 'm'));
  });

  it('passes on the error of a call undici never saw', async () => {
    const thrown = new Error('stubbed');
    await expect(failUnlessSent(async () => { throw thrown; })).rejects.toBe(thrown);
  });

  it('returns what the call returns', async () => {
    await expect(failUnlessSent(async (h) => Object.keys(h))).resolves.toEqual([REQUEST_ID_HEADER]);
  });
});
