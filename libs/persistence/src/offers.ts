/**
 * Offer-wave transitions shared by the exchange (expiry, cut-off) and booking (declines): ending a
 * wave tells the patients whose offers lapsed, and hands the slot to the next round of matching.
 */
import { slotWording } from '@app/contracts';
import { IcsDirectory } from '@app/platform';
import { EntityManager } from 'typeorm';
import { enqueue, rows } from './outbox';
import { queueSms } from './sms';

type Tx = Pick<EntityManager, 'query'>;

export interface SlotForWording {
  trust_ods: string;
  site_ods: string;
  tfc: string;
  start_at: Date | string;
}

export function wordingFor(ics: IcsDirectory, s: SlotForWording): Record<string, string> {
  const site = ics.site(s.site_ods);
  return { ...slotWording({
    hospital: site?.trust.name ?? s.trust_ods,
    site: site?.site.name ?? s.site_ods,
    specialty: ics.specialty(s.tfc),
    start: new Date(s.start_at),
    timeZone: ics.timeZone,
  }) };
}

/**
 * Ends a live wave: its remaining live offers become `lapse` (`expired` or `withdrawn`), each of
 * those patients is told once, and — when `rematch` — the slot goes to the next round.
 * Returns false when the wave had already ended (someone else got there first).
 */
export async function endWave(
  tx: Tx,
  ics: IcsDirectory,
  waveId: string,
  reason: string,
  opts: { lapse?: 'expired' | 'withdrawn'; rematch: boolean },
): Promise<boolean> {
  const waves: Array<{ slot_id: string; round: number }> = await rows(tx,
    `UPDATE offer_wave SET status = 'ended', ended_at = now(), ended_reason = $2 WHERE id = $1 AND status = 'live' RETURNING slot_id, round`,
    [waveId, reason],
  );
  if (waves.length === 0) return false;
  const { slot_id: slotId, round } = waves[0];
  const lapse = opts.lapse ?? 'expired';
  const lapsed: Array<{ id: string; patient_id: string }> = await rows(tx,
    `UPDATE offer SET status = $2, ended_at = now() WHERE wave_id = $1 AND status = 'live' RETURNING id, patient_id`,
    [waveId, lapse],
  );
  if (lapsed.length > 0) {
    const [slot] = await tx.query(`SELECT trust_ods, site_ods, tfc, start_at FROM slot WHERE id = $1`, [slotId]);
    const words = wordingFor(ics, slot);
    for (const o of lapsed) {
      await queueSms(tx, { patientId: o.patient_id, offerId: o.id, kind: lapse === 'expired' ? 'expired' : 'withdrawn', personalisation: words, dedupeKey: `ended-${o.id}` });
    }
  }
  if (opts.rematch) await enqueue(tx, 'match-slot', { slotId, round: round + 1 });
  return true;
}
