/**
 * A fault-injecting TCP proxy, for a dependency that must become unreachable for one process only
 * (the exchange as one adapter sees it, or that adapter's Postgres) while everyone else still
 * reaches it. Bytes pass through untouched until `cut(true)`: then every open connection is reset
 * and every new one is closed as soon as it is accepted (what a dead host or a partition looks like
 * to a client that retries), until `cut(false)`. It counts the connections it cut, so a test can
 * show the fault was really met.
 *
 * With `delayMs` it is also a stand-in for a network: every chunk a client sends reaches the
 * dependency that much later (answers come straight back), so each round trip costs `delayMs`
 * more, as it does from a pod to a managed Postgres or Redis, which on one machine's loopback costs
 * next to nothing. The scale-out benchmark uses it: a worker process whose jobs wait on round trips
 * is bound by how many it has in flight, which is what a second process adds; on loopback it is
 * bound by the machine's cores, which a second process on the same machine cannot add.
 * A constant delay keeps the chunks in order (timers of equal delay fire in the order they were set).
 */
import net from 'node:net';

export interface TcpProxy {
  port: number;
  cut(on: boolean): void;
  /** Connections refused or reset while cut. */
  readonly cuts: number;
  /** Connections passed on to the dependency. */
  readonly accepted: number;
  /**
   * With `delayMs`: how long the chunks passed on since the last call were really held, in ms
   * (timers fire late on a busy machine), a sample of at most DELAY_SAMPLES; the sample is emptied.
   */
  takeDelays(): number[];
  close(): Promise<void>;
}

/** Delays kept for `takeDelays` between two calls (a random sample once there are more). */
const DELAY_SAMPLES = 20_000;

export interface TcpProxyOptions {
  upstreamHost?: string;
  /** Added to every client-to-dependency chunk, so to every round trip, in ms (Node timers: 1 ms or more); 0: none. */
  delayMs?: number;
}

export async function startTcpProxy(upstreamPort: number, { upstreamHost = '127.0.0.1', delayMs = 0 }: TcpProxyOptions = {}): Promise<TcpProxy> {
  let cutting = false;
  let cuts = 0;
  let accepted = 0;
  let delays: number[] = [];
  let delaysSeen = 0;
  const held = (ms: number) => {
    delaysSeen++;
    if (delays.length < DELAY_SAMPLES) delays.push(ms);
    else if (Math.random() < DELAY_SAMPLES / delaysSeen) delays[Math.floor(Math.random() * DELAY_SAMPLES)] = ms;
  };
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (cutting) {
      cuts++;
      client.destroy();
      return;
    }
    accepted++;
    const upstream = net.connect({ host: upstreamHost, port: upstreamPort });
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      open.add(a);
      a.on('close', () => {
        open.delete(a);
        b.destroy();
      });
      a.on('error', () => b.destroy());
      if (delayMs > 0 && a === client) {
        a.on('data', (chunk: Buffer) => {
          const at = performance.now();
          setTimeout(() => {
            held(performance.now() - at);
            if (b.writable) b.write(chunk);
          }, delayMs);
        });
        a.on('end', () => setTimeout(() => b.end(), delayMs));
      } else {
        a.pipe(b);
      }
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut(on: boolean) {
      cutting = on;
      if (!on) return;
      for (const s of open) {
        cuts++;
        s.resetAndDestroy();
      }
    },
    get cuts() {
      return cuts;
    },
    get accepted() {
      return accepted;
    },
    takeDelays() {
      const taken = delays;
      delays = [];
      delaysSeen = 0;
      return taken;
    },
    close: () => new Promise<void>((r) => {
      for (const s of open) s.destroy();
      server.close(() => r());
    }),
  };
}
