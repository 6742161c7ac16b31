/**
 * Canonical scheduling events from the trust adapters, each acted on once per event id (the
 * `slot_event` row is claimed first, in the same transaction as the work, so a re-forwarded or
 * replayed message is a no-op):
 * - `slot-released` (S15): the freed slot is stored once (also by its PAS appointment id while it
 *   is active) and, far enough away, handed to matching; inside the minimum notice it is recorded
 *   as too late. A cancellation of an appointment our own write-back booked, sent back with our
 *   reason `pat-swl`, is our echo and frees nothing. (The cancellation of a booked patient's *old*
 *   appointment is also ours, but its time really is free: DESIGN.md step 9, the chain.)
 * - `slot-withdrawn` (S17): a freed slot not yet booked is closed as withdrawn; its live offers
 *   end and each of those patients is told it is no longer available. A slot already claimed keeps
 *   its booking; the deletion is recorded on it (a booking that then fails withdraws it rather
 *   than reopening it) and listed for the booking team.
 * - `appointment-booked` (S12): fills the patient's current appointment at this trust; when the
 *   PAS itself re-booked the time of one of our open freed slots, that slot is withdrawn as above
 *   (unless the booking is our own write-back's, coming back).
 * - `appointment-moved` (S13/S14): moves the current appointment of the entries that hold it; when
 *   the PAS really moved an appointment into the time of one of our open freed slots, that slot is
 *   withdrawn as for S12 (not for the slot's own cancelled appointment, one already known at that
 *   time, an S14 of one known nowhere, or our own write-back's booking at the time we booked it). The
 *   time the appointment left is not freed here: the contract carries no old start on S13/S14, and
 *   a freed time reaches us only as the PAS's own S15 (DESIGN.md "The flow of one freed slot").
 * - `no-show` (S26): recorded.
 * Whether a freed slot is too late, and its cut-off, follow the policy in force (`policyInForce`:
 * an administrator's change on the dashboard counts from the next event), read once per transaction.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { SlotEventDto, SlotEventRefusal, SlotEventResult } from '@app/contracts';
import { Clock, MatchingPolicy, isInsideMinimumNotice, noticeCutoff, policyForTfc } from '@app/domain';
import { DELETED_IN_PAS, OutboxJob, endWave, enqueue, listBookingFailure, outboxManySql, outboxManyValues, policyInForce, rows } from '@app/persistence';
import { AppError, CLOCK, IcsDirectory, MetricsService, currentTraceparent } from '@app/platform';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { POLICY } from './tokens';

/** SCH-6 reason our write-back puts on the cancellations it makes (CONTRACT.md "Write-back out"). */
export const OWN_CANCELLATION_REASON = 'pat-swl';

type Tx = EntityManager;

/** What the booking team is told of a claimed slot its PAS deleted (the booking's flag and failures-page row). */
const PAS_DELETED_BOOKED = 'the PAS deleted the slot after it was booked (SIU^S17)';

/** The policy in force, read at most once per transaction (only events that free a slot need it). */
type PolicyInForce = () => Promise<MatchingPolicy>;

/** Why a slot inside the minimum notice was never offered. */
function tooLateReason(policy: MatchingPolicy): string {
  return `inside the ${policy.minNoticeHours}-hour minimum notice`;
}

/** A release with nothing to check first: only a `pat-swl` cancellation may be our own echo. */
function isPlainRelease(e: SlotEventDto): boolean {
  return e.kind === 'slot-released' && (e.eventReason ?? '').toLowerCase() !== OWN_CANCELLATION_REASON;
}

