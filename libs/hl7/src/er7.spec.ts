import fc from 'fast-check';
import { checkEncoding, escapeEr7, normaliseSegmentEnds, parseEr7, unescapeEr7 } from './er7';

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
});
