/**
 * A TypeScript copy of `siu()` and `hl7Time()` from the acceptance suite's lib.mjs
 * (shared/acceptance/lib.mjs), kept byte-for-byte in behaviour so our reader is tested against
 * exactly what the acceptance tests (and trusts modelled on them) send. The .mjs is not imported:
 * it is ESM with side effects (env reads, random state) and lives outside this repository.
 */
export interface AcceptanceSiuFields {
  event: string;
  controlId: string;
  ods: string;
  site: string;
  placerId?: string;
  fillerId: string;
  start: Date;
  minutes: number;
  clinic: string;
  status?: string;
  nhs?: string;
}

const pad = (n: number): string => String(n).padStart(2, '0');

export function hl7Time(d: Date): string {
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}00+0000`;
}

export function acceptanceSiu(f: AcceptanceSiuFields): string {
  const seg = (...xs: Array<string | undefined>): string => xs.join('|');
  const sch: Array<string | undefined> = Array<string>(26).fill('');
  sch[0] = 'SCH';
  sch[1] = f.placerId;
  sch[2] = f.fillerId;
  sch[6] = f.event === 'S15' ? 'PATCAN^Cancelled by patient' : 'BOOKED';
  sch[8] = f.clinic.endsWith('FUP') ? 'FUP' : 'NEW';
  sch[9] = String(f.minutes);
  sch[10] = 'MIN';
  sch[11] = `^^^${hl7Time(f.start)}`;
  sch[25] = f.status ?? (f.event === 'S15' ? 'Cancelled' : 'Booked');
  return [
    seg('MSH', '^~\\&', 'PAS', f.ods, 'SLOTX', 'ICS', hl7Time(new Date()), '', `SIU^${f.event}^SIU_S12`, f.controlId, 'P', '2.5.1'),
    sch.join('|'),
    // lib.mjs interpolates f.nhs directly, so an absent NHS number is sent as the text "undefined".
    seg('PID', '1', '', `${f.nhs}^^^NHS^NH`, '', 'TEST^PATIENT', '', '19700101', 'U'),
    seg('RGS', '1'),
    seg('AIS', '1', '', `${f.clinic}^${f.clinic}`, hl7Time(f.start), '', '', String(f.minutes), 'MIN'),
    seg('AIL', '1', '', `^^^${f.site}`),
    seg('AIP', '1', '', 'C1234567^CLINICIAN^TEST'),
  ].join('\r');
}
