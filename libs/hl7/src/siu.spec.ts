import { buildSiu, SiuFields } from './build';
import { readMessageHeader, readSiu, ReadResult, SIU_EVENTS, SiuEvent, SiuMessage } from './siu';
import { acceptanceSiu } from './testing/acceptance-siu';

const NOW = new Date('2026-11-20T09:15:30Z');
const START = new Date('2026-11-26T14:00:00Z');

function fields(over: Partial<SiuFields> = {}): SiuFields {
  return {
    event: 'S12', controlId: 'MSG0001', sendingFacility: 'RQM', placerId: 'P123', fillerId: 'F456', start: START, minutes: 20,
    clinic: '330-NEW', appointmentType: 'NEW', siteOds: 'RQM01', nhsNumber: '9990000018', clinicianId: 'C1234567', now: NOW, ...over,
  };
}

function ok(r: ReadResult): SiuMessage {
  if (!r.ok) throw new Error(`expected ok, got ${r.ack} ${JSON.stringify(r.error)}`);
  return r.message;
}

function refused(r: ReadResult): Extract<ReadResult, { ok: false }> {
  if (r.ok) throw new Error('expected a refusal');
  return r;
}

/** Replaces one segment of a built message (field list without the name). */
function withSegment(er7: string, name: string, fieldsAfterName: string | null): string {
  return er7
    .split('\r')
    .flatMap((s) => (s.startsWith(`${name}|`) ? (fieldsAfterName === null ? [] : [`${name}|${fieldsAfterName}`]) : [s]))
    .join('\r');
}

/** Sets field n (1-based) of the first segment called name. */
function withField(er7: string, name: string, n: number, value: string): string {
  return er7
    .split('\r')
    .map((s) => {
      if (!s.startsWith(`${name}|`)) return s;
      const parts = s.split('|');
      while (parts.length <= n) parts.push('');
      parts[n] = value;
      return parts.join('|');
    })
    .join('\r');
}

const base = buildSiu(fields());

describe('readSiu: messages we build', () => {
  it.each(SIU_EVENTS.map((e) => [e]))('round-trips SIU^%s', (event: SiuEvent) => {
    const m = ok(readSiu(buildSiu(fields({ event, eventReason: `R-${event}`, status: `St-${event}` }))));
    expect(m).toEqual({
      header: {
        controlId: 'MSG0001', sendingApplication: 'PAS', sendingFacility: 'RQM', receivingApplication: 'SLOTX', receivingFacility: 'ICS',
        messageType: 'SIU', triggerEvent: event, versionId: '2.5.1', processingId: 'P', dateTime: new Date('2026-11-20T09:15:30Z'),
      },
      event,
      placerAppointmentId: 'P123',
      fillerAppointmentId: 'F456',
      eventReason: `R-${event}`,
      appointmentType: 'NEW',
      start: START,
      durationMinutes: 20,
      clinicCode: '330-NEW',
      siteOds: 'RQM01',
      clinicianId: 'C1234567',
      patientNhsNumber: '9990000018',
      otherPatientIds: [],
      fillerStatus: `St-${event}`,
    });
  });

  it('applies the builder defaults: PATCAN/Cancelled for S15, table 0278 statuses, type from the clinic code', () => {
    const s15 = ok(readSiu(buildSiu(fields({ event: 'S15', appointmentType: undefined, clinic: '330-FUP' }))));
    expect([s15.eventReason, s15.fillerStatus, s15.appointmentType]).toEqual(['PATCAN', 'Cancelled', 'FUP']);
    expect(ok(readSiu(buildSiu(fields({ event: 'S17' })))).fillerStatus).toBe('Deleted');
    expect(ok(readSiu(buildSiu(fields({ event: 'S26' })))).fillerStatus).toBe('Noshow');
    expect(ok(readSiu(buildSiu(fields({ event: 'S12' })))).eventReason).toBe('BOOKED');
  });

  it('leaves optional values null when the builder had none', () => {
    const m = ok(readSiu(buildSiu(fields({ placerId: undefined, nhsNumber: undefined, clinicianId: undefined }))));
    expect([m.placerAppointmentId, m.patientNhsNumber, m.clinicianId]).toEqual([null, null, null]);
  });

  it('survives separators inside values, escaped by the builder', () => {
    const m = ok(readSiu(buildSiu(fields({ fillerId: 'F|4^5~6&7\\8', clinic: 'A&E^X', controlId: 'C|1' }))));
    expect(m.fillerAppointmentId).toBe('F|4^5~6&7\\8');
    expect(m.clinicCode).toBe('A&E^X');
    expect(m.header.controlId).toBe('C|1');
  });

  it('keeps the start to the second and writes it as UTC', () => {
    const er7 = buildSiu(fields({ start: new Date('2026-07-01T08:30:45Z') }));
    expect(er7).toContain('|20260701083045+0000|');
    expect(ok(readSiu(er7)).start.toISOString()).toBe('2026-07-01T08:30:45.000Z');
  });

  it('throws on caller bugs (it is a builder, not an edge)', () => {
    expect(() => buildSiu(fields({ minutes: 0 }))).toThrow(RangeError);
    expect(() => buildSiu(fields({ start: new Date('x') }))).toThrow(RangeError);
  });
});

