/**
 * Building SIU messages the way a trust PAS sends them, for the PAS sandbox and tests. The shape
 * follows the acceptance suite's `siu()` (MSH, SCH, PID, RGS, AIS, AIL, AIP), so what the sandbox
 * sends is what the acceptance tests send. Unlike the readers this is not an edge: bad input is a
 * caller bug and throws.
 */
import { escapeEr7 } from './er7';
import type { SiuEvent } from './siu';
import { formatHl7Timestamp } from './timestamp';

export { formatHl7Timestamp, parseHl7Timestamp } from './timestamp';

export interface SiuFields {
  event: SiuEvent;
  controlId: string;
  /** Trust ODS code (MSH-4). */
  sendingFacility: string;
  placerId?: string;
  fillerId: string;
  start: Date;
  minutes: number;
  clinic: string;
  /** Defaults as the acceptance builder does: FUP when the clinic code ends in FUP, else NEW. */
  appointmentType?: 'NEW' | 'FUP';
  siteOds: string;
  nhsNumber?: string;
  clinicianId?: string;
  /** SCH-6.1; defaults to PATCAN for S15 and BOOKED otherwise. */
  eventReason?: string;
  /** SCH-25.1; defaults from HL7 table 0278 by event. */
  status?: string;
  now: Date;
}

const DEFAULT_STATUS: Record<SiuEvent, string> = {
  S12: 'Booked',
  S13: 'Booked',
  S14: 'Booked',
  S15: 'Cancelled',
  S17: 'Deleted',
  S26: 'Noshow',
};

export function buildSiu(f: SiuFields): string {
  if (!Number.isInteger(f.minutes) || f.minutes <= 0) throw new RangeError('buildSiu: minutes must be a positive integer');
  const e = (v: string | undefined): string => escapeEr7(v ?? '');
  const start = formatHl7Timestamp(f.start);
  const seg = (...xs: string[]): string => xs.join('|');

  const sch: string[] = Array<string>(26).fill('');
  sch[0] = 'SCH';
  sch[1] = e(f.placerId);
  sch[2] = e(f.fillerId);
  sch[6] =
    f.eventReason !== undefined ? e(f.eventReason) : f.event === 'S15' ? 'PATCAN^Cancelled by patient' : 'BOOKED';
  sch[8] = f.appointmentType ?? (f.clinic.endsWith('FUP') ? 'FUP' : 'NEW');
  sch[9] = String(f.minutes);
  sch[10] = 'MIN';
  sch[11] = `^^^${start}`;
  sch[25] = e(f.status ?? DEFAULT_STATUS[f.event]);

  return [
    seg('MSH', '^~\\&', 'PAS', e(f.sendingFacility), 'SLOTX', 'ICS', formatHl7Timestamp(f.now), '', `SIU^${f.event}^SIU_S12`, e(f.controlId), 'P', '2.5.1'),
    sch.join('|'),
    // Synthetic demographics, as the acceptance builder sends: readers must not depend on them.
    seg('PID', '1', '', f.nhsNumber ? `${e(f.nhsNumber)}^^^NHS^NH` : '', '', 'TEST^PATIENT', '', '19700101', 'U'),
    seg('RGS', '1'),
    seg('AIS', '1', '', `${e(f.clinic)}^${e(f.clinic)}`, start, '', '', String(f.minutes), 'MIN'),
    seg('AIL', '1', '', `^^^${e(f.siteOds)}`),
    seg('AIP', '1', '', e(f.clinicianId)),
  ].join('\r');
}
