import net from 'node:net';
import { buildAck, readAck } from './ack';
import { MllpDecoder, frame } from './framing';
import { MllpClient, MllpServer, MllpServerOptions, MllpTimeoutError, sendMllp } from './mllp';
import { readSiu } from './siu';
import { acceptanceSiu } from './testing/acceptance-siu';

const HOST = '127.0.0.1';
// Real time for the test's own waits, even while a test runs the server's timers on jest's clock.
const realSetTimeout = setTimeout;
const sleep = (ms: number): Promise<void> => new Promise((r) => realSetTimeout(r, ms));

const msg = (id: string, sep = '\r'): string =>
  ['MSH|^~\\&|PAS|RQM|SLOTX|ICS|20261120091530+0000||SIU^S12^SIU_S12|' + id + '|P|2.5.1', 'SCH||F1', 'AIS|1||330-NEW'].join(sep);

/** An ACK that carries the received message's control id and segment names, so tests can see what arrived. */
function echoAck(message: string): string {
  const id = message.split('\r')[0]?.split('|')[9] ?? '';
  const names = message.split('\r').map((s) => s.slice(0, 3)).join(',');
  return buildAck({ header: { controlId: id }, code: 'AA', textMessage: names, now: new Date(), ackControlId: 'T' });
}

interface Deferred<T> { promise: Promise<T>; resolve: (v: T) => void }
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A bare TCP client, for the things a well-behaved client never does. */
class RawClient {
  readonly acks: string[] = [];
  closed = false;
  private readonly decoder = new MllpDecoder(1 << 20);
  private waiters: Array<() => void> = [];
  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (c: Buffer) => {
      for (const e of this.decoder.push(c)) if (e.kind === 'message') this.acks.push(e.payload.toString('utf8'));
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }
  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: HOST, port }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }
  write(data: Buffer | string): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(data, (err) => (err ? reject(err) : resolve())));
  }
  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    w.forEach((f) => f());
  }
  async until(cond: () => boolean, ms = 3000): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error('timed out waiting');
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), sleep(20)]);
    }
  }
  async ack(n: number): Promise<string> {
    await this.until(() => this.acks.length > n);
    return this.acks[n] as string;
  }
  destroy(): void {
    this.socket.destroy();
  }
}

