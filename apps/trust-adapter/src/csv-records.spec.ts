/**
 * The PTL's quick CSV reading against csv-parse itself: for generated files (quoted or not, with
 * CR LF, LF or CR line endings, line breaks and quotes inside quoted cells, BOMs, empty cells and
 * lines, stray whitespace, multi-byte characters) cut into chunks anywhere, even inside a
 * character, csvRecords yields exactly the records csv-parse yields, header first; where
 * csv-parse fails, it fails with the same error having yielded only records csv-parse yielded.
 */
import { parse } from 'csv-parse';
import fc from 'fast-check';
import { Readable } from 'node:stream';
import { CSV_OPTIONS, csvRecords, describeCsvError } from './csv-records';

const OPTIONS = { ...CSV_OPTIONS, bom: true };

/** csv-parse on the whole file at once: every record it emits, and its error if any. */
function reference(bytes: Buffer): Promise<{ records: string[][]; error?: string }> {
  return new Promise((resolve) => {
    const records: string[][] = [];
    const p = parse(OPTIONS);
    p.on('data', (r: string[]) => records.push(r));
    p.on('error', (e: { code?: string }) => resolve({ records, error: e.code ?? String(e) }));
    p.on('end', () => resolve({ records }));
    p.end(bytes);
  });
}

async function quick(chunks: Buffer[]): Promise<{ records: string[][]; error?: string }> {
  const records: string[][] = [];
  try {
    for await (const r of csvRecords(Readable.from(chunks), (h) => records.push(h))) records.push(r);
    return { records };
  } catch (e) {
    return { records, error: (e as { code?: string }).code ?? String(e) };
  }
}

/** Cuts `bytes` at the given fractions of its length. */
function cut(bytes: Buffer, at: number[]): Buffer[] {
  const points = [...new Set(at.map((f) => Math.floor(f * bytes.length)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    if (p > from) chunks.push(bytes.subarray(from, p));
    from = Math.max(from, p);
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

const plain = fc.constantFrom('a', 'B', '7', ' ', '\t', '\f', '\v', '\u00a0', '\ufeff', 'é', '€', '😀', '-', ';', ':', '\u2028');
const eols = fc.constantFrom('\n', '\r\n', '\r');
const cell = fc.oneof(
  { weight: 6, arbitrary: fc.array(plain, { maxLength: 6 }).map((cs) => cs.join('')) },
  // Quoted, with quotes (doubled) and line breaks inside, maybe padded outside.
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('', ' '), fc.array(fc.oneof(plain, fc.constantFrom('""', ',', '\n', '\r\n')), { maxLength: 5 }), fc.constantFrom('', ' '))
    .map(([l, cs, r]) => `${l}"${cs.join('')}"${r}`) },
);
const line = fc.array(cell, { minLength: 1, maxLength: 5 }).map((cs) => cs.join(','));
/** A file: lines with a main line ending and the odd other one, maybe a BOM, maybe no final line ending. */
const file = fc.tuple(
  fc.constantFrom('', '\ufeff', '\ufeff\ufeff'), eols,
  fc.array(fc.tuple(line, fc.option(eols, { freq: 8 })), { maxLength: 8 }), fc.boolean(),
).map(([bom, eol, lines, trailing]) => bom + lines.map(([l, other]) => l + (other ?? eol)).join('').slice(0, trailing ? undefined : -1));
/** Raw noise from the characters that matter to a CSV reader. */
const noise = fc.array(fc.constantFrom('a', ',', '"', ' ', '\r', '\n', '\t', '\f', '\ufeff', 'é'), { maxLength: 40 }).map((cs) => cs.join(''));
const bytesOf = fc.oneof(
  file.map((t) => Buffer.from(t)),
  noise.map((t) => Buffer.from(t)),
  // A UTF-16 BOM, and bytes that are not UTF-8.
  fc.tuple(fc.constantFrom(Buffer.from([0xff, 0xfe]), Buffer.from([0xe2, 0x82]), Buffer.from([0xc3])), file)
    .map(([b, t]) => Buffer.concat([Buffer.from(t.slice(0, 7)), b, Buffer.from(t.slice(7))])),
);

describe('csvRecords reads a PTL body exactly as csv-parse does', () => {
  it('on generated files in generated chunks', async () => {
    await fc.assert(
      fc.asyncProperty(bytesOf, fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }), async (bytes, at) => {
        const want = await reference(bytes);
        const got = await quick(cut(bytes, at));
        if (want.error === undefined) {
          expect(got).toEqual(want);
        } else {
          expect(got.error).toBe(want.error);
          expect(want.records.slice(0, got.records.length)).toEqual(got.records);
        }
      }),
      { numRuns: 3_000, seed: 20261201 },
    );
  });

  it('reads unquoted files without csv-parse, quoted ones with it', async () => {
    const unquoted = Buffer.from('\ufeffA,B\r\n x ,y\r\n\r\n  \r\n,\r\nlast, one ');
    expect((await quick(cut(unquoted, [0.1, 0.5, 0.52])))).toEqual({ records: [['A', 'B'], ['x', 'y'], ['', ''], ['last', 'one']] });
    const quotedLater = Buffer.from(`A,B\n1,2\n${'x,y\n'.repeat(100)}"3\n4",5\n`);
    expect((await quick(cut(quotedLater, [0.5]))).records.slice(-1)).toEqual([['3\n4', '5']]);
  });

  it('ends a row at every CR LF, LF or CR, whichever the file began with, quoted or not, however it is cut', async () => {
    const mixed = 'H1,H2\r\nPW1,\nPW2,A\r\nPW3,B\rPW4,C\r\n';
    const want = [['H1', 'H2'], ['PW1', ''], ['PW2', 'A'], ['PW3', 'B'], ['PW4', 'C']];
    for (const body of [mixed, mixed.replace('PW2', '"PW2"')]) {
      const bytes = Buffer.from(body);
      for (let at = 0; at <= bytes.length; at++) expect(await quick([bytes.subarray(0, at), bytes.subarray(at)])).toEqual({ records: want });
    }
  });

  it('says what is wrong without quoting the file', async () => {
    const secret = '9990000018';
    const { records } = await quick([Buffer.from(`NHS_NUMBER,MOBILE\n${secret},07700"900123\n`)]);
    expect(records).toEqual([['NHS_NUMBER', 'MOBILE']]);
    let message = '';
    try {
      for await (const _ of csvRecords(Readable.from([Buffer.from(`NHS_NUMBER,MOBILE\n${secret},07700"900123\n`)]), () => undefined));
    } catch (e) {
      message = describeCsvError(e, ['NHS_NUMBER', 'MOBILE']);
    }
    expect(message).toBe('a quote opens part-way through a cell (in MOBILE); a quoted cell must start with its quote');
    expect(message).not.toContain('07700');
  });
});
