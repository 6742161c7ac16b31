import fc from 'fast-check';
import { FrameEvent, MLLP_CR, MLLP_END, MLLP_START, MllpDecoder, frame } from './framing';

const text = (events: FrameEvent[]): string[] =>
  events.map((e) => (e.kind === 'message' ? e.payload.toString('utf8') : `<oversized ${e.bytes}: ${e.head.toString('utf8').slice(0, 10)}>`));

function feed(decoder: MllpDecoder, ...chunks: Array<Buffer | string>): string[] {
  return chunks.flatMap((c) => text(decoder.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : c)));
}

describe('frame', () => {
  it('wraps a message in VT … FS CR', () => {
    expect([...frame('MSH|x')]).toEqual([MLLP_START, ...Buffer.from('MSH|x'), MLLP_END, MLLP_CR]);
  });

  it('encodes UTF-8 and drops framing bytes that would end the frame early', () => {
    expect(frame('£\x1c\x0b').toString('utf8')).toBe('\x0b£\x1c\r');
  });
});

describe('MllpDecoder', () => {
  it('yields each message of several in one chunk, in order', () => {
    const d = new MllpDecoder(1000);
    expect(feed(d, Buffer.concat([frame('one'), frame('two'), frame('three')]))).toEqual(['one', 'two', 'three']);
  });

  it('reassembles a frame split at every byte, including between FS and CR', () => {
    const d = new MllpDecoder(1000);
    const bytes = Buffer.concat([frame('MSH|^~\\&|split'), frame('next')]);
    const out: string[] = [];
    for (const b of bytes) out.push(...feed(d, Buffer.from([b])));
    expect(out).toEqual(['MSH|^~\\&|split', 'next']);
  });

  it('discards bytes outside frames', () => {
    const d = new MllpDecoder(1000);
    expect(feed(d, 'junk\r\n', Buffer.concat([Buffer.from('more junk'), frame('a')]), 'tail', frame('b'))).toEqual(['a', 'b']);
  });

  it('accepts a missing CR after the end block', () => {
    const d = new MllpDecoder(1000);
    expect(feed(d, '\x0bone\x1c\x0btwo\x1c')).toEqual(['one', 'two']);
  });

  it('restarts on a start block inside a frame (sender gave up and resent)', () => {
    const d = new MllpDecoder(1000);
    expect(feed(d, '\x0bpartial', '\x0bwhole\x1c\r')).toEqual(['whole']);
  });

  it('reports a frame over the limit once its end arrives, keeping its head, then carries on', () => {
    const d = new MllpDecoder(10);
    expect(d.inFrame).toBe(false);
    expect(feed(d, '\x0bMSH|0123456789')).toEqual([]);
    expect(d.inFrame).toBe(true);
    expect(feed(d, 'abcdef', 'ghi\x1c\r', frame('ok'))).toEqual(['<oversized 23: MSH|012345>', 'ok']);
    expect(d.inFrame).toBe(false);
  });

  it('allows exactly the limit', () => {
    const d = new MllpDecoder(5);
    expect(feed(d, frame('12345'), frame('123456'))).toEqual(['12345', '<oversized 6: 123456>']);
  });

  it('does not hold more than the limit (plus a small head) while skipping', () => {
    const d = new MllpDecoder(1024);
    d.push(Buffer.from([MLLP_START]));
    for (let i = 0; i < 100; i++) d.push(Buffer.alloc(64 * 1024, 0x41));
    const held = (d as unknown as { parts: Buffer[]; head: Buffer }).parts.reduce((n, b) => n + b.length, 0);
    expect(held).toBe(0);
    expect((d as unknown as { head: Buffer }).head.length).toBeLessThanOrEqual(4096);
    expect(text(d.push(Buffer.from([MLLP_END, MLLP_CR])))[0]).toMatch(/^<oversized 6553600/);
  });

  it('yields the same messages however the stream is cut', () => {
    const message = fc.string({ unit: 'grapheme', maxLength: 200 }).map((s) => s.replace(/[\x0b\x1c]/g, ''));
    fc.assert(
      fc.property(fc.array(message, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 20 }), (messages, cuts) => {
        const stream = Buffer.concat(messages.map(frame));
        const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const d = new MllpDecoder(1 << 20);
        const out: string[] = [];
        let from = 0;
        for (const p of [...points, stream.length]) {
          out.push(...text(d.push(stream.subarray(from, p))));
          from = p;
        }
        expect(out).toEqual(messages);
      }),
      { numRuns: 500 },
    );
  });
});
