import { missingPtlColumns, parseIsoDateTime, PTL_OPTIONAL_COLUMNS, PTL_REQUIRED_COLUMNS, ptlRowReader, validatePtlRow } from './ptl';
import { syntheticNhsNumber } from './nhs-number';

const NOW = new Date('2026-11-23T09:00:00Z');

/** A complete, valid row as a trust would send it; each test changes only what it is about. */
const aRow = (over: Record<string, string | undefined> = {}): Record<string, string | undefined> => ({
  PATIENT_PATHWAY_IDENTIFIER: 'PW-1001',
  NHS_NUMBER: '9990000018',
  PERSON_BIRTH_DATE: '1968-04-02',
  ACTIVITY_TREATMENT_FUNCTION_CODE: '330',
  APPOINTMENT_TYPE: 'NEW',
  REFERRAL_TO_TREATMENT_PERIOD_START_DATE: '2026-03-01',
  Outpatient_Priority_Code: 'P3',
  MOBILE_NUMBER: '+447700900123',
  POSTCODE: 'W6 8RF',
  PERSON_STATED_GENDER_CODE: '2',
  Outpatient_Future_Appointment_Date: '2027-01-05T09:30:00.000Z',
  CURRENT_APPOINTMENT_ID: 'appt-77',
  OFFER_CONSENT: 'Y',
  ICS_WIDE_CONSENT: 'Y',
  ACCEPTABLE_SITES: 'ANY',
  MAX_TRAVEL_KM: '15',
  UNAVAILABLE: '2026-12-24/2026-12-27',
  ...over,
});

const reasons = (over: Record<string, string | undefined>) => {
  const r = validatePtlRow(aRow(over), NOW);
  return r.ok ? [] : r.reasons;
};
const row = (over: Record<string, string | undefined>) => {
  const r = validatePtlRow(aRow(over), NOW);
  if (!r.ok) throw new Error(`row rejected: ${r.reasons.join('; ')}`);
  return r.row;
};

