/**
 * Patients' answers (`offer-replies`): the first valid YES wins the slot. The claim is one
 * transaction that locks the slot, and the database's unique index on active bookings per slot
 * is what finally guarantees a slot is booked at most once. Every other answer gets the truth:
 * "no longer available", a repeat of the confirmation, or a short help text — never a second
 * booking.
 */
import { Inject, Injectable, Logger, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { JobOutcome, JobPayloads, QueueName } from '@app/contracts';
import { Clock, MatchingPolicy, answerToUnclearReply, decideAcceptance, localDateIn } from '@app/domain';
import { claimSlot, endWave, inSlotTrace, queueSms, wordingFor, rows } from '@app/persistence';
import { CLOCK, IcsDirectory, MetricsService, QueueService } from '@app/platform';
import { Job } from 'bullmq';
import { DataSource, EntityManager } from 'typeorm';
import { BookingConfig } from './config';
import { POLICY } from './tokens';

interface ReplyRecord {
  id: string;
  patient_id: string | null;
  intent: string;
  code: string | null;
  processed_at: Date | null;
  /** For a YES / NO with a code: the offer of this patient it names (read with the reply, one round trip). */
  offer_id: string | null;
  offer_slot_id: string | null;
}
interface OfferRecord { id: string; slot_id: string; wave_id: string; entry_id: string; patient_id: string; status: string; expires_at: Date }

@Injectable()
export class RepliesWorker implements OnApplicationBootstrap {
  private readonly logger = new Logger('replies');

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(POLICY) private readonly policy: MatchingPolicy,
    private readonly ics: IcsDirectory,
    private readonly queues: QueueService,
    private readonly metrics: MetricsService,
    @Optional() private readonly config?: BookingConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.queues.worker(QueueName.offerReplies, (job: Job) => this.process(job.data as JobPayloads['process-reply']), { concurrency: this.config?.REPLIES_CONCURRENCY ?? new BookingConfig().REPLIES_CONCURRENCY });
  }

  async process({ replyId }: JobPayloads['process-reply']): Promise<JobOutcome> {
    try {
      return await this.ds.transaction((tx) => this.handle(tx, replyId));
    } catch (e) {
      // The unique index refused a second active booking for the slot: this YES lost a race that
      // the slot lock should already have settled. Answer it as a late YES.
      if ((e as { code?: string }).code === '23505') {
        return this.ds.transaction(async (tx) => this.handle(tx, replyId, { forceTaken: true }));
      }
      throw e;
    }
  }

  /** An offer that cannot reach its patient ends now, so the wave can move on without waiting for expiry. */
  async undeliverable({ offerId }: JobPayloads['offer-undeliverable']): Promise<JobOutcome> {
    return this.ds.transaction(async (tx) => {
      const [offer]: OfferRecord[] = await tx.query(`SELECT id, slot_id, wave_id, entry_id, patient_id, status, expires_at FROM offer WHERE id = $1`, [offerId]);
      if (!offer) return { status: 'skipped', reason: 'no such offer' };
      if (offer.status !== 'live') return { status: 'skipped', reason: `offer is ${offer.status}` };
      await this.decline(tx, offer, 'undeliverable');
      return { status: 'done' };
    });
  }

  private async handle(tx: EntityManager, replyId: string, opts: { forceTaken?: boolean } = {}): Promise<JobOutcome> {
    const [reply]: ReplyRecord[] = await tx.query(
      `SELECT r.id, r.patient_id, r.intent, r.code, r.processed_at, o.id AS offer_id, o.slot_id AS offer_slot_id
         FROM patient_reply r
         LEFT JOIN LATERAL (
           SELECT id, slot_id FROM offer
            WHERE r.intent IN ('yes', 'no') AND r.code IS NOT NULL AND patient_id = r.patient_id AND code = r.code
            ORDER BY created_at DESC LIMIT 1
         ) o ON true
        WHERE r.id = $1 FOR UPDATE OF r`,
      [replyId],
    );
    if (!reply) return { status: 'skipped', reason: 'no such reply' };
    if (reply.processed_at) return { status: 'skipped', reason: 'already processed' };
    const outcome = reply.patient_id ? await this.act(tx, reply, reply.patient_id, opts) : 'unknown-number';
    // clock_timestamp(), not now(): the moment of the decision, not the start of a transaction that
    // may have waited on the slot's lock (the reply → outcome time is read from it).
    await tx.query(`UPDATE patient_reply SET processed_at = clock_timestamp(), outcome = $2 WHERE id = $1`, [replyId, outcome]);
    this.metrics.counter('patient_replies_total', 'Patient replies by intent and outcome', ['intent', 'outcome']).inc({ intent: reply.intent, outcome });
    return { status: 'done', reason: outcome };
  }

  private async act(tx: EntityManager, reply: ReplyRecord, patientId: string, opts: { forceTaken?: boolean }): Promise<string> {
    switch (reply.intent) {
      case 'stop': {
        await tx.query(`UPDATE patient SET sms_stopped = true, updated_at = now() WHERE id = $1`, [patientId]);
        for (const o of await this.liveOffers(tx, patientId)) await this.decline(tx, o, 'declined');
        await queueSms(tx, { patientId, kind: 'stopped', personalisation: {}, dedupeKey: `stopped-${reply.id}` });
        return 'stopped';
      }
      case 'start': {
        await tx.query(`UPDATE patient SET sms_stopped = false, updated_at = now() WHERE id = $1`, [patientId]);
        await queueSms(tx, { patientId, kind: 'started', personalisation: {}, dedupeKey: `started-${reply.id}` });
        return 'started';
      }
      case 'yes':
      case 'no': {
        // A YES with its code (the storm's case) goes straight to the claim: the offer is re-read
        // there under the slot's lock.
        if (reply.intent === 'yes' && reply.code && reply.offer_id && reply.offer_slot_id) {
          return this.accept(tx, { id: reply.offer_id, slotId: reply.offer_slot_id }, reply.id, opts.forceTaken === true);
        }
        const offer = await this.findOffer(tx, patientId, reply.code);
        if (!offer) return this.helpOrNothing(tx, patientId);
        if (reply.intent === 'no') {
          if (offer.status !== 'live') return 'decline-of-ended-offer';
          await this.decline(tx, offer, 'declined');
          return 'declined';
        }
        return this.accept(tx, { id: offer.id, slotId: offer.slot_id }, reply.id, opts.forceTaken === true);
      }
      default:
        return this.helpOrNothing(tx, patientId);
    }
  }

  /** With a code: that offer of this patient. Without: their one live offer (a patient holds at most one). */
  private async findOffer(tx: EntityManager, patientId: string, code: string | null): Promise<OfferRecord | undefined> {
    if (code) {
      const rows = await tx.query(
        `SELECT id, slot_id, wave_id, entry_id, patient_id, status, expires_at FROM offer WHERE patient_id = $1 AND code = $2 ORDER BY created_at DESC LIMIT 1`,
        [patientId, code],
      );
      return rows[0];
    }
    const live = await this.liveOffers(tx, patientId);
    return live.length === 1 ? live[0] : undefined;
  }

  private liveOffers(tx: EntityManager, patientId: string): Promise<OfferRecord[]> {
    return tx.query(`SELECT id, slot_id, wave_id, entry_id, patient_id, status, expires_at FROM offer WHERE patient_id = $1 AND status = 'live'`, [patientId]);
  }

  /** The claim joins the slot's own trace (the reply arrived without one). */
  private accept(tx: EntityManager, offerRef: { id: string; slotId: string }, replyId: string, forceTaken: boolean): Promise<string> {
    return inSlotTrace(tx, offerRef.slotId, 'booking accept', () => this.claim(tx, offerRef, replyId, forceTaken));
  }

  /**
   * Four round trips whatever the outcome: the slot locked, the offer locked with the booking it
   * may already have earned, then either the claim (one statement: claimSlot) or the answer.
   */
  private async claim(tx: EntityManager, offerRef: { id: string; slotId: string }, replyId: string, forceTaken: boolean): Promise<string> {
    const now = this.clock.now();
    // Lock order everywhere: slot, then offer. The slot lock serialises every YES for one slot.
    const [slot] = await tx.query(`SELECT id, trust_ods, site_ods, tfc, start_at, status FROM slot WHERE id = $1 FOR UPDATE`, [offerRef.slotId]);
    const [offer]: Array<OfferRecord & { booking_id: string | null; booking_status: string | null }> = await tx.query(
      `SELECT o.id, o.slot_id, o.wave_id, o.entry_id, o.patient_id, o.status, o.expires_at, b.id AS booking_id, b.status AS booking_status
         FROM offer o
         LEFT JOIN LATERAL (SELECT id, status FROM booking WHERE offer_id = o.id AND o.status = 'accepted' ORDER BY created_at DESC LIMIT 1) b ON true
        WHERE o.id = $1 FOR UPDATE OF o`,
      [offerRef.id],
    );
    const words = wordingFor(this.ics, slot);
    const previous = offer.booking_id ? { id: offer.booking_id, status: offer.booking_status! } : undefined;
    const decision = decideAcceptance(
      { offer: { status: offer.status, expiresAt: new Date(offer.expires_at) }, slot: { status: slot.status, start: new Date(slot.start_at) }, booking: previous, lostRace: forceTaken },
      now, this.policy,
    );
    if (decision.kind === 'repeat') {
      if (decision.resendConfirmation) {
        await queueSms(tx, { patientId: offer.patient_id, offerId: offer.id, kind: 'confirmed', personalisation: { ...words, previous: '' }, dedupeKey: `confirmed-again-${replyId}` });
      }
      return 'repeat-yes';
    }
    if (decision.kind === 'no-longer-available') {
      await queueSms(tx, { patientId: offer.patient_id, offerId: offer.id, kind: 'taken', personalisation: words, dedupeKey: `ended-${offer.id}` });
      return 'too-late';
    }
    const bookingId = await claimSlot(tx, {
      slotId: slot.id, offerId: offer.id, entryId: offer.entry_id, patientId: offer.patient_id, waveId: offer.wave_id,
      owningTrustOds: slot.trust_ods, takenWording: words,
    });
    this.logger.log(`slot ${slot.id} claimed by booking ${bookingId}`);
    return 'claimed';
  }

  private async decline(tx: EntityManager, offer: OfferRecord, status: 'declined' | 'undeliverable'): Promise<void> {
    await tx.query(`SELECT id FROM slot WHERE id = $1 FOR UPDATE`, [offer.slot_id]);
    const changed = await rows(tx,`UPDATE offer SET status = $2, responded_at = now(), ended_at = now() WHERE id = $1 AND status = 'live' RETURNING id`, [offer.id, status]);
    if (changed.length === 0) return;
    // When nobody in the wave can still say yes, the next wave goes out now rather than at expiry.
    const stillLive = await tx.query(`SELECT 1 FROM offer WHERE wave_id = $1 AND status = 'live' LIMIT 1`, [offer.wave_id]);
    if (stillLive.length === 0) await endWave(tx, this.ics, offer.wave_id, 'every offer declined or undeliverable', { rematch: true });
  }

  /** One help text per live offer, one polite "no open offer" a day: never a loop (answerToUnclearReply). */
  private async helpOrNothing(tx: EntityManager, patientId: string): Promise<string> {
    const live = await this.liveOffers(tx, patientId);
    const now = this.clock.now();
    const answer = answerToUnclearReply({ patientId, liveOfferIds: live.map((o) => o.id), today: localDateIn(now, this.ics.timeZone) });
    const queued = await queueSms(tx, { patientId, kind: answer.kind, personalisation: {}, dedupeKey: answer.dedupeKey });
    if (!queued) return 'help-suppressed';
    await tx.query(`UPDATE patient SET help_sent_at = $2 WHERE id = $1`, [patientId, now]);
    return answer.kind === 'help' ? 'help' : 'no-offer';
  }
}
