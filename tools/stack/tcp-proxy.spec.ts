/**
 * The proxy's stand-in for a network (`delayMs`): every round trip through it costs at least the
 * delay, and a client's bytes reach the dependency whole and in order, however they were chunked.
 * Real sockets on loopback; the dependency is an echo server.
 */
import net from 'node:net';
import { TcpProxy, startTcpProxy } from './tcp-proxy';

let echo: net.Server;
let echoPort: number;
const proxies: TcpProxy[] = [];

beforeAll(async () => {
  echo = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  echoPort = (echo.address() as net.AddressInfo).port;
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await new Promise((r) => echo.close(r));
});

/** Connects through `proxy`, sends `chunks` (one write each) and resolves with what came back once `total` bytes did, and the time one round trip took. */
async function roundTrip(proxy: TcpProxy, chunks: string[]): Promise<{ echoed: string; firstMs: number }> {
  const socket = net.connect(proxy.port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  const total = chunks.join('').length;
  let echoed = '';
  const started = performance.now();
  let firstMs = 0;
  const done = new Promise<void>((resolve) => socket.on('data', (b: Buffer) => {
    if (!echoed) firstMs = performance.now() - started;
    echoed += b.toString();
    if (echoed.length >= total) resolve();
  }));
  for (const c of chunks) socket.write(c);
  await done;
  socket.destroy();
  return { echoed, firstMs };
}

it('adds its delay to every round trip', async () => {
  const delayed = await startTcpProxy(echoPort, { delayMs: 40 });
  proxies.push(delayed);
  const { echoed, firstMs } = await roundTrip(delayed, ['ping']);
  expect(echoed).toBe('ping');
  // A lower bound only: how much longer the machine takes is its own business.
  expect(firstMs).toBeGreaterThanOrEqual(39);
  // What it really held the chunk for is reported, once.
  const held = delayed.takeDelays();
  expect(held).toHaveLength(1);
  expect(held[0]).toBeGreaterThanOrEqual(39);
  expect(delayed.takeDelays()).toEqual([]);
});

it('keeps a client\'s bytes in order across many small writes', async () => {
  const delayed = await startTcpProxy(echoPort, { delayMs: 2 });
  proxies.push(delayed);
  const chunks = Array.from({ length: 500 }, (_, i) => `${i};`);
  const { echoed } = await roundTrip(delayed, chunks);
  expect(echoed).toBe(chunks.join(''));
});

it('passes bytes straight through without a delay', async () => {
  const plain = await startTcpProxy(echoPort);
  proxies.push(plain);
  const { echoed } = await roundTrip(plain, ['a', 'b', 'c']);
  expect(echoed).toBe('abc');
  expect(plain.accepted).toBe(1);
});