describe('PTL columns', () => {
  it('names the required and optional columns exactly as the contract does', () => {
    expect(PTL_REQUIRED_COLUMNS).toEqual([
      'PATIENT_PATHWAY_IDENTIFIER',
      'NHS_NUMBER',
      'PERSON_BIRTH_DATE',
      'ACTIVITY_TREATMENT_FUNCTION_CODE',
      'APPOINTMENT_TYPE',
      'REFERRAL_TO_TREATMENT_PERIOD_START_DATE',
      'Outpatient_Priority_Code',
    ]);
    expect(PTL_OPTIONAL_COLUMNS).toEqual([
      'MOBILE_NUMBER',
      'POSTCODE',
      'PERSON_STATED_GENDER_CODE',
      'Outpatient_Future_Appointment_Date',
      'CURRENT_APPOINTMENT_ID',
      'OFFER_CONSENT',
      'ICS_WIDE_CONSENT',
      'ACCEPTABLE_SITES',
      'MAX_TRAVEL_KM',
      'UNAVAILABLE',
    ]);
  });

  it('lists the required columns a header lacks', () => {
    expect(missingPtlColumns([...PTL_REQUIRED_COLUMNS])).toEqual([]);
    expect(missingPtlColumns(['NHS_NUMBER', 'PERSON_BIRTH_DATE', 'MOBILE_NUMBER'])).toEqual([
      'PATIENT_PATHWAY_IDENTIFIER',
      'ACTIVITY_TREATMENT_FUNCTION_CODE',
      'APPOINTMENT_TYPE',
      'REFERRAL_TO_TREATMENT_PERIOD_START_DATE',
      'Outpatient_Priority_Code',
    ]);
    expect(missingPtlColumns([])).toEqual([...PTL_REQUIRED_COLUMNS]);
  });

  it("forgives case, stray spaces and Excel's byte-order mark in the header", () => {
    const header = ['\uFEFFpatient_pathway_identifier', ' NHS_NUMBER ', ...PTL_REQUIRED_COLUMNS.slice(2).map((c) => c.toUpperCase())];
    expect(missingPtlColumns(header)).toEqual([]);
    const lowerCased = Object.fromEntries(Object.entries(aRow()).map(([k, v]) => [k.toLowerCase(), v]));
    expect(validatePtlRow(lowerCased, NOW).ok).toBe(true);
  });

  it('reads rows of cells by the header, as validatePtlRow reads the same row keyed by name', () => {
    const header = Object.keys(aRow());
    const read = ptlRowReader(header, NOW);
    expect(read(header.map((c) => aRow()[c]))).toEqual(validatePtlRow(aRow(), NOW));
    const bad = aRow({ NHS_NUMBER: '12', POSTCODE: 'nope', OFFER_CONSENT: 'maybe' });
    expect(read(header.map((c) => bad[c]))).toEqual(validatePtlRow(bad, NOW));
    // A short row lacks its last cells: they read as empty.
    expect(read(header.slice(0, 3).map((c) => aRow()[c]))).toEqual(validatePtlRow(Object.fromEntries(header.slice(0, 3).map((c) => [c, aRow()[c]])), NOW));
  });

  it('takes a column named twice from the spelling that appears last, at its last cell the row reaches', () => {
    const required = PTL_REQUIRED_COLUMNS.map((c) => aRow()[c] as string);
    const read = ptlRowReader([...PTL_REQUIRED_COLUMNS, 'POSTCODE', 'postcode', 'POSTCODE'], NOW);
    const postcodeOf = (cells: string[]) => {
      const r = read([...required, ...cells]);
      return r.ok ? r.row.postcode : r.reasons;
    };
    // "postcode" first appears after "POSTCODE", so it wins wherever "POSTCODE" appears again...
    expect(postcodeOf(['W6 8RF', 'SW10 9NH', 'E1 6AN'])).toBe('SW10 9NH');
    // ...unless the row stops before it.
    expect(postcodeOf(['W6 8RF'])).toBe('W6 8RF');
    // The same spelling twice: its last cell in the row.
    const twice = ptlRowReader([...PTL_REQUIRED_COLUMNS, 'POSTCODE', 'MOBILE_NUMBER', 'POSTCODE'], NOW);
    const r = twice([...required, 'W6 8RF', '', 'E1 6AN']);
    expect(r.ok && r.row.postcode).toBe('E1 6AN');
  });

  it('works out "today" once per reader, from the instant it is given', () => {
    const read = ptlRowReader(PTL_REQUIRED_COLUMNS, NOW);
    const cells = PTL_REQUIRED_COLUMNS.map((c) => aRow({ REFERRAL_TO_TREATMENT_PERIOD_START_DATE: '2026-11-24' })[c] as string);
    expect(read(cells)).toEqual({ ok: false, reasons: ['REFERRAL_TO_TREATMENT_PERIOD_START_DATE is in the future'], pathwayId: 'PW-1001' });
    expect(ptlRowReader(PTL_REQUIRED_COLUMNS, new Date('2026-11-24T09:00:00Z'))(cells).ok).toBe(true);
  });
});