describe('MllpServer and MllpClient over real TCP', () => {
  const servers: MllpServer[] = [];
  const clients: Array<RawClient | MllpClient> = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c instanceof RawClient ? c.destroy() : await c.close();
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  async function start(opts: Partial<MllpServerOptions> = {}): Promise<{ server: MllpServer; port: number; received: string[] }> {
    const received: string[] = [];
    const server = new MllpServer({
      port: 0,
      host: HOST,
      onMessage: async (m) => {
        received.push(m);
        return echoAck(m);
      },
      ...opts,
    });
    servers.push(server);
    return { server, port: await server.listen(), received };
  }
  async function raw(port: number): Promise<RawClient> {
    const c = await RawClient.connect(port);
    clients.push(c);
    return c;
  }

  it('binds an ephemeral port and answers sendMllp with the handler\'s ACK', async () => {
    const { port } = await start();
    expect(port).toBeGreaterThan(0);
    const ack = await sendMllp(HOST, port, msg('C1'));
    expect(readAck(ack)).toEqual({ code: 'AA', controlId: 'C1', text: 'MSH,SCH,AIS' });
  });

  it('answers pipelined messages on one connection in order, even when later ones finish first', async () => {
    const delays = [120, 60, 0, 30, 10];
    let i = 0;
    const { port } = await start({
      onMessage: async (m) => {
        await sleep(delays[i++] ?? 0);
        return echoAck(m);
      },
    });
    const c = await raw(port);
    await c.write(Buffer.concat(delays.map((_, n) => frame(msg(`P${n}`)))));
    await c.ack(delays.length - 1);
    expect(c.acks.map((a) => readAck(a)?.controlId)).toEqual(['P0', 'P1', 'P2', 'P3', 'P4']);
  });

  it('sends several messages in order over one persistent MllpClient connection', async () => {
    const { server, port, received } = await start();
    const client = new MllpClient(HOST, port);
    clients.push(client);
    const acks = await Promise.all(['A', 'B', 'C', 'D'].map((id) => client.send(msg(id))));
    expect(acks.map((a) => readAck(a)?.controlId)).toEqual(['A', 'B', 'C', 'D']);
    expect(received.map((m) => m.split('|')[9])).toEqual(['A', 'B', 'C', 'D']);
    expect(server.connections).toBe(1);
  });

  it('reassembles a message written one byte at a time', async () => {
    const { port, received } = await start();
    const c = await raw(port);
    const bytes = Buffer.concat([frame(msg('BYTES')), frame(msg('AFTER'))]);
    for (const b of bytes) {
      await c.write(Buffer.from([b]));
      if (b === 0x1c || b % 7 === 0) await sleep(1);
    }
    await c.ack(1);
    expect(received).toEqual([msg('BYTES'), msg('AFTER')]);
    expect(c.acks.map((a) => readAck(a)?.controlId)).toEqual(['BYTES', 'AFTER']);
  });

  it.each([
    ['LF', '\n'],
    ['CRLF', '\r\n'],
  ])('normalises %s segment ends to CR before the handler', async (_, sep) => {
    const { port, received } = await start();
    const ack = await sendMllp(HOST, port, msg('NL', sep) + sep);
    expect(readAck(ack)?.code).toBe('AA');
    expect(received[0]).toBe(msg('NL') + '\r');
  });

  it('discards junk before the start block', async () => {
    const { port, received } = await start();
    const c = await raw(port);
    await c.write(Buffer.concat([Buffer.from('GET / HTTP/1.1\r\n\r\n\x00\xff', 'latin1'), frame(msg('J1'))]));
    expect(readAck(await c.ack(0))?.controlId).toBe('J1');
    expect(received).toEqual([msg('J1')]);
  });

  it('answers an oversized frame with AR naming the limit, and the connection still works', async () => {
    let calls = 0;
    const { port } = await start({
      maxMessageBytes: 2000,
      onMessage: async (m) => {
        calls++;
        return echoAck(m);
      },
    });
    const c = await raw(port);
    await c.write(frame(msg('BIG') + '\rNTE|' + 'x'.repeat(5000)));
    await c.write(frame(msg('SMALL')));
    const ar = readAck(await c.ack(0));
    expect(ar?.code).toBe('AR');
    expect(ar?.controlId).toBe('BIG');
    expect(ar?.text).toContain('2000');
    expect(c.acks[0]).toMatch(/\rERR\|\|\|207\^[^|]*2000[^|]*\^HL70357\|E/);
    expect(readAck(await c.ack(1))).toMatchObject({ code: 'AA', controlId: 'SMALL' });
    expect(calls).toBe(1);
  });

  it('hands an oversized frame\'s head and real size to onOversized for its ACK, and answers its own AR if that fails', async () => {
    const seen: Array<{ head: string; bytes: number }> = [];
    const { port } = await start({
      maxMessageBytes: 2000,
      onOversized: async (head, bytes) => {
        seen.push({ head, bytes });
        if (seen.length === 2) throw new Error('could not keep it');
        return echoAck(head);
      },
    });
    const c = await raw(port);
    const big = msg('BIG') + '\rNTE|' + 'x'.repeat(9000);
    await c.write(frame(big));
    await c.write(frame(msg('BIG2') + '\rNTE|' + 'x'.repeat(9000)));
    expect(readAck(await c.ack(0))).toMatchObject({ code: 'AA', controlId: 'BIG' });
    expect(readAck(await c.ack(1))).toMatchObject({ code: 'AR', controlId: 'BIG2' });
    expect(seen[0]).toEqual({ head: big.slice(0, 4096), bytes: Buffer.byteLength(big) });
  });

  it('survives a client vanishing mid-frame; only that frame is lost', async () => {
    const { server, port, received } = await start();
    const c = await raw(port);
    await c.write(frame(msg('WHOLE')));
    await c.ack(0);
    await c.write(Buffer.concat([Buffer.from([0x0b]), Buffer.from(msg('HALF').slice(0, 30))]));
    await sleep(20);
    c.socket.resetAndDestroy();
    await c.until(() => c.closed);
    await waitFor(() => server.connections === 0);
    expect(readAck(await sendMllp(HOST, port, msg('NEXT')))?.controlId).toBe('NEXT');
    expect(received.map((m) => m.split('|')[9])).toEqual(['WHOLE', 'NEXT']);
  });

  it('answers AR (207, echoing MSH-10, asking for a resend) when the handler rejects or throws, and carries on', async () => {
    let n = 0;
    const { port } = await start({
      onMessage: (m) => {
        n++;
        if (n === 1) return Promise.reject(new Error('database down; patient 9990000018'));
        if (n === 2) throw new Error('sync throw');
        return Promise.resolve(echoAck(m));
      },
    });
    const client = new MllpClient(HOST, port);
    clients.push(client);
    const first = await client.send(msg('R1'));
    expect(readAck(first)).toEqual({ code: 'AR', controlId: 'R1', text: 'Message could not be stored; send it again' });
    expect(first).toContain('|207^');
    expect(first).not.toContain('9990000018');
    expect(readAck(await client.send(msg('R2')))?.code).toBe('AR');
    expect(readAck(await client.send(msg('R3')))?.code).toBe('AA');
  });

  it('closes idle connections, but not one whose handler is still working', async () => {
    const gate = deferred<void>();
    const entered = deferred<void>();
    const { server, port } = await start({
      idleTimeoutMs: 100,
      onMessage: async (m) => {
        entered.resolve();
        await gate.promise;
        return echoAck(m);
      },
    });
    const busy = await raw(port);
    await busy.write(frame(msg('SLOW')));
    await entered.promise;
    // A connection opened after the busy one went quiet is closed for idling while the busy one's
    // handler is still at work: it outlives its own idle timeout, unanswered and open.
    const idle = await raw(port);
    await idle.until(() => idle.closed, 5000);
    expect(busy.closed).toBe(false);
    expect(busy.acks).toEqual([]);
    gate.resolve();
    expect(readAck(await busy.ack(0))?.controlId).toBe('SLOW');
    // Answered and then quiet, it is closed too.
    await busy.until(() => busy.closed, 5000);
    await waitFor(() => server.connections === 0);
  });

  it('closes a connection whose frame is not finished within frameTimeoutMs, though it trickles bytes faster than the idle timeout; frames before it are answered', async () => {
    const { server, port, received } = await start({ idleTimeoutMs: 5000, frameTimeoutMs: 300 });
    const slow = await raw(port);
    const whole = frame(msg('DONE'));
    const trickled = frame(msg('SLOWLORIS'));
    await slow.write(Buffer.concat([whole, trickled.subarray(0, 10)]));
    expect(readAck(await slow.ack(0))?.controlId).toBe('DONE');
    let sent = 10;
    // A byte every 50 ms: the idle timer never fires, and the frame never ends.
    while (!slow.closed && sent < trickled.length - 1) {
      await slow.write(trickled.subarray(sent, sent + 1)).catch(() => undefined);
      sent++;
      await sleep(50);
    }
    expect(slow.closed).toBe(true);
    expect(sent).toBeLessThan(30);
    expect(received.map((m) => m.split('|')[9])).toEqual(['DONE']);
    await waitFor(() => server.connections === 0);
    // A sender whose frames each arrive in time is not cut off, however long it stays.
    const steady = await raw(port);
    for (let i = 0; i < 4; i++) {
      const f = frame(msg(`S${i}`));
      await steady.write(f.subarray(0, 20));
      await sleep(150);
      await steady.write(f.subarray(20));
      expect(readAck(await steady.ack(i))?.controlId).toBe(`S${i}`);
    }
    expect(steady.closed).toBe(false);
  });

  it('closes connections over maxConnections as they are accepted; the ones open are served', async () => {
    const { server, port } = await start({ maxConnections: 2 });
    const [a, b] = [await raw(port), await raw(port)];
    await waitFor(() => server.connections === 2);
    const extra = await raw(port);
    await extra.until(() => extra.closed, 3000);
    expect(extra.closed).toBe(true);
    await a.write(frame(msg('A')));
    await b.write(frame(msg('B')));
    expect(readAck(await a.ack(0))?.controlId).toBe('A');
    expect(readAck(await b.ack(0))?.controlId).toBe('B');
    // A place freed is a place for the next.
    a.destroy();
    await waitFor(() => server.connections === 1);
    const next = await raw(port);
    await next.write(frame(msg('N')));
    expect(readAck(await next.ack(0))?.controlId).toBe('N');
  });

  it('close() stops accepting, waits for the in-flight handler to reply, then closes sockets', async () => {
    const gate = deferred<void>();
    const entered = deferred<void>();
    const { server, port } = await start({
      onMessage: async (m) => {
        entered.resolve();
        await gate.promise;
        return echoAck(m);
      },
    });
    const c = await raw(port);
    await c.write(frame(msg('INFLIGHT')));
    await entered.promise;
    let closed = false;
    const closing = server.close().then(() => (closed = true));
    await sleep(50);
    expect(closed).toBe(false);
    await expect(RawClient.connect(port)).rejects.toThrow();
    gate.resolve();
    await closing;
    expect(server.connections).toBe(0);
    // The ACK went out before the server's FIN, so the client has it by the time it sees the close.
    await c.until(() => c.closed);
    expect(c.acks.map((a) => readAck(a)?.controlId)).toEqual(['INFLIGHT']);
  });

  it('close() gives up on a handler that never finishes after drainTimeoutMs', async () => {
    const entered = deferred<void>();
    const { server, port } = await start({ drainTimeoutMs: 100, onMessage: () => {
        entered.resolve();
        return new Promise<string>(() => undefined);
      },
    });
    const c = await raw(port);
    await c.write(frame(msg('HUNG')));
    await entered.promise;
    // The drain limit runs on jest's clock; sockets and the test's own waits stay real.
    jest.useFakeTimers({ doNotFake: ['Date', 'hrtime', 'nextTick', 'performance', 'queueMicrotask', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval'] });
    try {
      let closed = false;
      const closing = server.close().then(() => (closed = true));
      await jest.advanceTimersByTimeAsync(99);
      await sleep(20);
      expect(closed).toBe(false); // still waiting for the handler
      expect(c.closed).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      await closing;
    } finally {
      jest.useRealTimers();
    }
    await c.until(() => c.closed);
    expect(c.acks).toEqual([]);
  });

  it('still replies to a client that half-closes after sending', async () => {
    const { port } = await start();
    const c = await raw(port);
    c.socket.end(frame(msg('HALFCLOSE')));
    expect(readAck(await c.ack(0))?.controlId).toBe('HALFCLOSE');
    await c.until(() => c.closed);
  });

  it('MllpClient reconnects after the server drops the connection', async () => {
    const { server, port } = await start({ idleTimeoutMs: 50 });
    const client = new MllpClient(HOST, port);
    clients.push(client);
    expect(readAck(await client.send(msg('BEFORE')))?.code).toBe('AA');
    await waitFor(() => server.connections === 0);
    expect(readAck(await client.send(msg('AFTER')))?.controlId).toBe('AFTER');
  });

  it('MllpClient times out when no ACK comes, and the next send starts on a clean connection', async () => {
    let n = 0;
    const { port } = await start({
      onMessage: async (m) => {
        if (++n === 1) await sleep(400);
        return echoAck(m);
      },
    });
    const client = new MllpClient(HOST, port, { timeoutMs: 100 });
    clients.push(client);
    await expect(client.send(msg('LATE'))).rejects.toBeInstanceOf(MllpTimeoutError);
    expect(readAck(await client.send(msg('FRESH')))?.controlId).toBe('FRESH');
  });

  it('sendMllp rejects when nothing listens', async () => {
    const { server, port } = await start();
    await server.close();
    await expect(sendMllp(HOST, port, msg('X'), { timeoutMs: 1000 })).rejects.toThrow();
  });

  it('listen() rejects when the port is taken', async () => {
    const { port } = await start();
    const second = new MllpServer({ port, host: HOST, onMessage: async () => 'x' });
    await expect(second.listen()).rejects.toThrow(/EADDRINUSE/);
  });

  it('keeps serving after a stream of random bytes (which may contain stray frames)', async () => {
    const { server, port } = await start({ maxMessageBytes: 512 });
    const c = await raw(port);
    const noise = Buffer.alloc(64 * 1024);
    let seed = 42;
    for (let i = 0; i < noise.length; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      // Bias towards the framing bytes so frames really start and end inside the noise.
      const r = seed % 50;
      noise[i] = r === 0 ? 0x0b : r === 1 ? 0x1c : r === 2 ? 0x0d : (seed >> 16) & 0xff;
    }
    for (let i = 0; i < noise.length; i += 997) await c.write(noise.subarray(i, i + 997));
    // Close any frame the noise left open; then a real message must still get its own ACK, last.
    await c.write(Buffer.from([0x1c, 0x0d]));
    await c.write(frame(msg('AFTERNOISE')));
    await c.until(() => c.acks.some((a) => readAck(a)?.controlId === 'AFTERNOISE'), 5000);
    expect(c.acks.length).toBeGreaterThan(10);
    expect(readAck(c.acks[c.acks.length - 1] as string)?.controlId).toBe('AFTERNOISE');
    expect(readAck(await sendMllp(HOST, port, msg('NEWCONN')))?.controlId).toBe('NEWCONN');
    expect(server.connections).toBeGreaterThanOrEqual(1);
  });

  it('carries the acceptance suite\'s exact SIU to readSiu and returns its AA', async () => {
    const { port } = await start({
      onMessage: async (m) => {
        const r = readSiu(m);
        return r.ok
          ? buildAck({ header: r.message.header, code: 'AA', now: new Date(), ackControlId: 'A1' })
          : buildAck({ header: r.header, code: r.ack, error: r.error, now: new Date(), ackControlId: 'A1' });
      },
    });
    const siu = acceptanceSiu({
      event: 'S15', controlId: 'MACC', ods: 'RQM', site: 'RQM01', placerId: 'P1', fillerId: 'F1', start: new Date('2026-11-26T14:00:00Z'),
      minutes: 20, clinic: '330-NEW', nhs: '9990000018',
    });
    expect(readAck(await sendMllp(HOST, port, siu))).toEqual({ code: 'AA', controlId: 'MACC', text: '' });
  });
});

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}
