/**
 * MLLP over TCP: the server a trust adapter listens with, and the client the PAS sandbox and tests
 * send with. Framing is ours (see ./framing for why not @medplum/hl7's).
 *
 * The server's promise is that a sender always gets exactly one reply per complete frame, in the
 * order it sent them, and that nothing a sender does (junk, huge frames, vanishing, a failing
 * handler) takes the listener down. It never logs: message content is patient data.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { NOT_STORED_ERROR, buildAck } from './ack';
import { normaliseSegmentEnds } from './er7';
import { FrameEvent, MllpDecoder, frame } from './framing';
import { Hl7ErrorCode, readMessageHeader } from './siu';

export { MLLP_CR, MLLP_END, MLLP_START, MllpDecoder, OVERSIZED_HEAD_BYTES, frame } from './framing';
export type { FrameEvent } from './framing';

export interface MllpServerOptions {
  port: number;
  /** Default '0.0.0.0'. */
  host?: string;
  /**
   * Default 1 MiB. A larger frame is answered with an AR naming the limit and skipped up to its
   * end block; the connection stays usable.
   */
  maxMessageBytes?: number;
  /** Default 300,000. A connection with nothing to read, write or do for this long is closed. */
  idleTimeoutMs?: number;
  /**
   * Default 60,000. How long a frame may take from its start block to its end block. A sender
   * trickling a frame a byte at a time keeps the idle timer from ever firing; past this its
   * connection is closed (once the frames before it are answered) and the partial frame dropped.
   */
  frameTimeoutMs?: number;
  /** Default 100. Connections open at once; one more is closed as soon as it is accepted. */
  maxConnections?: number;
  /** Returns the ACK (ER7) to send back; the server frames it. */
  onMessage: (message: string) => Promise<string>;
  /**
   * A frame over `maxMessageBytes`, skipped: its first OVERSIZED_HEAD_BYTES and its real size.
   * Returns the ACK, as `onMessage` (e.g. after keeping the head for inspection). Without it, or
   * if it fails, the server answers the AR below itself.
   */
  onOversized?: (head: string, bytes: number) => Promise<string>;
  /**
   * Default 30,000. How long close() waits for in-flight handlers before closing anyway, so a
   * hung handler cannot hold up shutdown forever. (An addition to the agreed options.)
   */
  drainTimeoutMs?: number;
}

export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_576;
export const DEFAULT_IDLE_TIMEOUT_MS = 300_000;
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;
export const DEFAULT_FRAME_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_CONNECTIONS = 100;
/**
 * Frames read ahead of the handler per connection before we stop reading from the socket, so a
 * sender that pipelines without waiting for ACKs is slowed by TCP rather than growing our memory.
 */
const MAX_QUEUED_FRAMES = 32;

/** MSH-10 of our own ACKs: unique enough to trace, short enough for ST(20) in v2.5. */
export function newAckControlId(): string {
  return `ACK${randomBytes(8).toString('hex')}`;
}

interface Connection {
  socket: net.Socket;
  decoder: MllpDecoder;
  /** Tail of this connection's handler chain: each frame waits for the one before, so ACKs keep order. */
  tail: Promise<void>;
  queued: number;
  paused: boolean;
  /** Set while a frame is under way: fires when it has taken longer than `frameTimeoutMs`. */
  frameTimer?: NodeJS.Timeout;
}

