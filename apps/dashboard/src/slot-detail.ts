/**
 * One freed slot as an operator needs it: its waves, each offer with the patient's rank and why
 * they ranked there, and every event with its time. Patient-level fields are filtered here by the
 * viewer's role (access.ts), so no template can show more than the role allows.
 */
import { EntityManager } from 'typeorm';
import { Principal, maySeePatient, shownNhsNumber } from './auth/access';
import { SLOT_STATE } from './overview.queries';
import { formatDateTime } from './pages';

type Q = Pick<EntityManager, 'query'>;

export interface SlotEvent { at: Date; what: string }

export interface OfferView {
  id: string;
  waveRound: number;
  patientTrust: string;
  /** Null when the viewer may not see this patient. */
  patient: null | { nhsNumber: string; rank: number; explanation: Record<string, unknown>; summary: string };
  status: string;
  createdAt: Date;
  respondedAt: Date | null;
  endedAt: Date | null;
}

/** `timeZone`: the ICS's (Europe/London), for times written into an event's words as the page shows the rest. */
export async function slotDetail(q: Q, slotId: string, viewer: Principal, timeZone: string) {
  const [slot] = await q.query(`SELECT * FROM slot WHERE id = $1`, [slotId]);
  if (!slot) return null;
  const [waves, offers, sms, bookings, writebacks] = await Promise.all([
    q.query(`SELECT * FROM offer_wave WHERE slot_id = $1 ORDER BY round`, [slotId]),
    q.query(
      `SELECT o.id, o.rank, o.explanation, o.status, o.created_at, o.responded_at, o.ended_at, o.wave_id, e.trust_ods AS patient_trust, p.nhs_number
         FROM offer o JOIN waiting_list_entry e ON e.id = o.entry_id JOIN patient p ON p.id = o.patient_id
        WHERE o.slot_id = $1 ORDER BY o.created_at, o.rank`,
      [slotId],
    ),
    q.query(
      `SELECT m.offer_id, m.kind, m.status, m.created_at, m.sent_at, m.status_at FROM sms_message m JOIN offer o ON o.id = m.offer_id
        WHERE o.slot_id = $1 ORDER BY m.created_at`,
      [slotId],
    ),
    q.query(`SELECT * FROM booking WHERE slot_id = $1 ORDER BY created_at`, [slotId]),
    q.query(`SELECT w.* FROM writeback w JOIN booking b ON b.id = w.booking_id WHERE b.slot_id = $1 ORDER BY w.created_at`, [slotId]),
  ]);
  const roundOfWave = new Map<string, number>(waves.map((w: any) => [w.id, w.round]));
  const offerViews: OfferView[] = offers.map((o: any) => ({
    id: o.id,
    waveRound: roundOfWave.get(o.wave_id) ?? 0,
    patientTrust: o.patient_trust,
    patient: maySeePatient(viewer, o.patient_trust)
      ? { nhsNumber: shownNhsNumber(viewer, o.nhs_number, o.patient_trust), rank: o.rank, explanation: o.explanation, summary: String(o.explanation?.summary ?? '') }
      : null,
    status: o.status,
    createdAt: o.created_at,
    respondedAt: o.responded_at,
    endedAt: o.ended_at,
  }));
  // Which offer an SMS or booking concerns is told by its place in the wave, never by patient detail.
  const label = new Map<string, string>(offerViews.map((o) => [o.id, `wave ${o.waveRound}, ${o.patient ? `rank ${o.patient.rank}` : `a ${o.patientTrust} patient`}`]));
  const events: SlotEvent[] = [{ at: slot.released_at, what: `Freed by ${slot.trust_ods} (${slot.status === 'too_late' ? 'inside the minimum notice' : 'entered matching'})` }];
  for (const w of waves) {
    events.push({ at: w.created_at, what: `Wave ${w.round} created (policy v${w.policy_version}), sends from ${formatDateTime(w.send_at, timeZone)}` });
    if (w.ended_at) events.push({ at: w.ended_at, what: `Wave ${w.round} ended${w.ended_reason ? `: ${w.ended_reason}` : ''}` });
  }
  for (const o of offerViews) {
    events.push({ at: o.createdAt, what: `Offer made (${label.get(o.id)})` });
    if (o.respondedAt) events.push({ at: o.respondedAt, what: `Patient answered (${label.get(o.id)}): ${o.status}` });
    if (o.endedAt && o.status !== 'accepted' && o.status !== 'declined') events.push({ at: o.endedAt, what: `Offer ${o.status} (${label.get(o.id)})` });
  }
  for (const m of sms) {
    if (m.sent_at) events.push({ at: m.sent_at, what: `SMS ${m.kind} sent (${label.get(m.offer_id) ?? 'offer'})` });
    if (m.status_at && m.status !== 'sent') events.push({ at: m.status_at, what: `SMS ${m.kind} ${m.status} (${label.get(m.offer_id) ?? 'offer'})` });
  }
  for (const b of bookings) {
    events.push({ at: b.created_at, what: `Booked (${label.get(b.offer_id) ?? 'offer'}), write-back to ${b.owning_trust_ods} ordered` });
    if (b.confirmed_at) events.push({ at: b.confirmed_at, what: `Booking confirmed by ${b.owning_trust_ods}'s PAS` });
    if (b.failed_at) events.push({ at: b.failed_at, what: `Booking failed: ${b.failure_reason ?? 'write-back failed'}` });
  }
  for (const w of writebacks) {
    if (w.completed_at) events.push({ at: w.completed_at, what: `Write-back ${w.kind} at ${w.trust_ods}: ${w.status} after ${w.attempts} attempt(s)` });
  }
  if (slot.closed_at) events.push({ at: slot.closed_at, what: `Closed: ${SLOT_STATE[slot.status] ?? slot.status}${slot.closed_reason ? ` (${slot.closed_reason})` : ''}` });
  events.sort((a, b) => new Date(a.at).getTime() - new Date(b.at).getTime());
  return {
    slot: { ...slot, state: SLOT_STATE[slot.status] ?? slot.status },
    waves: waves.map((w: any) => ({ ...w, offers: offerViews.filter((o) => o.waveRound === w.round) })),
    bookings: bookings.map((b: any) => ({ id: b.id, status: b.status, home_trust_ods: b.home_trust_ods, created_at: b.created_at, confirmed_at: b.confirmed_at, failed_at: b.failed_at, needs_attention: b.needs_attention })),
    events,
    patientsShown: offerViews.filter((o) => o.patient).length,
  };
}
