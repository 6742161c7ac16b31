/**
 * What happens after a PAS answers (`booking-events`). The patient hears "confirmed" only once the
 * owning trust's PAS holds the appointment; only then is their old appointment cancelled at the
 * home trust, so nobody is ever left with neither. A booking the PAS refused for good is undone:
 * the slot goes back to matching if time allows, the patient is told the truth, and the case is
 * flagged for a person.
 */
import { Inject, Injectable, Logger, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { JobOutcome, JobPayloads, QueueName, previousAppointmentWording, queueFor } from '@app/contracts';
import { Clock, MatchingPolicy, isInsideMinimumNotice } from '@app/domain';
import { OutboxRelay, enqueue, policyInForce, queueSms, quietOutboxSql, wordingFor } from '@app/persistence';
import { CLOCK, IcsDirectory, MetricsService, QueueService } from '@app/platform';
import { Job } from 'bullmq';
import { DataSource, EntityManager } from 'typeorm';
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
      const [wb] = await tx.query(
        `SELECT id, booking_id, kind, status, pas_appointment_id, last_error${this.relay ? `, ${quietOutboxSql} AS quiet` : ''} FROM writeback WHERE id = $1`,
        [writebackId],
      );
      if (!wb || wb.status === 'pending') return { status: 'skipped', reason: 'no terminal outcome yet' } as JobOutcome;
      const [booking] = await tx.query(`SELECT * FROM booking WHERE id = $1 FOR UPDATE`, [wb.booking_id]);
      if (wb.kind === 'book') return wb.status === 'succeeded' ? this.confirm(tx, booking, wb.pas_appointment_id, wrote) : this.fail(tx, booking, wb.last_error, wrote);
      if (wb.status === 'failed' && !booking.needs_attention) {
        // The new booking stands (the patient was told "confirmed" and the owning PAS holds it);
        // a person must cancel the old one by hand.
        await tx.query(`UPDATE booking SET needs_attention = $2 WHERE id = $1`, [booking.id, 'old appointment could not be cancelled: the patient holds two appointments']);
        await this.listFailure(tx, booking, 'double-held', booking.home_trust_ods, `old appointment at ${booking.home_trust_ods} not cancelled: ${wb.last_error ?? 'the PAS refused'}`);
        this.metrics.counter('writeback_failures_total', 'Write-backs that failed for good', ['trust', 'kind']).inc({ trust: booking.home_trust_ods, kind: 'cancel' });
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

  private async fail(tx: EntityManager, booking: Record<string, any>, reason: string | null, wrote: Set<string>): Promise<JobOutcome> {
    if (booking.status !== 'pending') return { status: 'skipped', reason: `booking is ${booking.status}` };
    const [slot] = await tx.query(`SELECT * FROM slot WHERE id = $1 FOR UPDATE`, [booking.slot_id]);
    await tx.query(
      `UPDATE booking SET status = 'failed', failed_at = now(), failure_reason = $2, needs_attention = 'booking write-back failed' WHERE id = $1`,
      [booking.id, reason ?? 'the PAS refused the booking'],
    );
    await tx.query(`UPDATE waiting_list_entry SET status = 'open', updated_at = now() WHERE id = $1 AND status = 'booked'`, [booking.entry_id]);
    // The notice in force now (the dashboard may have changed it since the slot was offered).
    if (isInsideMinimumNotice(new Date(slot.start_at), this.clock.now(), await policyInForce(tx, this.policy, slot.tfc))) {
      await tx.query(`UPDATE slot SET status = 'unfilled', closed_reason = 'booking write-back failed inside the notice window', closed_at = now() WHERE id = $1`, [slot.id]);
    } else {
      await tx.query(`UPDATE slot SET status = 'open' WHERE id = $1`, [slot.id]);
      await enqueue(tx, 'match-slot', { slotId: slot.id, round: slot.match_round + 1 });
      wrote.add(queueFor('match-slot'));
    }
    if (await queueSms(tx, { patientId: booking.patient_id, offerId: booking.offer_id, kind: 'booking_failed', personalisation: wordingFor(this.ics, slot), dedupeKey: `failed-${booking.id}` })) wrote.add(queueFor('send-sms'));
    await this.listFailure(tx, booking, 'writeback-failed', booking.owning_trust_ods, reason ?? 'the PAS refused the booking');
    this.metrics.counter('bookings_total', 'Bookings by outcome', ['trust', 'outcome']).inc({ trust: booking.owning_trust_ods, outcome: 'failed' });
    return { status: 'done', reason: 'failed' };
  }

  /** The operators' failures list (read by the dashboard); once per booking and kind. */
  private async listFailure(tx: EntityManager, booking: Record<string, any>, kind: 'writeback-failed' | 'double-held', trustOds: string, reason: string): Promise<void> {
    await tx.query(
      `INSERT INTO booking_failure (booking_id, kind, trust_ods, slot_id, reason) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (booking_id, kind) DO NOTHING`,
      [booking.id, kind, trustOds, booking.slot_id, reason.slice(0, 500)],
    );
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
