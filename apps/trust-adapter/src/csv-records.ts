/**
 * The records of a CSV body as csv-parse reads them with the PTL's options (BOM skipped, cells
 * trimmed, empty lines skipped, rows of any length, and CR LF, LF and CR each ending a row), but
 * without csv-parse's byte-at-a-time loop for the common case: while the body holds no quote
 * character, each chunk's complete lines are split on their line endings and on commas directly.
 * The first chunk holding a quote (or a UTF-16 BOM) hands that chunk and everything after it to
 * csv-parse, so quoting, and every error, is csv-parse's own. csv-records.spec.ts checks the two
 * agree on generated files and chunkings.
 *
 * Every line ending ends a row, whichever the file started with: csv-parse left alone settles on
 * the first one it meets, so a CR LF file with one bare LF line (an export stitched from two
 * sources, a line edited by hand) read two rows as one, the second's cells tacked onto the first.
 */
import { CsvError, Options, parse } from 'csv-parse';
import { Readable } from 'node:stream';

export const CSV_OPTIONS: Options = {
  trim: true, skip_empty_lines: true, relax_column_count: true, skip_records_with_error: false, record_delimiter: ['\r\n', '\n', '\r'],
};
const OPTIONS = CSV_OPTIONS;
/** What the quick path splits lines on: the same three endings, CR LF first. */
const LINE_END = /\r\n|\n|\r/;

const QUOTE = 0x22;
const CR = 0x0d;
const LF = 0x0a;
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const UTF16LE_BOM = Buffer.from([0xff, 0xfe]);

/** What csv-parse drops from the start of an unquoted cell: CR, LF, form feed, space, tab. */
function leftTrimmable(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a || c === 0x0c;
}

/** A cell as csv-parse trims it: those five on the left, any JS whitespace on the right. */
function trimCell(s: string): string {
  const n = s.length;
  if (n === 0) return s;
  const last = s.charCodeAt(n - 1);
  if (s.charCodeAt(0) > 0x20 && last > 0x20 && last < 0x7f) return s;
  let i = 0;
  while (i < n && leftTrimmable(s.charCodeAt(i))) i++;
  return s.slice(i).trimEnd();
}

/** csv-parse skips a line that has no comma and nothing but left-trimmable characters. */
function isEmptyLine(line: string): boolean {
  for (let i = 0; i < line.length; i++) if (!leftTrimmable(line.charCodeAt(i))) return false;
  return true;
}

/**
 * Where the last complete line of `buf` ends (just after its line ending), or 0. A CR that ends
 * the data so far may be the first half of a CR LF: the line it ends is left for the next chunk.
 */
function endOfLastLine(buf: Buffer): number {
  let p = Math.max(buf.lastIndexOf(LF), buf.lastIndexOf(CR));
  if (p === buf.length - 1 && buf[p] === CR) p = p === 0 ? -1 : Math.max(buf.lastIndexOf(LF, p - 1), buf.lastIndexOf(CR, p - 1));
  return p + 1;
}

/**
 * A csv-parse error said without the input: csv-parse quotes the cell it stopped in, which in a
 * PTL is personal data bound for logs and HTTP answers. `header` names the column where known.
 */
export function describeCsvError(e: unknown, header?: readonly string[]): string {
  const err = e as Partial<CsvError> & { column?: unknown };
  const column = typeof err.column === 'number' ? (header?.[err.column] ?? `column ${err.column + 1}`) : undefined;
  const where = column === undefined ? '' : ` (in ${column})`;
  switch (err.code) {
    case 'INVALID_OPENING_QUOTE':
      return `a quote opens part-way through a cell${where}; a quoted cell must start with its quote`;
    case 'CSV_INVALID_CLOSING_QUOTE':
    case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE':
      return `a closing quote is followed by something other than a comma or the end of the line${where}`;
    case 'CSV_QUOTE_NOT_CLOSED':
      return `a quote is opened${where} and never closed`;
    default:
      return err.code ? `the CSV is malformed (${err.code})` : 'the CSV is malformed';
  }
}

