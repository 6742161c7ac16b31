import * as hl7 from '@app/hl7';
import type { Hl7Error, MessageHeader, MllpServerOptions, ReadResult, SiuEvent, SiuFields, SiuMessage } from '@app/hl7';

describe('@app/hl7 public surface', () => {
  it('exports the agreed names', () => {
    for (const name of [
      'frame', 'MllpServer', 'sendMllp', 'MllpClient', 'readSiu', 'buildAck', 'readAck', 'buildSiu', 'formatHl7Timestamp', 'parseHl7Timestamp',
    ] as const) {
      expect(typeof hl7[name]).toBe('function');
    }
    expect([hl7.MLLP_START, hl7.MLLP_END, hl7.MLLP_CR]).toEqual([0x0b, 0x1c, 0x0d]);
  });

  it('exports the agreed types (checked by the compiler)', () => {
    const event: SiuEvent = 'S26';
    const error: Hl7Error = { segment: 'SCH', sequence: 1, field: 2, code: '101', text: 't' };
    const header: Partial<MessageHeader> = { controlId: 'C' };
    const result: ReadResult = { ok: false, ack: 'AE', header, error };
    const opts: MllpServerOptions = { port: 0, onMessage: async () => '' };
    const fields: Pick<SiuFields, 'event'> = { event };
    const message: Pick<SiuMessage, 'event'> = { event };
    expect([result.ok, opts.port, fields.event, message.event]).toEqual([false, 0, 'S26', 'S26']);
  });
});