@Injectable()
export class SlotEventsService {
  private readonly logger = new Logger('slot-events');

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(POLICY) private readonly policy: MatchingPolicy,
    private readonly ics: IcsDirectory,
    private readonly metrics: MetricsService,
  ) {}

  async handle(trustOds: string, e: SlotEventDto): Promise<SlotEventResult> {
    const [r] = await this.handleBatch(trustOds, [e]);
    if ('refused' in r) throw new AppError(r.refused.error, r.refused.message, r.refused.status);
    return r;
  }

  /**
   * Events in order, in one transaction (a failure leaves none applied, and the whole batch is
   * safe to send again). Consecutive plain releases (no `pat-swl` reason: nothing to check for an
   * echo) are stored by one statement; every other event by its own handler, as before.
   */
  async handleBatch(trustOds: string, events: Array<SlotEventDto & { traceparent?: string }>): Promise<Array<SlotEventResult | SlotEventRefusal>> {
    const out: Array<SlotEventResult | SlotEventRefusal> = new Array(events.length);
    const accepted: number[] = [];
    events.forEach((e, i) => {
      if (this.ics.trustOfSite(e.siteOds) === trustOds) accepted.push(i);
      else out[i] = { eventId: e.eventId, refused: { status: 422, error: 'site_not_in_trust', message: `Site ${e.siteOds} is not a site of ${trustOds}` } };
    });
    if (accepted.length > 0) {
      await this.ds.transaction(async (tx) => {
        let recorded: Promise<MatchingPolicy> | undefined;
        const policy: PolicyInForce = () => (recorded ??= policyInForce(tx, this.policy));
        for (let k = 0; k < accepted.length;) {
          if (isPlainRelease(events[accepted[k]])) {
            let j = k;
            while (j < accepted.length && isPlainRelease(events[accepted[j]])) j++;
            const run = accepted.slice(k, j);
            const results = await this.releaseMany(tx, trustOds, run.map((i) => events[i]), await policy());
            run.forEach((i, n) => (out[i] = results[n]));
            k = j;
          } else {
            out[accepted[k]] = await this.applyOne(tx, trustOds, events[accepted[k]], policy);
            k++;
          }
        }
      });
    }
    const counter = this.metrics.counter('slot_events_total', 'Scheduling events received', ['trust', 'kind', 'outcome']);
    events.forEach((e, i) => {
      const r = out[i];
      const outcome = 'refused' in r ? 'refused' : r.outcome;
      counter.inc({ trust: trustOds, kind: e.kind, outcome });
      this.logger.log(`slot event ${e.eventId} (${e.kind}) from ${trustOds}: ${outcome}`);
    });
    return out;
  }

  /** One event, claimed by its id first (a second delivery is a no-op), in the caller's transaction. */
  private async applyOne(tx: Tx, trustOds: string, e: SlotEventDto, policy: PolicyInForce): Promise<SlotEventResult> {
    const start = new Date(e.start);
    const claimed = await rows(tx,
      // clock_timestamp(), not the column's now(): the events of one batch share a transaction, and
      // an appointment's last known time is read from this order (lastKnownStart).
      `INSERT INTO slot_event (event_id, trust_ods, kind, control_id, filler_appointment_id, start_at, outcome, received_at)
       VALUES ($1, $2, $3, $4, $5, $6, 'processing', clock_timestamp()) ON CONFLICT DO NOTHING RETURNING event_id`,
      [e.eventId, trustOds, e.kind, e.controlId, e.fillerAppointmentId, start],
    );
    if (claimed.length === 0) {
      const [seen] = await tx.query(`SELECT slot_id FROM slot_event WHERE trust_ods = $1 AND event_id = $2`, [trustOds, e.eventId]);
      return { eventId: e.eventId, outcome: 'duplicate', slotId: seen?.slot_id ?? undefined };
    }
    const r = await this.act(tx, trustOds, e, start, policy);
    await tx.query(`UPDATE slot_event SET outcome = $3, slot_id = $4, entries_updated = $5 WHERE trust_ods = $1 AND event_id = $2`, [
      trustOds, e.eventId, r.outcome, r.slotId ?? null, r.entriesUpdated ?? 0,
    ]);
    return r;
  }

  /**
   * Plain S15s in one statement: each new event id stores its slot (unless the appointment already
   * has an active one: `duplicate`), its `slot_event` row with the outcome, and, outside the
   * notice, its match and cut-off jobs (`enqueue`'s rows: same job ids, payloads and trace). An
   * event id seen before, or by a concurrent delivery (the slot's unique `source_event_id` makes it
   * wait for that one's commit), is a `duplicate`. Rows go in by appointment id, so overlapping
   * batches take their index locks in one order (and never deadlock); the first of a batch's events
   * for one appointment is the one stored. Slot ids are drawn here so the jobs can be built by
   * `outboxManyValues`.
   */
  private async releaseMany(
    tx: Tx, trustOds: string, events: Array<SlotEventDto & { traceparent?: string }>, recorded: MatchingPolicy,
  ): Promise<SlotEventResult[]> {
    const now = this.clock.now();
    const here = currentTraceparent() ?? null;
    const jobs: OutboxJob[] = [];
    const input = events.map((e, i) => {
      const start = new Date(e.start);
      const policy = policyForTfc(recorded, e.tfc);
      const tooLate = isInsideMinimumNotice(start, now, policy);
      const cutoff = noticeCutoff(start, policy);
      const slotId = randomUUID();
      const traceparent = e.traceparent ?? here;
      if (!tooLate) {
        const carrier = traceparent ? { traceparent } : {};
        jobs.push({ name: 'match-slot', payload: { slotId, round: 1, ...carrier } }, { name: 'close-slot', payload: { slotId, ...carrier }, opts: { runAt: cutoff } });
      }
      return {
        i, slot_id: slotId, event_id: e.eventId, control_id: e.controlId, site_ods: e.siteOds, clinic_code: e.clinicCode, tfc: e.tfc,
        appointment_type: e.appointmentType, start_at: start.toISOString(), duration_minutes: e.durationMinutes, clinician_id: e.clinicianId ?? null,
        filler_appointment_id: e.fillerAppointmentId, placer_appointment_id: e.placerAppointmentId ?? null, constraints: e.constraints ?? null,
        too_late: tooLate, closed_reason: tooLate ? tooLateReason(policy) : null, cutoff_at: cutoff.toISOString(),
        // The patient's answer comes back without a trace; the booking continues this one.
        trace_context: traceparent,
      };
    });
    const done = (await tx.query(
      `WITH input AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
           i int, slot_id uuid, event_id text, control_id text, site_ods text, clinic_code text, tfc text, appointment_type text,
           start_at timestamptz, duration_minutes int, clinician_id text, filler_appointment_id text, placer_appointment_id text,
           constraints jsonb, too_late boolean, closed_reason text, cutoff_at timestamptz, trace_context text)
       ), fresh AS (
         SELECT DISTINCT ON (event_id) * FROM input
          WHERE NOT EXISTS (SELECT 1 FROM slot_event se WHERE se.trust_ods = $2 AND se.event_id = input.event_id)
          ORDER BY event_id, i
       ), created AS (
         INSERT INTO slot (id, trust_ods, site_ods, clinic_code, tfc, appointment_type, start_at, duration_minutes, clinician_id,
                           filler_appointment_id, placer_appointment_id, source_event_id, constraints, status, closed_reason, cutoff_at, closed_at, trace_context)
         SELECT slot_id, $2, site_ods, clinic_code, tfc, appointment_type, start_at, duration_minutes, clinician_id,
                filler_appointment_id, placer_appointment_id, event_id, constraints,
                CASE WHEN too_late THEN 'too_late' ELSE 'open' END, closed_reason, cutoff_at,
                CASE WHEN too_late THEN $3::timestamptz END, trace_context
           FROM fresh ORDER BY filler_appointment_id, i
         ON CONFLICT DO NOTHING RETURNING id, source_event_id
       ), claimed AS (
         INSERT INTO slot_event (event_id, trust_ods, kind, control_id, filler_appointment_id, start_at, outcome, slot_id, received_at)
         SELECT f.event_id, $2, 'slot-released', f.control_id, f.filler_appointment_id, f.start_at,
                CASE WHEN c.id IS NULL THEN 'duplicate' WHEN f.too_late THEN 'too-late' ELSE 'slot-created' END, c.id, clock_timestamp()
           FROM fresh f LEFT JOIN created c ON c.source_event_id = f.event_id ORDER BY f.filler_appointment_id, f.i
         ON CONFLICT DO NOTHING RETURNING event_id, outcome, slot_id
       ), jobs AS (
         ${outboxManySql(4)}
          WHERE (p::jsonb ->> 'slotId')::uuid IN (SELECT id FROM created)
       )
       SELECT event_id, outcome, slot_id FROM claimed`,
      [
        JSON.stringify(input), trustOds, now, ...outboxManyValues(jobs),
      ],
    )) as Array<{ event_id: string; outcome: SlotEventResult['outcome']; slot_id: string | null }>;
    const claimed = new Map(done.map((r) => [r.event_id, r]));
    // Event ids this statement did not claim (seen before, delivered concurrently, or twice in the
    // batch): answered with the slot their first processing stored, read after it committed.
    const seen = new Map<string, string | null>();
    const others = events.filter((e) => !claimed.has(e.eventId)).map((e) => e.eventId);
    if (others.length > 0) {
      for (const r of await tx.query(`SELECT event_id, slot_id FROM slot_event WHERE trust_ods = $1 AND event_id = ANY($2::text[])`, [trustOds, others])) {
        seen.set(r.event_id, r.slot_id);
      }
    }
    const answered = new Set<string>();
    return events.map((e) => {
      const c = claimed.get(e.eventId);
      if (c && !answered.has(e.eventId)) {
        answered.add(e.eventId);
        return { eventId: e.eventId, outcome: c.outcome, slotId: c.slot_id ?? undefined };
      }
      return { eventId: e.eventId, outcome: 'duplicate', slotId: (c ? c.slot_id : seen.get(e.eventId)) ?? undefined };
    });
  }

  private act(tx: Tx, trustOds: string, e: SlotEventDto, start: Date, policy: PolicyInForce): Promise<SlotEventResult> {
    switch (e.kind) {
      case 'slot-released': return this.release(tx, trustOds, e, start, policy);
      case 'slot-withdrawn': return this.deleted(tx, trustOds, e);
      case 'appointment-booked': return this.booked(tx, trustOds, e, start);
      case 'appointment-moved': return this.moved(tx, trustOds, e, start);
      case 'no-show': return Promise.resolve({ eventId: e.eventId, outcome: 'recorded' });
      default: {
        const never: never = e.kind;
        throw new AppError('unknown_event_kind', `Unknown event kind ${String(never)}`);
      }
    }
  }

  private async release(tx: Tx, trustOds: string, e: SlotEventDto, start: Date, recorded: PolicyInForce): Promise<SlotEventResult> {
    if ((e.eventReason ?? '').toLowerCase() === OWN_CANCELLATION_REASON) {
      // Our own booking, cancelled with our reason, and not because we moved the patient on from it;
      // or an appointment the PAS made for a write-back we had already given up (it answered too
      // late, or inside the notice), which the adapter cancels: neither time was ever free.
      const ours = await tx.query(
        `SELECT b.id FROM booking b
          WHERE b.owning_trust_ods = $1 AND b.pas_appointment_id = $2 AND b.status <> 'failed'
            AND NOT EXISTS (SELECT 1 FROM booking later WHERE later.home_trust_ods = $1 AND later.previous_appointment_id = $2)
         UNION ALL
         SELECT w.id FROM writeback w WHERE w.trust_ods = $1 AND w.kind = 'book' AND w.status = 'failed' AND w.pas_appointment_id = $2`,
        [trustOds, e.fillerAppointmentId],
      );
      if (ours.length > 0) return { eventId: e.eventId, outcome: 'echo' };
    }
    const now = this.clock.now();
    const policy = policyForTfc(await recorded(), e.tfc);
    const tooLate = isInsideMinimumNotice(start, now, policy);
    const cutoff = noticeCutoff(start, policy);
    const created: Array<{ id: string }> = await tx.query(
      `INSERT INTO slot (trust_ods, site_ods, clinic_code, tfc, appointment_type, start_at, duration_minutes, clinician_id,
                         filler_appointment_id, placer_appointment_id, source_event_id, constraints, status, closed_reason, cutoff_at, closed_at, trace_context)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)
       ON CONFLICT DO NOTHING RETURNING id`,
      [
        trustOds, e.siteOds, e.clinicCode, e.tfc, e.appointmentType, start, e.durationMinutes, e.clinicianId ?? null,
        e.fillerAppointmentId, e.placerAppointmentId ?? null, e.eventId, e.constraints ? JSON.stringify(e.constraints) : null,
        tooLate ? 'too_late' : 'open', tooLate ? tooLateReason(policy) : null, cutoff, tooLate ? now : null,
        // The patient's answer comes back without a trace; the booking continues this one.
        currentTraceparent() ?? null,
      ],
    );
    if (created.length === 0) return { eventId: e.eventId, outcome: 'duplicate' };
    const slotId = created[0].id;
    if (!tooLate) {
      await enqueue(tx, 'match-slot', { slotId, round: 1 });
      await enqueue(tx, 'close-slot', { slotId }, { runAt: cutoff });
    }
    return { eventId: e.eventId, outcome: tooLate ? 'too-late' : 'slot-created', slotId };
  }

  /**
   * S17: the PAS deleted the appointment. A freed slot still being offered is withdrawn. The slot's
   * lock is taken before the booking's (lock-order.ts), as the booking service takes them to fail
   * the booking.
   */
  private async deleted(tx: Tx, trustOds: string, e: SlotEventDto): Promise<SlotEventResult> {
    const [slot] = await tx.query(
      `SELECT id, status FROM slot WHERE trust_ods = $1 AND filler_appointment_id = $2 AND status IN ('open', 'offering', 'booked')
        ORDER BY released_at DESC LIMIT 1 FOR UPDATE`,
      [trustOds, e.fillerAppointmentId],
    );
    if (!slot) return { eventId: e.eventId, outcome: 'recorded' };
    if (slot.status === 'booked') {
      // Too late to withdraw: a patient holds it. The booking stands or falls on its PAS's answer;
      // the deletion is kept on the slot, so a booking that then fails withdraws it instead of
      // offering a time that no longer exists, and a person squares it with the PAS.
      await tx.query(`UPDATE slot SET pas_deleted_at = COALESCE(pas_deleted_at, now()) WHERE id = $1`, [slot.id]);
      const [booking] = await rows(tx,
        `UPDATE booking SET needs_attention = COALESCE(needs_attention, $2) WHERE slot_id = $1 AND status <> 'failed' RETURNING id`,
        [slot.id, PAS_DELETED_BOOKED],
      );
      if (booking) await listBookingFailure(tx, { bookingId: booking.id, kind: 'pas-deleted', trustOds, slotId: slot.id, reason: PAS_DELETED_BOOKED });
      return { eventId: e.eventId, outcome: 'ignored', slotId: slot.id };
    }
    await this.withdraw(tx, slot.id, DELETED_IN_PAS);
    return { eventId: e.eventId, outcome: 'withdrawn', slotId: slot.id };
  }

  /**
   * S12: the patient now holds this appointment. If the trust booked it into the time of one of
   * our freed slots itself, that slot is no longer free.
   */
  private async booked(tx: Tx, trustOds: string, e: SlotEventDto, start: Date): Promise<SlotEventResult> {
    const ours = await this.isOurBooking(tx, trustOds, e.fillerAppointmentId);
    // The appointment whose cancellation freed a slot, booked again: that slot is not free either.
    const withdrawn = ours ? undefined : await this.withdrawTaken(tx, trustOds, e, start, 'taken', 'booked in the PAS by the trust (SIU^S12)');
    let entries = 0;
    if (e.patientNhsNumber) {
      const updated = await rows(tx,
        `UPDATE waiting_list_entry w SET current_appointment_start = $4, current_appointment_id = $5, updated_at = now()
           FROM patient p
          WHERE w.patient_id = p.id AND p.nhs_number = $1 AND w.trust_ods = $2 AND w.tfc = $3 AND w.status <> 'closed'
            AND (w.current_appointment_start IS DISTINCT FROM $4 OR w.current_appointment_id IS DISTINCT FROM $5)
          RETURNING w.id`,
        [e.patientNhsNumber, trustOds, e.tfc, start, e.fillerAppointmentId],
      );
      entries = updated.length;
    }
    if (withdrawn) return { eventId: e.eventId, outcome: 'withdrawn', slotId: withdrawn, entriesUpdated: entries };
    if (ours) return { eventId: e.eventId, outcome: 'echo', entriesUpdated: entries };
    return { eventId: e.eventId, outcome: entries > 0 ? 'appointment-updated' : 'recorded', entriesUpdated: entries };
  }

  /**
   * S13/S14: the appointment moved or changed; whoever holds it as their current appointment moves
   * with it. Moved into the time of one of our open freed slots, it fills that time: the slot is
   * withdrawn (else a YES would book a second patient into it). But S13 and S14 both arrive here,
   * and a PAS sends an S14 for any change (a note, a status), mostly to appointments that stay put;
   * a clinic runs several appointments at one time, so "same clinic and start" alone would withdraw
   * a freed slot whenever one of its neighbours is touched. It is a move into the time only when:
   * - it is not the slot's own appointment (the cancelled one: whatever its S13/S14 says, its time
   *   was freed by the PAS's S15, and only an S17 or S12 takes it back);
   * - and the appointment's last known start (its latest earlier event here, or an open waiting-list
   *   entry holding it as current appointment) is another time; known at this time already, it did
   *   not move into it;
   * - or, known nowhere, the trigger is a reschedule (S13; or none given, from an older adapter). An
   *   S14 of an unknown appointment is taken as the change it usually is. If it was in fact a move
   *   into the freed time, the slot stays offered and a YES is written back as a second
   *   appointment at that time, which the PAS may refuse (a listed booking failure): a rare double
   *   booking for a person to square, rather than every note on a neighbouring appointment
   *   withdrawing a slot that is still free.
   * Our own write-back's booking reported at the very time we booked it is our echo (a twin freed
   * slot at that clinic and time stays open); moved on from there by the trust, it takes the new
   * time like any other.
   */
  private async moved(tx: Tx, trustOds: string, e: SlotEventDto, start: Date): Promise<SlotEventResult> {
    const echo = await this.isOurBooking(tx, trustOds, e.fillerAppointmentId, start);
    const withdrawn = echo ? undefined : await this.withdrawTaken(
      tx, trustOds, e, start, 'kept', 'an appointment was moved into it in the PAS (SIU^S13/S14)', () => this.movedInto(tx, trustOds, e, start),
    );
    const updated = await rows(tx,
      `UPDATE waiting_list_entry SET current_appointment_start = $3, updated_at = now()
        WHERE trust_ods = $1 AND current_appointment_id = $2 AND status <> 'closed' AND current_appointment_start IS DISTINCT FROM $3
        RETURNING id`,
      [trustOds, e.fillerAppointmentId, start],
    );
    if (withdrawn) return { eventId: e.eventId, outcome: 'withdrawn', slotId: withdrawn, entriesUpdated: updated.length };
    return { eventId: e.eventId, outcome: updated.length > 0 ? 'appointment-updated' : 'recorded', entriesUpdated: updated.length };
  }

  /**
   * Whether the PAS appointment is one our own write-back booked (so its S12/S13/S14 is our booking
   * coming back); with `at`, only while it stands at the time of the slot we booked it into.
   */
  private async isOurBooking(tx: Tx, trustOds: string, fillerAppointmentId: string, at?: Date): Promise<boolean> {
    const found = await tx.query(
      `SELECT 1 FROM booking b WHERE b.owning_trust_ods = $1 AND b.pas_appointment_id = $2
          AND ($3::timestamptz IS NULL OR EXISTS (SELECT 1 FROM slot s WHERE s.id = b.slot_id AND s.start_at = $3))
       UNION ALL
       SELECT 1 FROM writeback w WHERE w.trust_ods = $1 AND w.kind = 'book' AND w.pas_appointment_id = $2
          AND ($3::timestamptz IS NULL OR EXISTS (SELECT 1 FROM booking b JOIN slot s ON s.id = b.slot_id WHERE b.id = w.booking_id AND s.start_at = $3))
       LIMIT 1`,
      [trustOds, fillerAppointmentId, at ?? null],
    );
    return found.length > 0;
  }

  /**
   * The trust itself put the event's appointment into the time of one of our open freed slots (same
   * site, clinic and start; the clinician too when both name one), or, when its own slot is
   * `taken`, booked again the appointment whose cancellation freed it (S12); `kept`, the slot its
   * own cancellation freed is never matched (S13/S14). That slot is no longer free and is withdrawn
   * under its lock, unless `intoTheTime` (asked only when there is such a slot) says the event put
   * nothing new there. Returns its id, or undefined when no open freed slot was affected.
   */
  private async withdrawTaken(
    tx: Tx, trustOds: string, e: SlotEventDto, start: Date, ownSlot: 'taken' | 'kept', reason: string,
    intoTheTime?: () => Promise<boolean>,
  ): Promise<string | undefined> {
    const [slot] = await tx.query(
      `SELECT id FROM slot
        WHERE trust_ods = $1 AND status IN ('open', 'offering')
          AND ((filler_appointment_id = $2 AND $7)
               OR (filler_appointment_id <> $2
                   AND site_ods = $3 AND clinic_code = $4 AND start_at = $5 AND (clinician_id IS NULL OR $6::text IS NULL OR clinician_id = $6)))
        ORDER BY released_at LIMIT 1 FOR UPDATE`,
      [trustOds, e.fillerAppointmentId, e.siteOds, e.clinicCode, start, e.clinicianId ?? null, ownSlot === 'taken'],
    );
    if (!slot || (intoTheTime && !(await intoTheTime()))) return undefined;
    await this.withdraw(tx, slot.id, reason);
    return slot.id;
  }

  /**
   * Whether an S13/S14 put its appointment into `start` (the rule on `moved`): its last known start
   * elsewhere says yes, known at `start` already says no, and known nowhere only a reschedule (S13,
   * or no trigger from an older adapter) says yes. Read before `moved` updates the entries.
   */
  private async movedInto(tx: Tx, trustOds: string, e: SlotEventDto, start: Date): Promise<boolean> {
    const [known] = await tx.query(
      `WITH known AS (
         (SELECT se.start_at FROM slot_event se
           WHERE se.trust_ods = $1 AND se.filler_appointment_id = $2 AND se.event_id <> $3
           ORDER BY se.received_at DESC LIMIT 1)
         UNION ALL
         SELECT w.current_appointment_start FROM waiting_list_entry w
          WHERE w.trust_ods = $1 AND w.current_appointment_id = $2 AND w.status <> 'closed' AND w.current_appointment_start IS NOT NULL
       )
       SELECT count(*)::int AS n, coalesce(bool_or(start_at = $4), false) AS here FROM known`,
      [trustOds, e.fillerAppointmentId, e.eventId, start],
    );
    if (known.n > 0) return !known.here;
    return e.trigger !== 'S14';
  }

  /** Closes a freed slot as withdrawn; its live offers end with a "no longer available" SMS each, and nothing is re-matched. */
  private async withdraw(tx: Tx, slotId: string, reason: string): Promise<void> {
    const waves: Array<{ id: string }> = await tx.query(`SELECT id FROM offer_wave WHERE slot_id = $1 AND status = 'live'`, [slotId]);
    for (const w of waves) await endWave(tx, this.ics, w.id, reason, { lapse: 'withdrawn', rematch: false });
    await tx.query(`UPDATE slot SET status = 'withdrawn', closed_reason = $2, closed_at = now() WHERE id = $1`, [slotId, reason]);
  }
}