describe('validatePtlRow', () => {
  it('turns a complete row into clean values', () => {
    expect(validatePtlRow(aRow(), NOW)).toEqual({
      ok: true,
      row: {
        pathwayId: 'PW-1001',
        nhsNumber: '9990000018',
        birthDate: new Date('1968-04-02T00:00:00Z'),
        tfc: '330',
        appointmentType: 'NEW',
        rttStart: new Date('2026-03-01T00:00:00Z'),
        priority: 'P3',
        mobile: '+447700900123',
        postcode: 'W6 8RF',
        sex: 'F',
        currentAppointmentStart: new Date('2027-01-05T09:30:00Z'),
        currentAppointmentId: 'appt-77',
        offerConsent: true,
        icsWideConsent: true,
        acceptableSites: 'ANY',
        maxTravelKm: 15,
        unavailable: [{ from: new Date('2026-12-24T00:00:00Z'), to: new Date('2026-12-27T00:00:00Z') }],
      },
    });
  });

  it('fills the defaults for a row with only the required columns', () => {
    const only = Object.fromEntries(PTL_REQUIRED_COLUMNS.map((c) => [c, aRow()[c]]));
    const r = validatePtlRow(only, NOW);
    expect(r.ok && r.row).toMatchObject({
      mobile: null,
      postcode: null,
      sex: null,
      currentAppointmentStart: null,
      currentAppointmentId: null,
      offerConsent: false,
      icsWideConsent: false,
      acceptableSites: [],
      maxTravelKm: null,
      unavailable: [],
    });
  });

  it('tidies what it safely can', () => {
    const r = row({
      NHS_NUMBER: ' 999 000 0018 ',
      APPOINTMENT_TYPE: 'fup',
      Outpatient_Priority_Code: 'p1A',
      MOBILE_NUMBER: '07700 900123',
      POSTCODE: 'w68rf',
      OFFER_CONSENT: 'y',
      ICS_WIDE_CONSENT: 'n',
      ACCEPTABLE_SITES: ' rqm01; RYJ02;RQM01; ',
    });
    expect(r).toMatchObject({
      nhsNumber: '9990000018',
      appointmentType: 'FUP',
      priority: 'P1a',
      mobile: '+447700900123',
      postcode: 'W6 8RF',
      offerConsent: true,
      icsWideConsent: false,
      acceptableSites: ['RQM01', 'RYJ02'],
    });
  });

  describe('one bad value gives one reason naming its column', () => {
    it.each<[string, Record<string, string | undefined>, string]>([
      ['no pathway id', { PATIENT_PATHWAY_IDENTIFIER: '' }, 'PATIENT_PATHWAY_IDENTIFIER is missing'],
      ['absent NHS number', { NHS_NUMBER: undefined }, 'NHS_NUMBER is missing'],
      ['short NHS number', { NHS_NUMBER: '999000001' }, 'NHS_NUMBER is not 10 digits'],
      ['NHS number with letters', { NHS_NUMBER: '999000001X' }, 'NHS_NUMBER is not 10 digits'],
      ['bad check digit', { NHS_NUMBER: '9990000019' }, 'NHS_NUMBER fails the modulus 11 check'],
      ['birth date in another format', { PERSON_BIRTH_DATE: '02/04/1968' }, 'PERSON_BIRTH_DATE is not a date in YYYY-MM-DD'],
      ['birth date that does not exist', { PERSON_BIRTH_DATE: '1968-02-30' }, 'PERSON_BIRTH_DATE is not a date in YYYY-MM-DD'],
      ['two-digit TFC', { ACTIVITY_TREATMENT_FUNCTION_CODE: '33' }, 'ACTIVITY_TREATMENT_FUNCTION_CODE is not a 3-digit treatment function code'],
      ['unknown appointment type', { APPOINTMENT_TYPE: 'FOLLOWUP' }, 'APPOINTMENT_TYPE is not NEW or FUP'],
      ['RTT start that does not exist', { REFERRAL_TO_TREATMENT_PERIOD_START_DATE: '2026-02-30' }, 'REFERRAL_TO_TREATMENT_PERIOD_START_DATE is not a date in YYYY-MM-DD'],
      ['RTT start in the future', { REFERRAL_TO_TREATMENT_PERIOD_START_DATE: '2026-11-24' }, 'REFERRAL_TO_TREATMENT_PERIOD_START_DATE is in the future'],
      ['RTT start before birth', { REFERRAL_TO_TREATMENT_PERIOD_START_DATE: '1968-04-01' }, 'REFERRAL_TO_TREATMENT_PERIOD_START_DATE is before PERSON_BIRTH_DATE'],
      ['unknown priority', { Outpatient_Priority_Code: 'P5' }, 'Outpatient_Priority_Code is not one of P1a, P1b, P2, P3, P4'],
      ['landline', { MOBILE_NUMBER: '020 7946 0123' }, 'MOBILE_NUMBER is not a UK mobile'],
      ['bad postcode', { POSTCODE: 'W6' }, 'POSTCODE is not a UK postcode'],
      ['unknown gender code', { PERSON_STATED_GENDER_CODE: '3' }, 'PERSON_STATED_GENDER_CODE is not one of 1, 2, 9, X, 0, M, F'],
      ['appointment date in words', { Outpatient_Future_Appointment_Date: 'next Tuesday' }, 'Outpatient_Future_Appointment_Date is not an ISO 8601 date or date-time'],
      ['appointment at 25 o’clock', { Outpatient_Future_Appointment_Date: '2027-01-05T25:00:00Z' }, 'Outpatient_Future_Appointment_Date is not an ISO 8601 date or date-time'],
      ['appointment on 31 April', { Outpatient_Future_Appointment_Date: '2027-04-31' }, 'Outpatient_Future_Appointment_Date is not an ISO 8601 date or date-time'],
      ['consent as YES', { OFFER_CONSENT: 'YES' }, 'OFFER_CONSENT is not Y or N'],
      ['ICS consent as 1', { ICS_WIDE_CONSENT: '1' }, 'ICS_WIDE_CONSENT is not Y or N'],
      ['site that is a trust', { ACCEPTABLE_SITES: 'RQM01;RYJ' }, 'ACCEPTABLE_SITES is not ANY or ;-separated site ODS codes (not a site code: RYJ)'],
      ['comma-separated sites', { ACCEPTABLE_SITES: 'RQM01,RYJ02' }, 'ACCEPTABLE_SITES is not ANY or ;-separated site ODS codes (not a site code: RQM01,RYJ02)'],
      ['negative distance', { MAX_TRAVEL_KM: '-5' }, 'MAX_TRAVEL_KM is not a non-negative number'],
      ['distance with units', { MAX_TRAVEL_KM: '10km' }, 'MAX_TRAVEL_KM is not a non-negative number'],
      ['range the wrong way round', { UNAVAILABLE: '2026-12-27/2026-12-24' }, 'UNAVAILABLE range "2026-12-27/2026-12-24" ends before it starts'],
      ['range with one date', { UNAVAILABLE: '2026-12-24' }, 'UNAVAILABLE range "2026-12-24" is not YYYY-MM-DD/YYYY-MM-DD'],
      ['pathway id longer than the exchange stores', { PATIENT_PATHWAY_IDENTIFIER: 'P'.repeat(65) }, 'PATIENT_PATHWAY_IDENTIFIER is longer than 64 characters'],
      ['appointment id longer than the exchange stores', { CURRENT_APPOINTMENT_ID: 'A'.repeat(65) }, 'CURRENT_APPOINTMENT_ID is longer than 64 characters'],
      ['more sites than the exchange stores', { ACCEPTABLE_SITES: Array.from({ length: 51 }, (_, i) => `RQM${String(i).padStart(2, '0')}`).join(';') }, 'ACCEPTABLE_SITES names more than 50 sites'],
      ['more unavailable ranges than the exchange stores', { UNAVAILABLE: Array.from({ length: 51 }, () => '2026-12-24/2026-12-27').join(';') }, 'UNAVAILABLE has more than 50 ranges'],
      ['range with a date that does not exist', { UNAVAILABLE: '2026-12-24/2026-12-32' }, 'UNAVAILABLE range "2026-12-24/2026-12-32" is not YYYY-MM-DD/YYYY-MM-DD'],
    ])('%s', (_what, over, reason) => {
      expect(reasons(over)).toEqual([reason]);
    });
  });

  it('collects every reason in the row at once', () => {
    expect(
      reasons({
        NHS_NUMBER: '9990000019',
        PERSON_BIRTH_DATE: '2026-02-30',
        ACTIVITY_TREATMENT_FUNCTION_CODE: '',
        MOBILE_NUMBER: '12345',
        OFFER_CONSENT: 'maybe',
        UNAVAILABLE: '2026-12-01/2026-12-02;bad;2026-12-05/2026-12-01',
      }),
    ).toEqual([
      'NHS_NUMBER fails the modulus 11 check',
      'PERSON_BIRTH_DATE is not a date in YYYY-MM-DD',
      'ACTIVITY_TREATMENT_FUNCTION_CODE is missing',
      'MOBILE_NUMBER is not a UK mobile',
      'OFFER_CONSENT is not Y or N',
      'UNAVAILABLE range "bad" is not YYYY-MM-DD/YYYY-MM-DD',
      'UNAVAILABLE range "2026-12-05/2026-12-01" ends before it starts',
    ]);
  });

  it('names the pathway of a rejected row when its identifier was readable, so a snapshot keeps that pathway', () => {
    expect(validatePtlRow(aRow({ MOBILE_NUMBER: '020 7946 0123' }), NOW)).toEqual({ ok: false, reasons: ['MOBILE_NUMBER is not a UK mobile'], pathwayId: 'PW-1001' });
    expect(validatePtlRow(aRow({ PATIENT_PATHWAY_IDENTIFIER: ' ', MOBILE_NUMBER: '020 7946 0123' }), NOW)).not.toHaveProperty('pathwayId');
    expect(validatePtlRow(aRow({ PATIENT_PATHWAY_IDENTIFIER: 'P'.repeat(65) }), NOW)).not.toHaveProperty('pathwayId');
  });

  it('rejects a control character in any column it reads, naming the column and never the value', () => {
    // Postgres refuses U+0000 in text with the whole statement: a NUL must stop at its own row.
    expect(reasons({ PATIENT_PATHWAY_IDENTIFIER: 'PW\u00001' })).toEqual(['PATIENT_PATHWAY_IDENTIFIER contains a control character (U+0000)']);
    expect(reasons({ CURRENT_APPOINTMENT_ID: 'appt\u001B77' })).toEqual(['CURRENT_APPOINTMENT_ID contains a control character (U+001B)']);
    expect(reasons({ POSTCODE: 'W6\u00008RF' })).toContain('POSTCODE contains a control character (U+0000)');
    expect(reasons({ NHS_NUMBER: '999000\u00000018' })).toContain('NHS_NUMBER contains a control character (U+0000)');
    // An identifier the exchange could not even be sent protects no pathway.
    expect(validatePtlRow(aRow({ PATIENT_PATHWAY_IDENTIFIER: 'PW\u00001' }), NOW)).not.toHaveProperty('pathwayId');
    // Surrounding tabs and line breaks are trimmed as any white space is.
    expect(row({ PATIENT_PATHWAY_IDENTIFIER: '\tPW-1001\r\n' }).pathwayId).toBe('PW-1001');
  });

  it('lists every missing required column of an empty row', () => {
    expect(validatePtlRow({}, NOW)).toEqual({ ok: false, reasons: PTL_REQUIRED_COLUMNS.map((c) => `${c} is missing`) });
  });

  it('never echoes personal data in a reason', () => {
    const r = reasons({ NHS_NUMBER: '9990000019', PERSON_BIRTH_DATE: '1968-02-30', MOBILE_NUMBER: '07012 345678', POSTCODE: 'QQ1 1QQ' });
    expect(r).toHaveLength(4);
    for (const text of r) {
      expect(text).not.toMatch(/999000|1968|07012|345678|QQ1/);
    }
  });

  it('refuses a birth date in the future (which also puts the RTT start before birth)', () => {
    expect(reasons({ PERSON_BIRTH_DATE: '2026-11-24' })).toEqual([
      'PERSON_BIRTH_DATE is in the future',
      'REFERRAL_TO_TREATMENT_PERIOD_START_DATE is before PERSON_BIRTH_DATE',
    ]);
  });

  it('rejects dates outside the years 1900 to 9999, which the exchange does not take (naming the column)', () => {
    expect(reasons({ PERSON_BIRTH_DATE: '0001-01-01', REFERRAL_TO_TREATMENT_PERIOD_START_DATE: '1899-12-31' })).toEqual([
      'PERSON_BIRTH_DATE is outside the years 1900 to 9999',
      'REFERRAL_TO_TREATMENT_PERIOD_START_DATE is outside the years 1900 to 9999',
    ]);
    expect(reasons({ PERSON_BIRTH_DATE: '0050-06-01', REFERRAL_TO_TREATMENT_PERIOD_START_DATE: '0099-06-01' })).toContain('PERSON_BIRTH_DATE is outside the years 1900 to 9999');
    // An instant is judged by the UTC year the exchange is sent: 9999-12-31T23:00-14:00 is in 10000.
    for (const when of ['0050-06-01T10:00', '9999-12-31T23:00-14:00', '1900-01-01T00:30+01:00']) {
      expect(reasons({ Outpatient_Future_Appointment_Date: when })).toEqual(['Outpatient_Future_Appointment_Date is outside the years 1900 to 9999']);
    }
    expect(reasons({ UNAVAILABLE: '2026-12-24/2026-12-27;0001-01-01/0001-01-02' })).toEqual(['UNAVAILABLE range "0001-01-01/0001-01-02" is outside the years 1900 to 9999']);
    expect(reasons({ PERSON_BIRTH_DATE: '1900-01-01', Outpatient_Future_Appointment_Date: '9999-12-31T12:00Z', UNAVAILABLE: '1900-01-01/9999-12-31' })).toEqual([]);
  });

  it('accepts a birth date and RTT start of today, and an RTT start on the day of birth', () => {
    expect(reasons({ PERSON_BIRTH_DATE: '2026-11-23', REFERRAL_TO_TREATMENT_PERIOD_START_DATE: '2026-11-23' })).toEqual([]);
  });

  it('judges "today" on the London calendar', () => {
    // 23:30 UTC on 1 July is already 2 July in London.
    const lateEvening = new Date('2026-07-01T23:30:00Z');
    const r = validatePtlRow(aRow({ PERSON_BIRTH_DATE: '2026-07-02', REFERRAL_TO_TREATMENT_PERIOD_START_DATE: '2026-07-02', Outpatient_Future_Appointment_Date: '' }), lateEvening);
    expect(r.ok).toBe(true);
  });

  it.each([
    ['1', 'M'],
    ['2', 'F'],
    ['9', 'U'],
    ['X', 'U'],
    ['x', 'U'],
    ['0', 'U'],
    ['M', 'M'],
    ['f', 'F'],
    ['', null],
  ])('reads gender code %p as %p', (code, sex) => {
    expect(row({ PERSON_STATED_GENDER_CODE: code }).sex).toBe(sex);
  });

  it('reads sites, distances and unavailable ranges', () => {
    expect(row({ ACCEPTABLE_SITES: 'any' }).acceptableSites).toBe('ANY');
    expect(row({ ACCEPTABLE_SITES: 'RQM01' }).acceptableSites).toEqual(['RQM01']);
    expect(row({ ACCEPTABLE_SITES: '' }).acceptableSites).toEqual([]);
    expect(row({ MAX_TRAVEL_KM: '0' }).maxTravelKm).toBe(0);
    expect(row({ MAX_TRAVEL_KM: '12.5' }).maxTravelKm).toBe(12.5);
    expect(row({ UNAVAILABLE: '2026-12-24/2026-12-24; 2027-01-02/2027-01-09;' }).unavailable).toEqual([
      { from: new Date('2026-12-24T00:00:00Z'), to: new Date('2026-12-24T00:00:00Z') },
      { from: new Date('2027-01-02T00:00:00Z'), to: new Date('2027-01-09T00:00:00Z') },
    ]);
  });

  it('takes the consent flags as N when blank', () => {
    const r = row({ OFFER_CONSENT: '', ICS_WIDE_CONSENT: undefined });
    expect([r.offerConsent, r.icsWideConsent]).toEqual([false, false]);
  });

  it('accepts any synthetic 999-range NHS number', () => {
    for (let seed = 0; seed < 50; seed++) expect(reasons({ NHS_NUMBER: syntheticNhsNumber(seed * 7919) })).toEqual([]);
  });
});

