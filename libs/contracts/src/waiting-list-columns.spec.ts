import { plainToInstance } from 'class-transformer';
import { ValidationError, validate } from 'class-validator';
import { WaitingListBatchDto, WaitingListRowDto, checkWaitingListColumns, rowsToColumns } from './exchange-api';

const row = (over: Partial<WaitingListRowDto> = {}): WaitingListRowDto => ({
  rowNumber: 1, pathwayId: 'PW1', nhsNumber: '9990000018', birthDate: '1970-01-01', tfc: '330', appointmentType: 'NEW', rttStart: '2026-03-01',
  priority: 'P3', mobile: '+447700900101', postcode: 'SW10 9NH', sex: null, currentAppointmentStart: '2027-01-15T09:30:00.000Z', currentAppointmentId: 'A1',
  offerConsent: true, icsWideConsent: false, acceptableSites: ['ANY'], maxTravelKm: null, unavailable: [{ from: '2026-12-20', to: '2026-12-31' }], ...over,
});

describe('columnar waiting-list batches', () => {
  it('carries rows as columns, row i at index i of every column', () => {
    const c = rowsToColumns([row(), row({ rowNumber: 2, pathwayId: 'PW2', mobile: undefined, acceptableSites: ['RQM01', 'RQM02'] })]);
    expect(c.pathwayId).toEqual(['PW1', 'PW2']);
    expect(c.mobile).toEqual(['+447700900101', null]);
    expect(c.acceptableSites).toEqual([['ANY'], ['RQM01', 'RQM02']]);
    expect(checkWaitingListColumns(c)).toEqual([]);
  });

  it('names the column and index of each value that breaks its rule', () => {
    const c = rowsToColumns([row(), row({ rowNumber: 2, pathwayId: 'PW2' })]);
    c.nhsNumber[1] = '99900000';
    c.birthDate[0] = '2026-02-30'; // not a day Postgres would take
    c.acceptableSites[1] = ['RQM01;RQM02'];
    (c.priority as unknown[])[0] = 'P9';
    expect(checkWaitingListColumns(c)).toEqual([
      'columns.nhsNumber[1] must be 10 digits',
      'columns.birthDate[0] must be a date YYYY-MM-DD in the years 1900 to 9999',
      'columns.priority[0] must be one of P1a, P1b, P2, P3, P4',
      "columns.acceptableSites[1] must be a list of at most 50 site codes (1 to 64 characters, no ';' or control character)",
    ]);
  });

  it('takes a day only in the years 1900 to 9999 (0000-0099 are not read as 19xx), the rule the adapter rejects rows by', () => {
    const c = rowsToColumns([row(), row({ rowNumber: 2, pathwayId: 'PW2' }), row({ rowNumber: 3, pathwayId: 'PW3' })]);
    c.birthDate[0] = '0001-01-01';
    c.birthDate[1] = '0050-06-01';
    c.rttStart[2] = '1899-12-31';
    c.currentAppointmentStart[1] = '0050-06-01T10:00:00.000Z';
    c.unavailable[2] = [{ from: '0001-01-01', to: '0001-01-02' }];
    expect(checkWaitingListColumns(c)).toEqual([
      'columns.birthDate[0] must be a date YYYY-MM-DD in the years 1900 to 9999',
      'columns.birthDate[1] must be a date YYYY-MM-DD in the years 1900 to 9999',
      'columns.rttStart[2] must be a date YYYY-MM-DD in the years 1900 to 9999',
      'columns.currentAppointmentStart[1] must be null or an ISO 8601 date-time in the years 1900 to 9999',
      'columns.unavailable[2] must be a list of at most 50 {from, to} ISO 8601 date-times in the years 1900 to 9999',
    ]);
    const edges = rowsToColumns([row({ birthDate: '1900-01-01', currentAppointmentStart: '9999-12-31T23:59:59.999Z', unavailable: [{ from: '9999-12-31', to: '9999-12-31' }] })]);
    expect(checkWaitingListColumns(edges)).toEqual([]);
  });

  it('refuses a control character in any text, which Postgres would refuse with the whole batch', () => {
    const c = rowsToColumns([row(), row({ rowNumber: 2, pathwayId: 'PW2' })]);
    c.pathwayId[1] = 'PW\u00002';
    c.postcode[0] = 'SW10\u00009NH';
    c.currentAppointmentId[1] = 'A\u001B1';
    c.acceptableSites[0] = ['RQM\u000001'];
    expect(checkWaitingListColumns(c)).toEqual([
      'columns.pathwayId[1] must be a string of 1 to 64 characters, none a control character',
      'columns.postcode[0] must be null or a string of at most 10 characters, none a control character',
      'columns.currentAppointmentId[1] must be null or a string of 1 to 64 characters, none a control character',
      "columns.acceptableSites[0] must be a list of at most 50 site codes (1 to 64 characters, no ';' or control character)",
    ]);
  });

  it('refuses a control character in a row sent as an object, naming the field', async () => {
    const dto = plainToInstance(WaitingListBatchDto, { mode: 'delta', rows: [row({ pathwayId: 'PW\u00001', acceptableSites: ['RQM01', 'RQM\u000102'] })] });
    const messages = (errors: ValidationError[]): string[] => errors.flatMap((e) => [...Object.values(e.constraints ?? {}), ...messages(e.children ?? [])]);
    expect(messages(await validate(dto))).toEqual(['pathwayId must not contain a control character', 'each value in acceptableSites must not contain a control character']);
  });

  it('refuses missing, unknown and unequal columns, and what is not an object', () => {
    const c = rowsToColumns([row()]) as unknown as Record<string, unknown[]>;
    delete c.tfc;
    c.extra = [1];
    c.mobile = [];
    expect(checkWaitingListColumns(c)).toEqual([
      'columns.extra is not a known column',
      'columns.tfc must be an array',
      'columns.mobile has 0 values; columns.rowNumber has 1',
    ]);
    expect(checkWaitingListColumns([])).toEqual(['columns must be an object of arrays']);
    expect(checkWaitingListColumns({ ...rowsToColumns([row()]), rowNumber: Array.from({ length: 10_001 }, (_, i) => i + 1) })).toEqual([
      'columns hold 10001 rows; at most 10000 per batch',
    ]);
  });

  it('lists at most the limit of problems', () => {
    const c = rowsToColumns(Array.from({ length: 100 }, (_, i) => row({ rowNumber: i + 1, pathwayId: `PW${i}`, tfc: 'X' })));
    expect(checkWaitingListColumns(c, 5)).toHaveLength(5);
  });
});