export class MllpServer {
  private readonly server: net.Server;
  private readonly open = new Set<Connection>();
  private readonly maxMessageBytes: number;
  private readonly idleTimeoutMs: number;
  private readonly frameTimeoutMs: number;
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: MllpServerOptions) {
    this.maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.frameTimeoutMs = opts.frameTimeoutMs ?? DEFAULT_FRAME_TIMEOUT_MS;
    // allowHalfOpen: a sender may send its last frame and shut its side; it still gets the ACKs.
    this.server = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    // Node closes a connection over the cap the moment it is accepted: each one costs a decoder
    // holding up to maxMessageBytes, so an unbounded number would be unbounded memory.
    this.server.maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    // Accept errors (e.g. EMFILE) are transient; an unhandled 'error' would kill the process.
    this.server.on('error', () => undefined);
  }

  /** Resolves with the bound port (useful with port 0). */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(this.opts.port, this.opts.host ?? '0.0.0.0', () => {
        this.server.off('error', onError);
        const addr = this.server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : this.opts.port);
      });
    });
  }

  get connections(): number {
    return this.open.size;
  }

  /** Stops accepting, lets in-flight handlers finish and send their ACKs, then closes every socket. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => {
        if (!this.server.listening) return resolve();
        this.server.close(() => resolve());
      });
      let timer: NodeJS.Timeout | undefined;
      const drainLimit = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS);
      });
      await Promise.race([Promise.all([...this.open].map((c) => c.tail)), drainLimit]);
      clearTimeout(timer);
      await Promise.all([...this.open].map((c) => closeGently(c.socket)));
      await stopped;
    })();
    return this.closing;
  }

  private accept(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const conn: Connection = { socket, decoder: new MllpDecoder(this.maxMessageBytes), tail: Promise.resolve(), queued: 0, paused: false };
    this.open.add(conn);
    socket.setNoDelay(true);
    socket.setTimeout(this.idleTimeoutMs);
    socket.on('timeout', () => {
      // A slow handler is not an idle sender: only close when nothing is waiting on us.
      if (conn.queued === 0) socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => {
      const events = conn.decoder.push(chunk);
      for (const event of events) this.enqueue(conn, event);
      this.timeFrame(conn, events.length > 0);
    });
    socket.on('end', () => {
      // The sender has finished; reply to what it sent, then finish our side.
      void conn.tail.then(() => socket.end());
    });
    // A vanished or reset sender only loses its partial frame; the error must be handled to not crash.
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      clearTimeout(conn.frameTimer);
      this.open.delete(conn);
    });
  }

  /**
   * Starts the deadline of a frame under way, once per frame (`ended`: a frame ended in the chunk
   * just read, so one under way now is a new one). A frame still unfinished at its deadline ends
   * the connection: no more is read, what came before is answered, then it is closed.
   */
  private timeFrame(conn: Connection, ended: boolean): void {
    if (conn.frameTimer && (ended || !conn.decoder.inFrame)) {
      clearTimeout(conn.frameTimer);
      conn.frameTimer = undefined;
    }
    if (conn.frameTimer || !conn.decoder.inFrame) return;
    const expire = (): void => {
      // Not reading because our handler is behind (see MAX_QUEUED_FRAMES) is our delay, not the sender's.
      if (conn.paused) {
        conn.frameTimer = setTimeout(expire, this.frameTimeoutMs).unref();
        return;
      }
      conn.socket.pause();
      conn.socket.removeAllListeners('data');
      void conn.tail.then(() => conn.socket.destroy());
    };
    conn.frameTimer = setTimeout(expire, this.frameTimeoutMs).unref();
  }

  private enqueue(conn: Connection, event: FrameEvent): void {
    // After close() starts, new frames get no reply, so the sender resends them elsewhere.
    if (this.closing) return;
    conn.queued++;
    if (conn.queued >= MAX_QUEUED_FRAMES && !conn.paused) {
      conn.paused = true;
      conn.socket.pause();
    }
    conn.tail = conn.tail.then(async () => {
      try {
        const ack = await this.reply(event);
        if (!conn.socket.destroyed && conn.socket.writable) conn.socket.write(frame(ack));
      } catch {
        // Unreachable by design (reply never rejects), but a rejected tail would silently skip
        // every later frame on this connection, and surface as an unhandled rejection.
      } finally {
        conn.queued--;
        if (conn.paused && conn.queued < MAX_QUEUED_FRAMES / 2) {
          conn.paused = false;
          conn.socket.resume();
        }
      }
    });
  }

  /** Never rejects: whatever happens, the sender gets an ACK. */
  private async reply(event: FrameEvent): Promise<string> {
    if (event.kind === 'oversized') {
      if (this.opts.onOversized) {
        try {
          const ack = await this.opts.onOversized(normaliseSegmentEnds(event.head.toString('utf8')), event.bytes);
          if (typeof ack === 'string' && ack !== '') return ack;
        } catch {
          // The server's own AR below: the sender still hears why.
        }
      }
      return buildAck({
        header: readMessageHeader(event.head.toString('utf8')),
        code: 'AR',
        error: {
          segment: '',
          sequence: 0,
          field: 0,
          code: Hl7ErrorCode.InternalError,
          text: `Message exceeds the ${this.maxMessageBytes}-byte limit`,
        },
        now: new Date(),
        ackControlId: newAckControlId(),
      });
    }
    const message = normaliseSegmentEnds(event.payload.toString('utf8'));
    try {
      const ack = await this.opts.onMessage(message);
      if (typeof ack !== 'string' || ack === '') throw new TypeError('onMessage returned no ACK');
      return ack;
    } catch {
      // A failing handler is our fault, not the content's: AR, which the sender resends (see
      // NOT_STORED_ERROR). The handler's error is not echoed: it may quote the message.
      return buildAck({
        header: readMessageHeader(message),
        code: 'AR',
        error: NOT_STORED_ERROR,
        now: new Date(),
        ackControlId: newAckControlId(),
      });
    }
  }
}

/** How long a socket may take to flush its last ACK before it is cut off. */
const FLUSH_TIMEOUT_MS = 2000;

/** Flushes what we wrote (so the last ACK is not lost), then closes; a peer that stops reading is cut off. */
function closeGently(socket: net.Socket): Promise<void> {
  if (socket.closed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => socket.destroy(), FLUSH_TIMEOUT_MS);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.end(() => socket.destroy());
  });
}

export interface MllpClientOptions {
  /** Per message: connecting plus waiting for the ACK. Default 10,000. */
  timeoutMs?: number;
  /** Largest ACK accepted. Default 1 MiB. */
  maxMessageBytes?: number;
}

export class MllpTimeoutError extends Error {
  constructor(ms: number) {
    super(`no MLLP reply within ${ms} ms`);
    this.name = 'MllpTimeoutError';
  }
}

