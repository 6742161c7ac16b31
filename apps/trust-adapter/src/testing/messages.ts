/** SIU messages as RQM's PAS sends them, for the adapter's integration and fault suites. */
import { syntheticNhsNumber } from '@app/domain';
import { buildSiu } from '@app/hl7';

const HOUR = 3_600_000;
let seq = 0;

/** An id unique within a run (control ids, filler ids), at most 20 characters. */
export const uid = (p: string) => `${p}${Date.now().toString(36)}${(seq++).toString(36)}`.toUpperCase().slice(0, 20);
/** An instant `h` hours ahead (well past MIN_NOTICE_HOURS by default). */
export const later = (h = 96) => new Date(Date.now() + h * HOUR);

/** A valid RQM SIU (an S15 at clinic 330-NEW, site RQM01, four days ahead) unless told otherwise. */
export function siu(over: Partial<Parameters<typeof buildSiu>[0]> = {}): string {
  return buildSiu({
    event: 'S15', controlId: uid('M'), sendingFacility: 'RQM', fillerId: uid('F'), start: later(), minutes: 20, clinic: '330-NEW', siteOds: 'RQM01',
    nhsNumber: syntheticNhsNumber(seq), now: new Date(), ...over,
  });
}

export const controlIdOf = (m: string) => m.split('\r')[0].split('|')[9];
export const fillerOf = (m: string) => m.split('\r')[1].split('|')[2];
