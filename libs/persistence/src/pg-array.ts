/**
 * A Postgres array literal for one array parameter (`$1::text[]`, and unnest for a batch of rows).
 * node-pg serialises an array parameter element by element, two regular expressions on each
 * string, which for a batch of thousands of rows across a dozen columns is a good part of the
 * batch's CPU in Node: this writes the same array in one pass. Strings are always quoted (so an
 * empty string, or the text NULL, stays a string) and escape only the two characters that need it.
 */
export type PgArrayElement = string | number | boolean | null | undefined;

const NEEDS_ESCAPE = /["\\]/;
const ESCAPED = /["\\]/g;

export function pgArray(values: ReadonlyArray<PgArrayElement>): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const v = values[i];
    if (v === null || v === undefined) out += 'NULL';
    else if (typeof v === 'string') out += NEEDS_ESCAPE.test(v) ? `"${v.replace(ESCAPED, '\\$&')}"` : `"${v}"`;
    else if (typeof v === 'number') {
      // Postgres reads NaN and Infinity in numeric and float arrays; node-pg sent them as text too.
      out += Number.isFinite(v) ? String(v) : `"${String(v)}"`;
    } else out += v ? 't' : 'f';
  }
  return out + '}';
}
