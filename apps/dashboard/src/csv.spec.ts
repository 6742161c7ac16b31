import { csvCell, csvExport, toCsv } from './csv';

describe('CSV export', () => {
  it('quotes what needs quoting and neutralises spreadsheet formulas', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvCell('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvCell('-3.5')).toBe('-3.5');
    expect(csvCell(null)).toBe('');
    expect(csvCell(new Date('2026-01-02T03:04:05Z'))).toBe('2026-01-02T03:04:05.000Z');
  });

  it('writes a header and CRLF rows', () => {
    expect(toCsv([{ header: 'a', value: (r: { a: number }) => r.a }], [{ a: 1 }, { a: 2 }])).toBe('a\r\n1\r\n2\r\n');
  });

  it('says so in a last row when an export is cut at its limit, and only then', () => {
    const cols = [{ header: 'a', value: (r: { a: number }) => r.a }, { header: 'b', value: (r: { a: number }) => -r.a }];
    expect(csvExport(cols, [{ a: 1 }, { a: 2 }], 2)).toEqual({ body: 'a,b\r\n1,-1\r\n2,-2\r\n', rows: 2, truncated: false });
    expect(csvExport(cols, [{ a: 1 }, { a: 2 }, { a: 3 }], 2)).toEqual({
      body: 'a,b\r\n1,-1\r\n2,-2\r\nTRUNCATED: this export stops at 2 rows and more matched; narrow the filters to export the rest,\r\n', rows: 2, truncated: true,
    });
  });
});