describe('object-row waiting-list batches', () => {
  const problems = async (r: WaitingListRowDto) => {
    const errors = await validate(plainToInstance(WaitingListBatchDto, { mode: 'delta', rows: [r] }));
    const flat = (es: ValidationError[]): string[] => es.flatMap((e) => [...Object.values(e.constraints ?? {}), ...flat(e.children ?? [])]);
    return flat(errors);
  };

  it('takes dates by the same rule as the columnar form: years 1900 to 9999, real calendar days', async () => {
    expect(await problems(row())).toEqual([]);
    expect(await problems(row({ birthDate: '1900-01-01', currentAppointmentStart: '9999-12-31T23:59:59.999Z', unavailable: [{ from: '9999-12-31', to: '9999-12-31' }] }))).toEqual([]);
    expect(await problems(row({ birthDate: '0001-01-01' }))).toEqual(['birthDate must be a date YYYY-MM-DD in the years 1900 to 9999']);
    expect(await problems(row({ rttStart: '2026-02-30' }))).toEqual(['rttStart must be a date YYYY-MM-DD in the years 1900 to 9999']);
    expect(await problems(row({ currentAppointmentStart: '0050-06-01T10:00:00.000Z' }))).toEqual(['currentAppointmentStart must be an ISO 8601 date-time in the years 1900 to 9999']);
    expect(await problems(row({ unavailable: [{ from: '0001-01-01', to: '2026-01-02' }] }))).toEqual(['from must be an ISO 8601 date-time in the years 1900 to 9999']);
  });
});
