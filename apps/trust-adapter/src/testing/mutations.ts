/** Generated damage for the adapter's fuzz tests (HL7 messages split on \r, CSV files on \r\n). */
import fc from 'fast-check';

/** Breaks a text in 1–4 random ways: cut, insert HL7/CSV-significant junk, truncate, swap or repeat lines. */
export function mutations(lineSep: string): fc.Arbitrary<(text: string) => string> {
  const junk = fc.string({ unit: fc.constantFrom('|', '^', '~', '\\', '&', '\r', '\n', ',', '"', ';', '\u0000', 'é', '𝄞', ' ', 'A', '9', 'MSH', 'SCH', '\uFEFF'), maxLength: 12 });
  const one = fc.oneof(
    fc.tuple(fc.nat(), fc.integer({ min: 1, max: 40 })).map(([at, n]) => (t: string) => { const i = at % (t.length + 1); return t.slice(0, i) + t.slice(i + n); }),
    fc.tuple(fc.nat(), junk).map(([at, j]) => (t: string) => { const i = at % (t.length + 1); return t.slice(0, i) + j + t.slice(i); }),
    fc.nat().map((at) => (t: string) => t.slice(0, at % (t.length + 1))),
    fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => (t: string) => {
      const lines = t.split(lineSep);
      const i = a % lines.length;
      const j = b % lines.length;
      [lines[i], lines[j]] = [lines[j], lines[i]];
      return lines.join(lineSep);
    }),
    fc.nat().map((a) => (t: string) => { const lines = t.split(lineSep); const i = a % lines.length; lines.splice(i, 0, lines[i]); return lines.join(lineSep); }),
    fc.tuple(fc.nat(), fc.nat(), junk).map(([a, f, j]) => (t: string) => {
      const lines = t.split(lineSep);
      const i = a % lines.length;
      const fields = lines[i].split(lineSep === '\r' ? '|' : ',');
      fields[f % fields.length] = j;
      lines[i] = fields.join(lineSep === '\r' ? '|' : ',');
      return lines.join(lineSep);
    }),
  );
  return fc.array(one, { minLength: 1, maxLength: 4 }).map((fs) => (t: string) => fs.reduce((acc, f) => f(acc), t));
}
