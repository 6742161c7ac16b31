import fc from 'fast-check';
import { buildSiu } from './build';
import { checkEncoding, Er7Message, escapeEr7, normaliseSegmentEnds, parseEr7, unescapeEr7 } from './er7';
import { acceptanceSiu } from './testing/acceptance-siu';
import { parseEr7WithMedplum } from './testing/medplum-er7';

/** Every value both readers give for a message, over more fields, components, repetitions and sub-components than it has. */
function everything(m: Er7Message): unknown[] {
  const out: unknown[] = [m.names];
  for (const name of new Set(m.names)) {
    for (let seq = 1; seq <= 3; seq++) {
      const s = m.segment(name, seq);
      out.push(s?.name);
      if (!s) continue;
      for (let f = -1; f <= 12; f++) {
        out.push(s.repetitions(f));
        for (let r = -1; r <= 1; r++) {
          for (let c = 0; c <= 4; c++) {
            out.push(s.get(f, c, r), s.getFirstSub(f, c, r));
            for (let sub = 0; sub <= 2; sub++) out.push(s.getSub(f, c, sub, r));
          }
        }
      }
      out.push(s.get(3), s.get(3, 2), s.getFirstSub(4));
    }
  }
  return out;
}

function expectSameReading(text: string): void {
  const lazy = parseEr7(text);
  const reference = parseEr7WithMedplum(text);
  expect(lazy.ok).toBe(reference.ok);
  if (!lazy.ok || !reference.ok) return expect(lazy).toEqual(reference);
  expect(everything(lazy.message)).toEqual(everything(reference.message));
}

/** ER7-shaped text: an MSH with these separators, then segments whose values are made of the separators, escapes, nulls and line breaks. */
const er7Text = fc
  .constantFrom('|^~\\&', '|^~\\&#', '#$%*!', '|^~\\&'.split('').reverse().join(''))
  .chain((seps) => {
    const piece = fc.oneof(
      fc.constantFrom(...seps.split(''), '""', '\\F\\', '\\X41\\', '\r', '\n', '\r\n', ' ', '', 'NHS', 'MSH', 'SCH'),
      fc.string({ maxLength: 4 }),
    );
    const value = fc.array(piece, { maxLength: 8 }).map((p) => p.join(''));
    const segment = fc.tuple(fc.constantFrom('MSH', 'SCH', 'AIS', 'AIL', 'PID', 'ZZZ', '', ' ', 'A^B'), fc.array(value, { maxLength: 14 })).map(([name, fields]) => [name, ...fields].join(seps[0]));
    return fc.tuple(fc.array(value, { maxLength: 14 }), fc.array(segment, { maxLength: 6 }), fc.constantFrom('\r', '\n', '\r\n', '\r\r')).map(
      ([msh, rest, end]) => [`MSH${seps}${msh.length ? seps[0] : ''}${msh.join(seps[0])}`, ...rest].join(end),
    );
  });

