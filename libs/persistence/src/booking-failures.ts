/**
 * The operators' failures list for bookings (`booking_failure`, read by the dashboard's failures
 * page): one row per booking and kind, written in the transaction that found the problem. The
 * booking service lists what its write-backs left for a person; the exchange lists a booked slot
 * the PAS deleted.
 */
import { EntityManager } from 'typeorm';
import { rows } from './outbox';

/** A slot's closed reason when its PAS deleted it (SIU^S17): it is withdrawn, never offered again. */
export const DELETED_IN_PAS = 'deleted in the PAS (SIU^S17)';

/**
 * Why a booking needs a person:
 * - `writeback-failed`: the owning PAS refused (or answered too late for) the booking; the patient was told "could not";
 * - `no-pas-answer`: the owning PAS never answered, before the slot's cut-off or before its adapter gave up
 *   after a try the PAS may have acted on; the patient was told "could not", the slot closed, and the PAS
 *   may hold an appointment for it;
 * - `double-held`: the booking stands but the old appointment at the home trust could not be cancelled;
 * - `pas-deleted`: the PAS deleted (SIU^S17) the slot after a patient claimed it.
 */
export type BookingFailureKind = 'writeback-failed' | 'no-pas-answer' | 'double-held' | 'pas-deleted';

export interface BookingFailureRecord {
  bookingId: string;
  kind: BookingFailureKind;
  /** The trust a person has to deal with. */
  trustOds: string;
  slotId: string;
  reason: string;
}

/** Lists a booking's failure once per kind; true when this call listed it (a repeat changes nothing). */
export async function listBookingFailure(tx: Pick<EntityManager, 'query'>, f: BookingFailureRecord): Promise<boolean> {
  const listed = await rows(tx,
    `INSERT INTO booking_failure (booking_id, kind, trust_ods, slot_id, reason) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (booking_id, kind) DO NOTHING RETURNING id`,
    [f.bookingId, f.kind, f.trustOds, f.slotId, f.reason.slice(0, 500)],
  );
  return listed.length > 0;
}
