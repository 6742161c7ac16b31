/**
 * CSV export of any table on the dashboard (RFC 4180). Cells that a spreadsheet would run as a
 * formula (=, +, -, @, tab, CR) are prefixed with a quote (OWASP CSV injection).
 */
import type { Response } from 'express';

export interface CsvColumn<T> { header: string; value: (row: T) => unknown }

export function csvCell(v: unknown): string {
  let s = v === null || v === undefined ? '' : v instanceof Date ? v.toISOString() : typeof v === 'object' ? JSON.stringify(v) : String(v);
  if (/^[=+\-@\t\r]/.test(s) && !/^-?\d+(\.\d+)?$/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv<T>(columns: CsvColumn<T>[], rows: T[]): string {
  return [columns.map((c) => csvCell(c.header)).join(','), ...rows.map((r) => columns.map((c) => csvCell(c.value(r))).join(','))].join('\r\n') + '\r\n';
}

/**
 * The CSV of `rows`, cut at `limit` when given: an export that stops short says so in a last row
 * (`rows` should hold one more than `limit`, to know), never silently.
 */
export function csvExport<T>(columns: CsvColumn<T>[], rows: T[], limit?: number): { body: string; rows: number; truncated: boolean } {
  const truncated = limit !== undefined && rows.length > limit;
  const shown = truncated ? rows.slice(0, limit) : rows;
  let body = toCsv(columns, shown);
  if (truncated) {
    const note = `TRUNCATED: this export stops at ${limit} rows and more matched; narrow the filters to export the rest`;
    body += [csvCell(note), ...columns.slice(1).map(() => '')].join(',') + '\r\n';
  }
  return { body, rows: shown.length, truncated };
}

/**
 * Sends `rows` as a CSV download; with `limit`, cut there and marked (a last row, and the header
 * `x-export-truncated: <limit>`).
 */
export function sendCsv<T>(res: Response, filename: string, columns: CsvColumn<T>[], rows: T[], limit?: number): void {
  const out = csvExport(columns, rows, limit);
  res.status(200).type('text/csv; charset=utf-8')
    .setHeader('content-disposition', `attachment; filename="${filename.replace(/[^\w.-]/g, '_')}"`)
    .setHeader('cache-control', 'no-store');
  if (out.truncated) res.setHeader('x-export-truncated', String(limit));
  res.send(out.body);
}

/** Columns straight from a row's keys, for tables whose rows are already what is shown. */
export function columnsOf<T extends object>(keys: Array<keyof T & string>): CsvColumn<T>[] {
  return keys.map((k) => ({ header: k, value: (r: T) => r[k] }));
}