/**
 * The records after the header, in order. `onHeader` is given the first record as csv-parse
 * reaches it (before anything after it is read, even if the CSV breaks further on in the same
 * chunk); if it throws, that error ends the reading. A body csv-parse cannot read ends with its
 * CsvError (say it with `describeCsvError`). Stopping early leaves the rest of the body unread.
 */
export async function* csvRecords(body: Readable, onHeader: (cells: string[]) => void): AsyncGenerator<string[]> {
  const chunks = body.iterator({ destroyOnReturn: false }) as AsyncIterator<Buffer | string>;
  let pending: Buffer = Buffer.alloc(0);
  let bomChecked = false;
  let headerSeen = false;
  let end = false;

  // Splits complete lines into records; the header goes to onHeader.
  function* records(text: string, last: boolean): Generator<string[]> {
    const lines = text.split(LINE_END);
    // Text cut just after a line ending ends with an empty "line" that is not one.
    const n = last ? lines.length : lines.length - 1;
    for (let i = 0; i < n; i++) {
      const line = lines[i];
      if (line.indexOf(',') < 0 && isEmptyLine(line)) continue;
      const cells = line.split(',');
      for (let j = 0; j < cells.length; j++) cells[j] = trimCell(cells[j]);
      if (headerSeen) yield cells;
      else {
        headerSeen = true;
        onHeader(cells);
      }
    }
  }

  try {
    while (!end) {
      const next = await chunks.next();
      if (next.done) end = true;
      else {
        const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      }
      if (!bomChecked) {
        if (pending.length < 3 && !end) continue;
        if (pending.subarray(0, 2).equals(UTF16LE_BOM)) break;
        if (pending.indexOf(QUOTE) >= 0) break;
        if (pending.subarray(0, 3).equals(UTF8_BOM)) pending = pending.subarray(3);
        bomChecked = true;
      }
      if (pending.indexOf(QUOTE) >= 0) break;
      if (end) {
        if (pending.length > 0) yield* records(pending.toString('utf8'), true);
        pending = Buffer.alloc(0);
        return;
      }
      const cut = endOfLastLine(pending);
      if (cut === 0) continue;
      const text = pending.toString('utf8', 0, cut);
      pending = pending.subarray(cut);
      yield* records(text, false);
    }
    // Quoted (or UTF-16) from here on: csv-parse reads the rest, from the beginning of a line.
    // Before the header it meets the header itself (and the BOM, if that was not skipped here already).
    let csv: ReturnType<typeof parse>;
    if (!headerSeen) {
      let judged = false;
      csv = parse({
        ...OPTIONS,
        // A BOM already skipped here is not skipped twice.
        bom: !bomChecked,
        on_record: (cells: string[]) => {
          if (judged) return cells;
          judged = true;
          onHeader(cells);
          // The hook is only for the header, and csv-parse builds an info object for every record
          // it passes through it: unhook (the parser reads its options per record; should a
          // version not, the hook just passes rows on).
          (csv.options as { on_record?: unknown }).on_record = undefined;
          return null;
        },
      });
    } else {
      // A BOM here would be a cell's content.
      csv = parse({ ...OPTIONS, bom: false });
    }
    const first = pending;
    pending = Buffer.alloc(0);
    const rest = Readable.from((async function* () {
      if (first.length > 0) yield first;
      if (end) return;
      for (;;) {
        const next = await chunks.next();
        if (next.done) return;
        yield next.value;
      }
    })(), { objectMode: false });
    const parser = rest.pipe(csv);
    try {
      for await (const cells of parser as AsyncIterable<string[]>) yield cells;
    } finally {
      // Stop reading the body if we gave up early.
      rest.unpipe(parser);
      parser.destroy();
      rest.destroy();
    }
  } finally {
    // Not awaited: a read still waiting on a stalled client would hold up the answer.
    chunks.return?.().catch(() => undefined);
  }
}