describe('readSiu: what the acceptance suite sends', () => {
  const acceptance = (over: Partial<Parameters<typeof acceptanceSiu>[0]> = {}): string =>
    acceptanceSiu({
      event: 'S15', controlId: 'M1ABC', ods: 'RQM', site: 'RQM01', placerId: 'P1', fillerId: 'F1', start: START, minutes: 20,
      clinic: '330-NEW', nhs: '9990000018', ...over,
    });

  it('reads an S15 exactly as lib.mjs siu() builds it', () => {
    const m = ok(readSiu(acceptance()));
    expect(m).toMatchObject({
      event: 'S15',
      header: { controlId: 'M1ABC', sendingFacility: 'RQM', messageType: 'SIU', triggerEvent: 'S15', versionId: '2.5.1' },
      placerAppointmentId: 'P1',
      fillerAppointmentId: 'F1',
      eventReason: 'PATCAN',
      appointmentType: 'NEW',
      start: START,
      durationMinutes: 20,
      clinicCode: '330-NEW',
      siteOds: 'RQM01',
      clinicianId: 'C1234567',
      patientNhsNumber: '9990000018',
      otherPatientIds: [],
      fillerStatus: 'Cancelled',
    });
  });

  it.each(SIU_EVENTS.map((e) => [e]))('reads SIU^%s from lib.mjs siu()', (event) => {
    const m = ok(readSiu(acceptance({ event, clinic: '120-FUP', minutes: 15 })));
    expect([m.event, m.appointmentType, m.durationMinutes, m.fillerStatus]).toEqual([event, 'FUP', 15, event === 'S15' ? 'Cancelled' : 'Booked']);
  });

  it('reads it with LF and CRLF line endings as well', () => {
    expect(ok(readSiu(acceptance().replace(/\r/g, '\n'))).fillerAppointmentId).toBe('F1');
    expect(ok(readSiu(acceptance().replace(/\r/g, '\r\n'))).fillerAppointmentId).toBe('F1');
    expect(ok(readSiu(`\uFEFF\r\n${acceptance()}\r\n\r\n`)).fillerAppointmentId).toBe('F1');
  });

  it('passes through the literal "undefined" lib.mjs sends when it is given no NHS number (validation is the adapter\'s)', () => {
    expect(ok(readSiu(acceptance({ nhs: undefined }))).patientNhsNumber).toBe('undefined');
  });
});

