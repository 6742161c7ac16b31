/**
 * A fault-injecting TCP proxy, for a dependency that must become unreachable for one process only
 * (the exchange as one adapter sees it, or that adapter's Postgres) while everyone else still
 * reaches it. Bytes pass through untouched until `cut(true)`: then every open connection is reset
 * and every new one is closed as soon as it is accepted (what a dead host or a partition looks like
 * to a client that retries), until `cut(false)`. It counts the connections it cut, so a test can
 * show the fault was really met.
 */
import net from 'node:net';

export interface TcpProxy {
  port: number;
  cut(on: boolean): void;
  /** Connections refused or reset while cut. */
  readonly cuts: number;
  close(): Promise<void>;
}

export async function startTcpProxy(upstreamPort: number, upstreamHost = '127.0.0.1'): Promise<TcpProxy> {
  let cutting = false;
  let cuts = 0;
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (cutting) {
      cuts++;
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: upstreamHost, port: upstreamPort });
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      open.add(a);
      a.on('close', () => {
        open.delete(a);
        b.destroy();
      });
      a.on('error', () => b.destroy());
      a.pipe(b);
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
    close: () => new Promise<void>((r) => {
      for (const s of open) s.destroy();
      server.close(() => r());
    }),
  };
}
