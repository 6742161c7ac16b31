/**
 * Undoing a booking the owning PAS does not hold: shared by the write-back outcome (the PAS refused,
 * or answered too late) and the reconciler (the PAS never answered before the slot's cut-off), so
 * both leave the same state behind and tell the patient and the booking team the same way.
 */
import { JobOutcome, closeSlotSuffix, queueFor } from '@app/contracts';
import { Clock, MatchingPolicy, isInsideMinimumNotice, noticeCutoff } from '@app/domain';
import { BookingFailureKind, DELETED_IN_PAS, enqueue, listBookingFailure, policyInForce, queueSms, wordingFor } from '@app/persistence';
import { IcsDirectory, MetricsService } from '@app/platform';
import { EntityManager } from 'typeorm';

export interface FailureContext {
  clock: Clock;
  /** The configured policy; the recorded one in force wins (`policyInForce`). */
  policy: MatchingPolicy;
  ics: IcsDirectory;
  metrics: MetricsService;
}

export interface BookingFailure {
  kind: Extract<BookingFailureKind, 'writeback-failed' | 'no-pas-answer'>;
  /** What went wrong: the booking's failure reason and the failures page's detail. */
  reason: string;
  /** The slot's closed reason when it is inside the notice and cannot be offered again. */
  closedReason: string;
  /**
   * The PAS may hold an appointment in the slot for this booking (its write-back went unanswered):
   * the slot is closed (with `closedReason`) whatever the time, for offering it again would give
   * it a second appointment.
   */
  pasMayHold?: boolean;
}

/**
 * Fails a pending booking (the caller holds its slot's row lock, then the booking's, taken in that
 * order: lock-order.ts): the patient's entry reopens; the slot
 * goes back to matching while outside the notice in force and not possibly held in the PAS, else
 * closes unfilled, and closes as
 * withdrawn whatever the time when the PAS deleted it meanwhile (S17: it no longer exists); the
 * patient is told "could not"; the booking team sees it on the failures page. `wrote` gathers the
 * queues of the jobs written (for a relay's wake-up after the commit).
 */
export async function failBooking(
  tx: EntityManager, ctx: FailureContext, booking: Record<string, any>, failure: BookingFailure, wrote: Set<string>,
): Promise<JobOutcome> {
  if (booking.status !== 'pending') return { status: 'skipped', reason: `booking is ${booking.status}` };
  // Locked by the caller already, before the booking; read again here.
  const [slot] = await tx.query(`SELECT * FROM slot WHERE id = $1 FOR UPDATE`, [booking.slot_id]);
  await tx.query(
    `UPDATE booking SET status = 'failed', failed_at = now(), failure_reason = $2, needs_attention = 'booking write-back failed' WHERE id = $1`,
    [booking.id, failure.reason],
  );
  await tx.query(`UPDATE waiting_list_entry SET status = 'open', updated_at = now() WHERE id = $1 AND status = 'booked'`, [booking.entry_id]);
  if (slot.pas_deleted_at) {
    await tx.query(`UPDATE slot SET status = 'withdrawn', closed_reason = $2, closed_at = now() WHERE id = $1`, [slot.id, DELETED_IN_PAS]);
  } else {
    // The notice in force now (the dashboard may have changed it since the slot was offered).
    const policy = await policyInForce(tx, ctx.policy, slot.tfc);
    if (failure.pasMayHold || isInsideMinimumNotice(new Date(slot.start_at), ctx.clock.now(), policy)) {
      await tx.query(`UPDATE slot SET status = 'unfilled', closed_reason = $2, closed_at = now() WHERE id = $1`, [slot.id, failure.closedReason]);
    } else {
      // Reopened under a notice shortened since its release: its recorded cut-off (and the
      // close-slot for it, which found the slot booked) has passed or moved. The cut-off in force
      // and a close-slot for it, as close-slot itself orders them, so the matching sweep does not
      // take the slot for one whose job was lost.
      const cutoff = noticeCutoff(new Date(slot.start_at), policy);
      const moved = cutoff.getTime() !== new Date(slot.cutoff_at).getTime();
      await tx.query(`UPDATE slot SET status = 'open', cutoff_at = $2 WHERE id = $1`, [slot.id, cutoff]);
      await enqueue(tx, 'match-slot', { slotId: slot.id, round: slot.match_round + 1 });
      if (moved) await enqueue(tx, 'close-slot', { slotId: slot.id }, { runAt: cutoff, jobIdSuffix: closeSlotSuffix(cutoff) });
      wrote.add(queueFor('match-slot'));
    }
  }
  if (await queueSms(tx, { patientId: booking.patient_id, offerId: booking.offer_id, kind: 'booking_failed', personalisation: wordingFor(ctx.ics, slot), dedupeKey: `failed-${booking.id}` })) wrote.add(queueFor('send-sms'));
  await listBookingFailure(tx, { bookingId: booking.id, kind: failure.kind, trustOds: booking.owning_trust_ods, slotId: booking.slot_id, reason: failure.reason });
  ctx.metrics.counter('bookings_total', 'Bookings by outcome', ['trust', 'outcome']).inc({ trust: booking.owning_trust_ods, outcome: 'failed' });
  return { status: 'done', reason: 'failed' };
}
