/**
 * MLLP framing (`0x0B payload 0x1C 0x0D`), written here rather than taken from `@medplum/hl7`.
 *
 * @medplum/hl7 4.5.2's Hl7Connection buffers every chunk until one *ends* with 0x1C 0x0D, then
 * parses bytes 1..n-2 of the whole buffer as one message. So it has no size bound (a sender can
 * grow the buffer without limit), misses an end block split across packets (0x1C in one chunk,
 * 0x0D in the next), merges two messages that arrive in one chunk, and keeps junk before 0x0B as
 * part of the message. It also parses inside the socket handler and dispatches handlers without
 * waiting, so async replies can go out of order. Those are exactly the cases we must get right,
 * hence this small decoder, which is pure (no sockets) so every case is unit-tested byte by byte.
 */

export const MLLP_START = 0x0b;
export const MLLP_END = 0x1c;
export const MLLP_CR = 0x0d;

/** Wraps one message in a frame. VT and FS are not legal in ER7 and would break the framing, so they are dropped. */
export function frame(message: string): Buffer {
  const body = Buffer.from(message.replace(/[\x0b\x1c]/g, ''), 'utf8');
  const out = Buffer.allocUnsafe(body.length + 3);
  out[0] = MLLP_START;
  body.copy(out, 1);
  out[body.length + 1] = MLLP_END;
  out[body.length + 2] = MLLP_CR;
  return out;
}

export type FrameEvent =
  /** A complete frame's payload (without the framing bytes). */
  | { kind: 'message'; payload: Buffer }
  /**
   * A frame longer than the limit, now fully skipped. `head` is its first bytes, kept so the
   * reply can still echo MSH-10 and address the sender.
   */
  | { kind: 'oversized'; bytes: number; head: Buffer };

/**
 * How much of an oversized message is kept: enough to read its MSH from (and its SCH, usually), and
 * what the adapter archives of it for inspection.
 */
export const OVERSIZED_HEAD_BYTES = 4096;

/**
 * Turns a byte stream into frames. Bytes outside a frame are discarded. A start block inside a
 * frame restarts it: VT never occurs in ER7 text, so it means the sender gave up on the partial
 * frame and began again. The end block is 0x1C; the CR after it is expected but, like any byte
 * outside a frame, simply skipped, so senders that omit it still work.
 */
export class MllpDecoder {
  private state: 'outside' | 'inside' | 'skipping' = 'outside';
  private parts: Buffer[] = [];
  private size = 0;
  private head: Buffer = Buffer.alloc(0);

  constructor(private readonly maxMessageBytes: number) {}

  /** True when a frame has started and not yet ended: a close now would lose it. */
  get inFrame(): boolean {
    return this.state !== 'outside';
  }

  push(chunk: Buffer): FrameEvent[] {
    const out: FrameEvent[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'outside') {
        const start = chunk.indexOf(MLLP_START, i);
        if (start < 0) break;
        this.begin();
        i = start + 1;
        continue;
      }
      const stop = firstOf(chunk, i);
      const piece = chunk.subarray(i, stop < 0 ? chunk.length : stop);
      this.take(piece);
      if (stop < 0) break;
      i = stop + 1;
      if (chunk[stop] === MLLP_START) {
        this.begin();
        continue;
      }
      out.push(
        this.state === 'inside'
          ? { kind: 'message', payload: Buffer.concat(this.parts, this.size) }
          : { kind: 'oversized', bytes: this.size, head: this.head },
      );
      this.reset();
    }
    return out;
  }

  private take(piece: Buffer): void {
    if (piece.length === 0) return;
    if (this.state === 'inside' && this.size + piece.length > this.maxMessageBytes) {
      // Copy the head so the rest of the frame's chunks can be garbage-collected.
      const all = Buffer.concat([...this.parts, piece.subarray(0, OVERSIZED_HEAD_BYTES)]);
      this.head = Buffer.from(all.subarray(0, OVERSIZED_HEAD_BYTES));
      this.parts = [];
      this.state = 'skipping';
    }
    // Chunks are retained by reference: a socket's chunks are not reused, and the limit bounds the total.
    if (this.state === 'inside') this.parts.push(piece);
    this.size += piece.length;
  }

  private begin(): void {
    this.reset();
    this.state = 'inside';
  }

  private reset(): void {
    this.state = 'outside';
    this.parts = [];
    this.size = 0;
    this.head = Buffer.alloc(0);
  }
}

function firstOf(chunk: Buffer, from: number): number {
  const end = chunk.indexOf(MLLP_END, from);
  const start = chunk.indexOf(MLLP_START, from);
  if (end < 0) return start;
  if (start < 0) return end;
  return Math.min(start, end);
}