describe('Outpatient_Future_Appointment_Date (ISO 8601)', () => {
  it.each([
    ['2027-01-05T09:30:00.000Z', '2027-01-05T09:30:00.000Z', 'JavaScript toISOString'],
    ['2027-01-05T09:30:00Z', '2027-01-05T09:30:00.000Z', 'UTC'],
    ['2027-01-05T09:30Z', '2027-01-05T09:30:00.000Z', 'no seconds'],
    ['2027-07-05T09:30:00+01:00', '2027-07-05T08:30:00.000Z', 'with offset'],
    ['2027-07-05T09:30:00+0100', '2027-07-05T08:30:00.000Z', 'basic offset'],
    ['2027-07-05T09:30:00-05', '2027-07-05T14:30:00.000Z', 'hours-only offset'],
    ['2027-01-05T09:30:00', '2027-01-05T09:30:00.000Z', 'London winter wall clock'],
    ['2027-07-05T09:30:00', '2027-07-05T08:30:00.000Z', 'London summer wall clock'],
    ['2027-07-05 09:30', '2027-07-05T08:30:00.000Z', 'space instead of T'],
    ['2027-07-05', '2027-07-04T23:00:00.000Z', 'a date alone: the start of that London day'],
    ['2027-01-05', '2027-01-05T00:00:00.000Z', 'a winter date alone'],
  ])('%p -> %p (%s)', (input, iso) => {
    expect(parseIsoDateTime(input, 'Europe/London')?.toISOString()).toBe(iso);
  });

  it.each(['2027-01-05T09:30:00+15:00', '2027-01-05T09:60', '2027-01-05T', '05/01/2027 09:30', '2027-1-5'])('rejects %p', (s) => {
    expect(parseIsoDateTime(s, 'Europe/London')).toBeNull();
  });
});