describe('ER7 reading', () => {
  it('accepts the standard encoding characters and the v2.7 truncation character', () => {
    expect(checkEncoding('MSH|^~\\&|A')).toBeNull();
    expect(checkEncoding('MSH|^~\\&#|A')).toBeNull();
    expect(checkEncoding('MSH#$%*!#A')).toBeNull();
  });

  it.each([
    ['PID|1', 'no-msh', 0],
    ['', 'no-msh', 0],
    ['MSHA^~\\&A', 'bad-encoding-characters', 1],
    ['MSH ^~\\& ', 'bad-encoding-characters', 1],
    ['MSH|^~\\|', 'bad-encoding-characters', 2],
    ['MSH|^^\\&|', 'bad-encoding-characters', 2],
    ['MSH|^~|&|', 'bad-encoding-characters', 2],
    ['MSH|^~\\a|', 'bad-encoding-characters', 2],
    ['MSH|', 'bad-encoding-characters', 2],
  ])('refuses %p as %s (MSH-%i)', (text, reason, field) => {
    expect(checkEncoding(text)).toEqual({ reason, field });
  });

  it('answers "" rather than throwing for absent fields, components and repetitions', () => {
    const parsed = parseEr7('MSH|^~\\&|A\rPID|1||123^^^NHS');
    if (!parsed.ok) throw new Error('expected to parse');
    const pid = parsed.message.segment('PID');
    expect(pid?.get(3, 1)).toBe('123');
    expect(pid?.get(3, 1, 5)).toBe('');
    expect(pid?.get(3, 9)).toBe('');
    expect(pid?.get(40)).toBe('');
    expect(pid?.getSub(3, 4, 3, 2)).toBe('');
    expect(pid?.repetitions(3)).toBe(1);
    expect(pid?.repetitions(2)).toBe(0);
    expect(parsed.message.segment('PID', 2)).toBeUndefined();
  });

  it('reads with the separators the message declares', () => {
    const parsed = parseEr7('MSH#$%*!#A#B\rSCH#X$Y%Z!W*F*');
    if (!parsed.ok) throw new Error('expected to parse');
    const sch = parsed.message.segment('SCH');
    expect(sch?.get(1, 1)).toBe('X');
    expect(sch?.get(1, 2)).toBe('Y');
    expect(sch?.getSub(1, 1, 1, 1)).toBe('Z');
    expect(sch?.getSub(1, 1, 2, 1)).toBe('W#');
    expect(sch?.repetitions(1)).toBe(2);
  });

  it('treats HL7 explicit null "" as empty', () => {
    const parsed = parseEr7('MSH|^~\\&|A\rSCH|""|F1');
    if (!parsed.ok) throw new Error('expected to parse');
    expect(parsed.message.segment('SCH')?.get(1)).toBe('');
  });

  it('normalises LF and CRLF segment ends to CR', () => {
    expect(normaliseSegmentEnds('A\r\nB\nC\rD')).toBe('A\rB\rC\rD');
  });

  it('unescapes the standard sequences and hex, and drops formatting ones', () => {
    expect(unescapeEr7('a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f')).toBe('a|b^c&d~e\\f');
    expect(unescapeEr7('\\X41\\BC')).toBe('ABC');
    expect(unescapeEr7('line\\.br\\two')).toBe('linetwo');
    expect(unescapeEr7('dangling\\')).toBe('dangling\\');
  });

  it('escapes so that any text survives a trip through a component (bar line breaks and framing bytes)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const clean = s.replace(/[\r\n]/g, ' ').replace(/[\x0b\x1c]/g, '');
        const escaped = escapeEr7(s);
        expect(escaped).not.toMatch(/[|^~&\r\n\x0b\x1c]/);
        expect(unescapeEr7(escaped)).toBe(clean);
      }),
      { numRuns: 1000 },
    );
  });

  describe('the lazy reader gives the answers @medplum/core gave (wrapped in the same rules)', () => {
    it('on generated ER7-shaped text, for every field, component, repetition and sub-component asked', () => {
      fc.assert(fc.property(er7Text, expectSameReading), { numRuns: 200 });
    });

    it('on valid SIU messages and on them with any one character changed, cut or doubled', () => {
      const base = [
        acceptanceSiu({ event: 'S12', controlId: 'MSG1', ods: 'RQM', site: 'RQM01', placerId: 'P1', fillerId: 'F1', start: new Date('2026-03-02T09:30:00Z'), minutes: 20, clinic: '330-NEW', nhs: '943 476 5919' }),
        buildSiu({ event: 'S15', controlId: 'C1', sendingFacility: 'RQM', fillerId: 'F1', start: new Date('2026-03-02T09:30:00Z'), minutes: 20, clinic: '330-NEW', siteOds: 'RQM01', nhsNumber: '9990000018', now: new Date('2026-03-01T00:00:00Z') }),
      ];
      fc.assert(
        fc.property(fc.constantFrom(...base), fc.nat(), fc.constantFrom('|', '^', '~', '\\', '&', '\r', '\n', '""', 'X', ''), fc.boolean(), (msg, at, insert, cut) => {
          const i = at % (msg.length + 1);
          expectSameReading(cut ? msg.slice(0, i) : msg.slice(0, i) + insert + msg.slice(i));
        }),
        { numRuns: 150 },
      );
      for (const msg of base) expectSameReading(msg);
    });

    it('on text that is not ER7 at all, failing the same way', () => {
      fc.assert(fc.property(fc.string({ maxLength: 40 }), (t) => expectSameReading(t)), { numRuns: 200 });
      for (const t of ['MSH', 'MSH|', 'MSH|^~\\&', 'PID|1', '']) expectSameReading(t);
    });
  });
});