interface Waiter {
  resolve: (ack: string) => void;
  reject: (err: Error) => void;
}

/**
 * A persistent MLLP connection that sends one message at a time and waits for its ACK. A dropped
 * connection is reopened on the next send. A message whose ACK did not arrive is not resent:
 * the caller decides, because only it knows whether the receiver de-duplicates on MSH-10.
 */
export class MllpClient {
  private socket: net.Socket | undefined;
  private connecting: Promise<net.Socket> | undefined;
  private pending: net.Socket | undefined;
  private decoder: MllpDecoder;
  private waiter: Waiter | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly timeoutMs: number;
  private readonly maxMessageBytes: number;

  constructor(
    private readonly host: string,
    private readonly port: number,
    opts: MllpClientOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.decoder = new MllpDecoder(this.maxMessageBytes);
  }

  /** Sends one message and resolves with the reply's text (unframed). Sends are queued, never interleaved. */
  send(message: string): Promise<string> {
    const result = this.queue.then(() => this.sendNow(message));
    this.queue = result.catch(() => undefined);
    return result;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    const socket = this.socket;
    this.drop();
    if (socket) await new Promise<void>((resolve) => (socket.closed ? resolve() : socket.once('close', () => resolve())));
  }

  private async sendNow(message: string): Promise<string> {
    if (this.closed) throw new Error('MllpClient is closed');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new MllpTimeoutError(this.timeoutMs)), this.timeoutMs);
    });
    try {
      const socket = await Promise.race([this.connect(), timeout]);
      const ack = new Promise<string>((resolve, reject) => {
        this.waiter = { resolve, reject };
      });
      socket.write(frame(message));
      return await Promise.race([ack, timeout]);
    } catch (err) {
      // After a timeout or error the stream may be out of step (a late ACK would be taken for
      // the next message's), so the connection is dropped and the next send starts clean.
      this.drop();
      throw err;
    } finally {
      this.waiter = undefined;
      clearTimeout(timer);
    }
  }

  private connect(): Promise<net.Socket> {
    if (this.socket && !this.socket.destroyed && this.socket.writable) return Promise.resolve(this.socket);
    if (this.connecting) return this.connecting;
    const socket = net.connect({ host: this.host, port: this.port });
    this.pending = socket;
    this.decoder = new MllpDecoder(this.maxMessageBytes);
    socket.setNoDelay(true);
    const attempt = new Promise<net.Socket>((resolve, reject) => {
      const failed = (err: Error): void => {
        socket.off('connect', connected);
        if (this.pending === socket) this.pending = undefined;
        if (this.connecting === attempt) this.connecting = undefined;
        socket.destroy();
        reject(err);
      };
      const onError = (err: Error): void => failed(err);
      const onClose = (): void => failed(new Error('MLLP connection closed while connecting'));
      const connected = (): void => {
        socket.off('error', onError);
        socket.off('close', onClose);
        if (this.connecting === attempt) this.connecting = undefined;
        if (this.pending !== socket) {
          // Given up on (timed out or closed) while connecting.
          socket.destroy();
          reject(new Error('MLLP connection abandoned'));
          return;
        }
        this.pending = undefined;
        this.socket = socket;
        socket.on('data', (chunk: Buffer) => this.onData(socket, chunk));
        socket.on('error', (err) => this.lost(socket, err));
        socket.on('end', () => this.lost(socket, new Error('MLLP connection closed by server')));
        socket.on('close', () => this.lost(socket, new Error('MLLP connection closed')));
        resolve(socket);
      };
      socket.once('error', onError);
      socket.once('close', onClose);
      socket.once('connect', connected);
    });
    this.connecting = attempt;
    // Whoever gave up on this attempt is no longer listening; its failure is not news.
    attempt.catch(() => undefined);
    return attempt;
  }

  private onData(socket: net.Socket, chunk: Buffer): void {
    if (socket !== this.socket) return;
    for (const event of this.decoder.push(chunk)) {
      const waiter = this.waiter;
      // A reply with no one waiting (e.g. a server's second reply) is dropped rather than
      // handed to the next message.
      if (!waiter) continue;
      this.waiter = undefined;
      if (event.kind === 'message') waiter.resolve(event.payload.toString('utf8'));
      else waiter.reject(new Error(`MLLP reply exceeds ${this.maxMessageBytes} bytes`));
    }
  }

  private lost(socket: net.Socket, err: Error): void {
    if (socket !== this.socket) return;
    this.drop();
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(err);
  }

  private drop(): void {
    for (const socket of [this.socket, this.pending]) if (socket && !socket.destroyed) socket.destroy();
    this.socket = undefined;
    this.pending = undefined;
    this.connecting = undefined;
  }
}

/** Opens a connection, sends one message, returns the ACK text (unframed) and closes. */
export async function sendMllp(host: string, port: number, message: string, opts?: { timeoutMs?: number }): Promise<string> {
  const client = new MllpClient(host, port, opts);
  try {
    return await client.send(message);
  } finally {
    await client.close();
  }
}