describe('readSiu: field precedence and variants', () => {
  it('prefers AIS-4 over SCH-11.4, and falls back to SCH-11.4', () => {
    const sch = withField(base, 'SCH', 11, '^^^20261126100000+0000');
    expect(ok(readSiu(sch)).start).toEqual(START);
    expect(ok(readSiu(withField(sch, 'AIS', 4, ''))).start).toEqual(new Date('2026-11-26T10:00:00Z'));
  });

  it('reads SCH-11.4 when it carries TS sub-components', () => {
    const er7 = withField(withField(base, 'AIS', 4, ''), 'SCH', 11, '^^^20261126100000+0000&M');
    expect(ok(readSiu(er7)).start).toEqual(new Date('2026-11-26T10:00:00Z'));
  });

  it('reads a start without an offset as London time', () => {
    expect(ok(readSiu(withField(base, 'AIS', 4, '202607011400'))).start).toEqual(new Date('2026-07-01T13:00:00Z'));
    expect(ok(readSiu(withField(base, 'AIS', 4, '202611261400'))).start).toEqual(new Date('2026-11-26T14:00:00Z'));
  });

  it('prefers AIS-7/8 over SCH-9/10 and converts hours', () => {
    expect(ok(readSiu(withField(withField(base, 'AIS', 7, '2'), 'AIS', 8, 'HRS'))).durationMinutes).toBe(120);
    expect(ok(readSiu(withField(withField(base, 'AIS', 7, '1.5'), 'AIS', 8, 'hrs^hours^ANS+'))).durationMinutes).toBe(90);
    expect(ok(readSiu(withField(withField(base, 'AIS', 7, '45'), 'AIS', 8, ''))).durationMinutes).toBe(45);
    const schOnly = withField(withField(withField(base, 'AIS', 7, ''), 'SCH', 9, '1'), 'SCH', 10, 'HRS');
    expect(ok(readSiu(schOnly)).durationMinutes).toBe(60);
  });

  it('finds the NHS number among several PID-3 identifiers and keeps the others', () => {
    const er7 = withField(base, 'PID', 3, 'RQM123^^^RQM^MR~943 476 5919^^^NHS^NH~X9^^^');
    const m = ok(readSiu(er7));
    expect(m.patientNhsNumber).toBe('9434765919');
    expect(m.otherPatientIds).toEqual([{ id: 'RQM123', authority: 'RQM' }, { id: 'X9', authority: '' }]);
  });

  it('recognises the NHS number by the NHS OID, or by identifier type NH with no authority', () => {
    expect(ok(readSiu(withField(base, 'PID', 3, '9990000018^^^&2.16.840.1.113883.2.1.4.1&ISO'))).patientNhsNumber).toBe('9990000018');
    expect(ok(readSiu(withField(base, 'PID', 3, '9990000018^^^NHS&2.16.840.1.113883.2.1.4.1&ISO^NH'))).patientNhsNumber).toBe('9990000018');
    expect(ok(readSiu(withField(base, 'PID', 3, '9990000018^^^^NH'))).patientNhsNumber).toBe('9990000018');
    expect(ok(readSiu(withField(base, 'PID', 3, '9990000018^^^RQM^MR'))).patientNhsNumber).toBeNull();
  });

  it('does not need PID, AIL or AIP', () => {
    const m = ok(readSiu(withSegment(withSegment(withSegment(base, 'PID', null), 'AIL', null), 'AIP', null)));
    expect([m.patientNhsNumber, m.siteOds, m.clinicianId]).toEqual([null, null, null]);
  });

  it('reads the site from AIL-3.4 when it is an HD with sub-components', () => {
    expect(ok(readSiu(withField(base, 'AIL', 3, '^^^RQM01&2.16.840.1.113883.2.1.3.2.4.18.48&ISO'))).siteOds).toBe('RQM01');
  });
});

