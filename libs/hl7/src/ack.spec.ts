import { buildAck, readAck } from './ack';
import { buildSiu } from './build';
import { parseEr7 } from './er7';
import { readSiu } from './siu';

const NOW = new Date('2026-11-20T09:15:30Z');
const header = {
  controlId: 'MSG0001', sendingApplication: 'PAS', sendingFacility: 'RQM', receivingApplication: 'SLOTX', receivingFacility: 'ICS',
  messageType: 'SIU', triggerEvent: 'S12', versionId: '2.5.1', processingId: 'P',
};

describe('buildAck', () => {
  it('builds an AA that swaps sender and receiver and echoes MSH-10', () => {
    expect(buildAck({ header, code: 'AA', now: NOW, ackControlId: 'ACK1' })).toBe(
      'MSH|^~\\&|SLOTX|ICS|PAS|RQM|20261120091530+0000||ACK^S12^ACK|ACK1|P|2.5.1\rMSA|AA|MSG0001|',
    );
  });

  it('locates an AE error in ERR-2, codes it in ERR-3, marks it E and repeats the text in MSA-3', () => {
    const ack = buildAck({
      header, code: 'AE', now: NOW, ackControlId: 'ACK2',
      error: { segment: 'AIS', sequence: 1, field: 4, component: 1, code: '102', text: 'AIS-4 start is not a valid HL7 timestamp' },
    });
    const [, msa, err] = ack.split('\r');
    expect(msa).toBe('MSA|AE|MSG0001|AIS-4 start is not a valid HL7 timestamp');
    expect(err).toBe('ERR||AIS^1^4^1^1|102^AIS-4 start is not a valid HL7 timestamp^HL70357|E');
  });

  it('names only the segment for a segment-level error, and nothing for an unlocated one', () => {
    const seg = buildAck({ header, code: 'AE', now: NOW, ackControlId: 'A', error: { segment: 'SCH', sequence: 1, field: 0, code: '100', text: 'SCH segment is required' } });
    expect(seg.split('\r')[2]).toBe('ERR||SCH^1|100^SCH segment is required^HL70357|E');
    const none = buildAck({ header, code: 'AE', now: NOW, ackControlId: 'A', error: { segment: '', sequence: 0, field: 0, code: '207', text: 'Application internal error' } });
    expect(none.split('\r')[2]).toBe('ERR|||207^Application internal error^HL70357|E');
  });

  it('prefers textMessage for MSA-3 and keeps it to 80 characters', () => {
    const ack = buildAck({ header, code: 'AR', now: NOW, ackControlId: 'A', textMessage: 'x'.repeat(200) });
    expect(ack.split('\r')[1]).toBe(`MSA|AR|MSG0001|${'x'.repeat(80)}`);
  });

  it('falls back to plain ACK and version 2.5.1 when the header is unknown, and never throws', () => {
    const ack = buildAck({ header: {}, code: 'AR', now: new Date('invalid'), ackControlId: 'A' });
    expect(ack).toBe('MSH|^~\\&|||||||ACK|A|P|2.5.1\rMSA|AR||');
  });

  it('escapes separators and line breaks from the header and text, so the ACK stays well-formed', () => {
    const ack = buildAck({
      header: { ...header, controlId: 'A|B^C', sendingFacility: 'R\rQM' }, code: 'AE', now: NOW, ackControlId: 'A',
      error: { segment: 'SCH', sequence: 1, field: 2, code: '101', text: 'bad | value ^ here\r\nMSH|evil' },
    });
    const parsed = parseEr7(ack);
    if (!parsed.ok) throw new Error('ACK did not parse');
    expect(parsed.message.names).toEqual(['MSH', 'MSA', 'ERR']);
    expect(readAck(ack)).toEqual({ code: 'AE', controlId: 'A|B^C', text: 'bad | value ^ here  MSH|evil' });
  });

  it('builds the ACK for a real refusal straight from readSiu', () => {
    const bad = buildSiu({
      event: 'S15', controlId: 'C9', sendingFacility: 'RQM', fillerId: 'F', start: NOW, minutes: 20, clinic: '330-NEW', siteOds: 'RQM01', now: NOW,
    }).replace('|20|MIN\rAIL', '|lots|MIN\rAIL');
    const r = readSiu(bad);
    if (r.ok) throw new Error('expected AE');
    const ack = buildAck({ header: r.header, code: r.ack, error: r.error, now: NOW, ackControlId: 'X' });
    expect(ack).toContain('MSA|AE|C9|');
    expect(ack).toContain('ERR||AIS^1^7|102^');
    expect(ack.split('\r')[0]).toContain('|ACK^S15^ACK|');
  });
});

describe('readAck', () => {
  it('reads MSA-1, MSA-2 and MSA-3', () => {
    expect(readAck('MSH|^~\\&|A|B|C|D|||ACK|1|P|2.5.1\rMSA|AE|C9|wrong\rERR||AIS^1^4|102^other^HL70357|E')).toEqual({ code: 'AE', controlId: 'C9', text: 'wrong' });
  });

  it('falls back to ERR-3.2 for the text, and accepts LF line ends', () => {
    expect(readAck('MSH|^~\\&|A\nMSA|AR|C9\nERR||MSH^1^9|200^Unsupported^HL70357|E\n')).toEqual({ code: 'AR', controlId: 'C9', text: 'Unsupported' });
  });

  it('returns null for anything without an MSA', () => {
    expect(readAck('')).toBeNull();
    expect(readAck('garbage')).toBeNull();
    expect(readAck('MSH|^~\\&|A')).toBeNull();
    expect(readAck('MSH|^~\\&|A\rMSA|')).toBeNull();
    expect(readAck(undefined as unknown as string)).toBeNull();
  });
});
