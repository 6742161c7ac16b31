/**
 * What happens after a PAS answers (`booking-events`). The patient hears "confirmed" only once the
 * owning trust's PAS holds the appointment; only then is their old appointment cancelled at the
 * home trust, so nobody is ever left with neither. A booking the PAS refused for good is undone:
 * the slot goes back to matching if time allows (withdrawn if the PAS deleted it meanwhile; closed
 * if the PAS may hold it after all, its answer lost), the patient is told the truth, and the case
 * is flagged for a person. An answer acted on only after
 * the slot began is undone the same way: "confirmed" then would send the patient to a past slot.
 */
import { Inject, Injectable, Logger, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { JobOutcome, JobPayloads, QueueName, previousAppointmentWording, queueFor } from '@app/contracts';
import { Clock, MatchingPolicy } from '@app/domain';
import { OutboxRelay, enqueue, listBookingFailure, queueSms, quietOutboxSql, wordingFor } from '@app/persistence';
import { CLOCK, IcsDirectory, MetricsService, QueueService } from '@app/platform';
import { Job } from 'bullmq';
import { DataSource, EntityManager } from 'typeorm';
import { failBooking } from './booking-failure';
import { RepliesWorker } from './replies.worker';
import { POLICY } from './tokens';

@Injectable()
export class WritebackOutcomesWorker implements OnApplicationBootstrap {
  private readonly logger = new Logger('writeback-outcomes');

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(POLICY) private readonly policy: MatchingPolicy,
    private readonly ics: IcsDirectory,
    private readonly queues: QueueService,
    private readonly metrics: MetricsService,
    private readonly replies: RepliesWorker,
    @Optional() private readonly relay?: OutboxRelay,
  ) {}

  onApplicationBootstrap(): void {
    this.queues.worker(QueueName.bookingEvents, (job: Job) => {
      switch (job.name) {
        case 'writeback-outcome': return this.process(job.data as JobPayloads['writeback-outcome']);
        case 'offer-undeliverable': return this.replies.undeliverable(job.data as JobPayloads['offer-undeliverable']);
        default: throw new Error(`no handler for ${job.name} on ${QueueName.bookingEvents}`);
      }
    });
  }

  /**
   * With a relay in this process the jobs this writes notify nobody (`quietOutboxSql`, set by the
   * first read): a NOTIFY serialises commits cluster-wide and wakes every process's listener, once
   * per booking in a storm. This process's relay is woken for them after the commit instead.
   */
  async process({ writebackId }: JobPayloads['writeback-outcome']): Promise<JobOutcome> {
    const wrote = new Set<string>();
    const outcome = await this.ds.transaction(async (tx) => {
      // In the one lock order (lock-order.ts): the slot (failing the booking changes it) in this
      // first read, then the booking. The write-back is only read: its outcome is final.
      const [wb] = await tx.query(
        `SELECT w.id, w.booking_id, w.kind, w.status, w.pas_appointment_id, w.pas_may_hold, w.last_error${this.relay ? `, ${quietOutboxSql} AS quiet` : ''}
           FROM writeback w JOIN booking b ON b.id = w.booking_id JOIN slot s ON s.id = b.slot_id WHERE w.id = $1 FOR UPDATE OF s`,
        [writebackId],
      );
      if (!wb || wb.status === 'pending') return { status: 'skipped', reason: 'no terminal outcome yet' } as JobOutcome;
      const [booking] = await tx.query(`SELECT * FROM booking WHERE id = $1 FOR UPDATE`, [wb.booking_id]);
      if (wb.kind === 'book') {
        return wb.status === 'succeeded'
          ? this.confirm(tx, booking, wb.pas_appointment_id, wrote)
          : wb.pas_may_hold
            ? this.failUnanswered(tx, booking, wb.last_error, wrote)
            : this.fail(tx, booking, wb.last_error ?? 'the PAS refused the booking', wrote);
      }
      if (wb.status === 'failed') {
        // The new booking stands (the patient was told "confirmed" and the owning PAS holds it);
        // a person must cancel the old one by hand. Listed whatever else the booking was flagged
        // for (an S17, say): the list holds one row per booking and kind, so a re-drive adds nothing.
        await tx.query(`UPDATE booking SET needs_attention = $2 WHERE id = $1`, [booking.id, 'old appointment could not be cancelled: the patient holds two appointments']);
        const listed = await listBookingFailure(tx, {
          bookingId: booking.id, kind: 'double-held', trustOds: booking.home_trust_ods, slotId: booking.slot_id,
          reason: `old appointment at ${booking.home_trust_ods} not cancelled: ${wb.last_error ?? 'the PAS refused'}`,
        });
        if (listed) this.metrics.counter('writeback_failures_total', 'Write-backs that failed for good', ['trust', 'kind']).inc({ trust: booking.home_trust_ods, kind: 'cancel' });
        // Listed now or before (a re-drive): the reconciler's pass over outcomes not yet acted on
        // reads only the failed cancels not marked so (DECIDED_OUTCOMES_SQL), so its work does
        // not grow with every failed cancel ever. After the slot and the booking: the lock order.
        await tx.query(`UPDATE writeback SET listed_at = now() WHERE id = $1 AND status = 'failed' AND listed_at IS NULL`, [wb.id]);
      }
      return { status: 'done', reason: `cancel ${wb.status}` } as JobOutcome;
    });
    if (wrote.size > 0) this.relay?.wake([...wrote]);
    return outcome;
  }

  /** `wrote` gathers the queues of the jobs written (for the relay's wake-up after the commit). */
  private async confirm(tx: EntityManager, booking: Record<string, any>, pasAppointmentId: string, wrote: Set<string>): Promise<JobOutcome> {
    if (booking.status !== 'pending') return { status: 'skipped', reason: `booking is ${booking.status}` };
    const [slot] = await tx.query(`SELECT * FROM slot WHERE id = $1`, [booking.slot_id]);
    if (new Date(slot.start_at).getTime() <= this.clock.now().getTime()) {
      // The PAS's answer reached us only after the slot began (this job waited through an outage):
      // "confirmed" now would send the patient to an appointment that has already started. The
      // patient hears the truth, and a person cancels what the PAS holds.
      return this.fail(tx, booking, `the PAS booked it as appointment ${pasAppointmentId}, but the answer came only after the slot had started: cancel it in the PAS`, wrote);
    }
    await tx.query(`UPDATE booking SET status = 'confirmed', pas_appointment_id = $2, confirmed_at = now() WHERE id = $1`, [booking.id, pasAppointmentId]);
    await tx.query(
      `UPDATE waiting_list_entry SET current_appointment_start = $2, current_appointment_id = $3, updated_at = now() WHERE id = $1`,
      [booking.entry_id, slot.start_at, booking.owning_trust_ods === booking.home_trust_ods ? pasAppointmentId : null],
    );
    const previous = booking.previous_appointment_start
      ? previousAppointmentWording(new Date(booking.previous_appointment_start), this.ics.timeZone)
      : '';
    if (await queueSms(tx, { patientId: booking.patient_id, offerId: booking.offer_id, kind: 'confirmed', personalisation: { ...wordingFor(this.ics, slot), previous }, dedupeKey: `confirmed-${booking.id}` })) wrote.add(queueFor('send-sms'));
    if (booking.owning_trust_ods !== booking.home_trust_ods) await this.recordTransfer(tx, booking, slot, pasAppointmentId);
    if (booking.previous_appointment_id) {
      const [wb] = await tx.query(
        `INSERT INTO writeback (booking_id, trust_ods, kind, status) VALUES ($1, $2, 'cancel', 'pending') ON CONFLICT (booking_id, kind) DO NOTHING RETURNING id`,
        [booking.id, booking.home_trust_ods],
      );
      if (wb) {
        await enqueue(tx, 'write-back', { writebackId: wb.id }, { ods: booking.home_trust_ods });
        wrote.add(queueFor('write-back', booking.home_trust_ods));
      }
    }
    this.metrics.counter('bookings_total', 'Bookings by outcome', ['trust', 'outcome']).inc({ trust: booking.owning_trust_ods, outcome: 'confirmed' });
    this.logger.log(`booking ${booking.id} confirmed`);
    return { status: 'done', reason: 'confirmed' };
  }

  private fail(tx: EntityManager, booking: Record<string, any>, reason: string, wrote: Set<string>): Promise<JobOutcome> {
    const ctx = { clock: this.clock, policy: this.policy, ics: this.ics, metrics: this.metrics };
    return failBooking(tx, ctx, booking, { kind: 'writeback-failed', reason, closedReason: 'booking write-back failed inside the notice window' }, wrote);
  }

  /**
   * The adapter gave up on a booking the PAS may hold all the same (a try went unanswered, and the
   * PAS could not be asked since): the patient is told "could not" as for any failure, but the slot
   * is closed rather than offered again, and a person is asked to check the PAS and cancel what it
   * holds for this booking.
   */
  private failUnanswered(tx: EntityManager, booking: Record<string, any>, lastError: string | null, wrote: Set<string>): Promise<JobOutcome> {
    const ctx = { clock: this.clock, policy: this.policy, ics: this.ics, metrics: this.metrics };
    const reason = `no answer from the PAS at ${booking.owning_trust_ods} (last error: ${lastError ?? 'none recorded'}); it may hold an appointment for this booking: check the PAS and cancel it there`;
    return failBooking(tx, ctx, booking, { kind: 'no-pas-answer', reason, closedReason: 'the PAS may hold an appointment in it: the booking write-back went unanswered', pasMayHold: true }, wrote);
  }

  /**
   * The patient moves to another trust for this pathway: the receiving trust gets an IPT record
   * with the RTT clock start carried over (the wait does not restart), the referral and priority.
   * Written with the confirmation, so it exists exactly when the receiving PAS holds the booking.
   */
  private async recordTransfer(tx: EntityManager, booking: Record<string, any>, slot: Record<string, any>, pasAppointmentId: string): Promise<void> {
    await tx.query(
      `INSERT INTO inter_provider_transfer (booking_id, entry_id, patient_id, sending_trust_ods, receiving_trust_ods, referral_pathway_id, tfc,
                                            appointment_type, priority, rtt_start, appointment_start, pas_appointment_id)
       SELECT $1, e.id, e.patient_id, e.trust_ods, $3, e.pathway_id, e.tfc, e.appointment_type, e.priority, e.rtt_start, $4, $5
         FROM waiting_list_entry e WHERE e.id = $2
       ON CONFLICT (booking_id) DO NOTHING`,
      [booking.id, booking.entry_id, booking.owning_trust_ods, slot.start_at, pasAppointmentId],
    );
  }
}