describe('readSiu: refusals', () => {
  type Case = [string, string, 'AE' | 'AR', { segment: string; field: number; code: string; component?: number }];
  const cases: Case[] = [
    ['empty text', '', 'AR', { segment: 'MSH', field: 0, code: '100' }],
    ['no MSH', 'PID|1||9990000018^^^NHS', 'AR', { segment: 'MSH', field: 0, code: '100' }],
    ['JSON', '{"resourceType":"Appointment"}', 'AR', { segment: 'MSH', field: 0, code: '100' }],
    ['bad MSH-1', base.replace(/^MSH\|/, 'MSHX').replace(/\|/g, 'X'), 'AR', { segment: 'MSH', field: 1, code: '102' }],
    ['bad MSH-2', base.replace('^~\\&', '^^^^'), 'AR', { segment: 'MSH', field: 2, code: '102' }],
    ['ADT', withField(base, 'MSH', 8, 'ADT^A01^ADT_A01'), 'AR', { segment: 'MSH', field: 9, code: '200' }],
    ['SIU^S16', withField(base, 'MSH', 8, 'SIU^S16^SIU_S12'), 'AR', { segment: 'MSH', field: 9, code: '200' }],
    ['no MSH-9', withField(base, 'MSH', 8, ''), 'AR', { segment: 'MSH', field: 9, code: '200' }],
    ['no MSH-10', withField(base, 'MSH', 9, ''), 'AE', { segment: 'MSH', field: 10, code: '101' }],
    ['no SCH', withSegment(base, 'SCH', null), 'AE', { segment: 'SCH', field: 0, code: '100' }],
    ['no AIS', withSegment(base, 'AIS', null), 'AE', { segment: 'AIS', field: 0, code: '100' }],
    ['no SCH-2', withField(base, 'SCH', 2, ''), 'AE', { segment: 'SCH', field: 2, component: 1, code: '101' }],
    ['SCH-2 with only a namespace', withField(base, 'SCH', 2, '^PAS'), 'AE', { segment: 'SCH', field: 2, component: 1, code: '101' }],
    ['no AIS-3', withField(base, 'AIS', 3, ''), 'AE', { segment: 'AIS', field: 3, component: 1, code: '101' }],
    ['no start anywhere', withField(withField(base, 'AIS', 4, ''), 'SCH', 11, ''), 'AE', { segment: 'AIS', field: 4, component: 1, code: '101' }],
    ['AIS-4 not a time', withField(base, 'AIS', 4, 'tomorrow'), 'AE', { segment: 'AIS', field: 4, component: 1, code: '102' }],
    ['AIS-4 date only', withField(base, 'AIS', 4, '20261126'), 'AE', { segment: 'AIS', field: 4, component: 1, code: '102' }],
    ['AIS-4 30 February', withField(base, 'AIS', 4, '202602301400'), 'AE', { segment: 'AIS', field: 4, component: 1, code: '102' }],
    ['SCH-11.4 bad, AIS-4 empty', withField(withField(base, 'AIS', 4, ''), 'SCH', 11, '^^^2026'), 'AE', { segment: 'SCH', field: 11, component: 4, code: '102' }],
    ['no duration anywhere', withField(withField(base, 'AIS', 7, ''), 'SCH', 9, ''), 'AE', { segment: 'AIS', field: 7, code: '101' }],
    ['AIS-7 not numeric', withField(base, 'AIS', 7, 'twenty'), 'AE', { segment: 'AIS', field: 7, code: '102' }],
    ['AIS-7 negative', withField(base, 'AIS', 7, '-20'), 'AE', { segment: 'AIS', field: 7, code: '102' }],
    ['AIS-7 zero', withField(base, 'AIS', 7, '0'), 'AE', { segment: 'AIS', field: 7, code: '102' }],
    ['AIS-7 over a day', withField(withField(base, 'AIS', 7, '25'), 'AIS', 8, 'HRS'), 'AE', { segment: 'AIS', field: 7, code: '102' }],
    ['AIS-8 unknown units', withField(base, 'AIS', 8, 'FORTNIGHTS'), 'AE', { segment: 'AIS', field: 8, component: 1, code: '103' }],
    ['SCH-9 not numeric, AIS-7 empty', withField(withField(base, 'AIS', 7, ''), 'SCH', 9, '2O'), 'AE', { segment: 'SCH', field: 9, code: '102' }],
    ['SCH-10 unknown, AIS-7 empty', withField(withField(base, 'AIS', 7, ''), 'SCH', 10, 'DAYS'), 'AE', { segment: 'SCH', field: 10, component: 1, code: '103' }],
  ];

  it.each(cases)('%s → %s', (_, er7, ack, where) => {
    const r = refused(readSiu(er7));
    expect(r.ack).toBe(ack);
    expect(r.error).toMatchObject({ ...where, sequence: 1 });
    if (where.component === undefined) expect(r.error.component).toBeUndefined();
    expect(r.error.text.length).toBeGreaterThan(0);
  });

  it('refuses an MSH-10 with components or repetitions at MSH-10, keeping it whole as sent (so K^1 and K^2 are two ids, and neither is K)', () => {
    for (const id of ['K^1', 'K~2', 'K\\F\\1^2', '^1']) {
      const r = refused(readSiu(withField(base, 'MSH', 9, id)));
      expect(r.ack).toBe('AE');
      expect(r.error).toEqual({ segment: 'MSH', sequence: 1, field: 10, code: '102', text: 'MSH-10 message control id must be one string, without components or repetitions' });
      expect(r.header.controlId).toBe(id);
      expect(readMessageHeader(withField(base, 'MSH', 9, id)).controlId).toBe(id);
    }
    // One string, escapes and all, is as before.
    expect(ok(readSiu(withField(base, 'MSH', 9, 'K\\S\\1'))).header.controlId).toBe('K^1');
  });

  it('keeps as much header as it read, so the ACK can echo MSH-10', () => {
    const r = refused(readSiu(withField(base, 'AIS', 4, 'tomorrow')));
    expect(r.header).toMatchObject({ controlId: 'MSG0001', sendingFacility: 'RQM', triggerEvent: 'S12', messageType: 'SIU' });
    const adt = refused(readSiu(withField(base, 'MSH', 8, 'ADT^A01')));
    expect(adt.header).toMatchObject({ controlId: 'MSG0001', messageType: 'ADT', triggerEvent: 'A01' });
  });

  it('never quotes patient data in an error text', () => {
    const r = refused(readSiu(withField(withField(base, 'PID', 3, '9990000018^^^NHS'), 'AIS', 4, '9990000018')));
    expect(r.error.text).not.toContain('9990000018');
  });

  it('answers a typed refusal, not an exception, for non-string input', () => {
    expect(refused(readSiu(undefined as unknown as string)).ack).toBe('AR');
    expect(refused(readSiu(42 as unknown as string)).ack).toBe('AR');
  });
});

describe('readMessageHeader', () => {
  it('reads MSH even when the body is damaged', () => {
    expect(readMessageHeader(`${base.split('\r')[0]}\r\x00garbage|||`)).toMatchObject({ controlId: 'MSG0001', sendingApplication: 'PAS' });
  });

  it('returns {} for text with no MSH', () => {
    expect(readMessageHeader('hello')).toEqual({});
  });
});
