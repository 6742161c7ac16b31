import * as hl7 from '@app/hl7';
import type { Hl7Error, MessageHeader, ReadResult, SiuEvent, SiuFields, SiuMessage } from '@app/hl7';

describe('@app/hl7 public surface', () => {
  it('exports the agreed names', () => {
    for (const name of [
      'frame', 'MllpServer', 'sendMllp', 'MllpClient', 'readSiu', 'buildAck', 'readAck', 'buildSiu', 'formatHl7Timestamp', 'parseHl7Timestamp',
    ] as const) {
      expect(typeof hl7[name]).toBe('function');
    }
    expect([hl7.MLLP_START, hl7.MLLP_END, hl7.MLLP_CR]).toEqual([0x0b, 0x1c, 0x0d]);
  });

  it("carries the adapter's whole path through the package entry alone (its types checked by the compiler): frame, unframe, read, refuse, ACK", () => {
    const now = new Date('2026-11-20T09:15:30Z');
    const fields: SiuFields = {
      event: 'S15', controlId: 'C1', sendingFacility: 'RQM', fillerId: 'F456', start: new Date('2026-11-26T14:00:00Z'), minutes: 20, clinic: '330-NEW', siteOds: 'RQM01', now,
    };
    const [unframed] = new hl7.MllpDecoder(1 << 20).push(hl7.frame(hl7.buildSiu(fields)));
    if (unframed.kind !== 'message') throw new Error(`expected a message, got ${unframed.kind}`);
    const read: ReadResult = hl7.readSiu(unframed.payload.toString('utf8'));
    if (!read.ok) throw new Error(`expected the built SIU to read, got ${read.ack}`);
    const message: SiuMessage = read.message;
    const event: SiuEvent = message.event;
    const header: MessageHeader = message.header;
    expect({ event, controlId: header.controlId, filler: message.fillerAppointmentId, start: message.start }).toEqual({ event: 'S15', controlId: 'C1', filler: 'F456', start: fields.start });

    // Duration in hours that is not a number: refused, located, and answered AE with the control id.
    const refused: ReadResult = hl7.readSiu(hl7.buildSiu({ ...fields, controlId: 'C2' }).replace('|20|MIN\rAIL', '|lots|MIN\rAIL'));
    if (refused.ok) throw new Error('expected a refusal');
    const error: Hl7Error = refused.error;
    expect({ segment: error.segment, field: error.field }).toEqual({ segment: 'AIS', field: 7 });
    const ack = hl7.buildAck({ header: refused.header, code: refused.ack, error, now, ackControlId: 'A2' });
    expect(hl7.readAck(ack)).toMatchObject({ code: 'AE', controlId: 'C2' });
  });
});
