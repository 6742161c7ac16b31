/**
 * The adapters' side of a write-back: read the order (scoped to the adapter's trust) and report
 * the PAS's answer. A terminal outcome is handed to the booking service through the outbox.
 *
 * No booking is made, nor confirmed, inside the minimum notice (DESIGN.md invariants; the notice
 * in force, as recorded): a booking whose slot has reached its cut-off is failed here rather than
 * written to the PAS (the order is answered `failed`, and the adapter skips any order that is not
 * pending), and a success the PAS reports after the cut-off is recorded as a failure (answered
 * `failed`, so the adapter undoes it) with the PAS's appointment id kept for the booking team.
 */
import { Inject, Injectable, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { WritebackOrder, WritebackOutcomeDto, queueFor } from '@app/contracts';
import { Clock, MatchingPolicy, isInsideMinimumNotice } from '@app/domain';
import { OutboxRelay, POLICY_IN_FORCE_SQL, PolicyRow, enqueue, policyFromRow, quietOutboxSql } from '@app/persistence';
import { AppError, CLOCK } from '@app/platform';
import { DataSource } from 'typeorm';
import { POLICY } from './tokens';

/**
 * A write-back id as the adapters send it. Anything else is "not found" without asking Postgres:
 * the queries compare `id` as a uuid (its primary-key index) rather than `id::text`, which would
 * scan every write-back ever ordered, twice per booking.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function notFound(trustOds: string, id: string): AppError {
  return new AppError('writeback_not_found', `No write-back ${id} for ${trustOds}`, 404);
}

@Injectable()
export class WritebacksService {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(POLICY) private readonly policy: MatchingPolicy,
    @Optional() private readonly relay?: OutboxRelay,
  ) {}

  /**
   * For a `book` write-back whose slot is inside the minimum notice in force (that specialty's view
   * of the recorded policy): that notice, in hours. Null while there is time, and for a cancel.
   */
  private noticeReached(r: { kind: string; start_at: Date | string; tfc: string; policy_row: PolicyRow }): number | null {
    if (r.kind !== 'book') return null;
    const policy = policyFromRow(r.policy_row, this.policy, r.tfc);
    return isInsideMinimumNotice(new Date(r.start_at), this.clock.now(), policy) ? policy.minNoticeHours : null;
  }

  async order(trustOds: string, id: string): Promise<WritebackOrder> {
    if (!UUID.test(id)) throw notFound(trustOds, id);
    const rows = await this.ds.query(
      `SELECT w.id, w.kind, w.trust_ods, w.booking_id, w.attempts, w.status, w.pas_appointment_id AS w_pas_id,
              s.start_at, s.duration_minutes, s.clinic_code, s.site_ods, s.clinician_id, s.tfc,
              b.previous_appointment_id, b.previous_appointment_start, p.nhs_number, ${POLICY_IN_FORCE_SQL} AS policy_row
         FROM writeback w JOIN booking b ON b.id = w.booking_id JOIN slot s ON s.id = b.slot_id JOIN patient p ON p.id = b.patient_id
        WHERE w.id = $1::uuid AND w.trust_ods = $2`,
      [id, trustOds],
    );
    // Another trust's write-back is "not found", not "forbidden": its existence is not ours to know.
    if (rows.length === 0) throw notFound(trustOds, id);
    const r = rows[0];
    const book = r.kind === 'book';
    const notice = r.status === 'pending' ? this.noticeReached(r) : null;
    // Recorded as the PAS's permanent refusal would be (under the row's lock, only while still
    // pending), so the booking service undoes the booking and tells the patient the same way.
    const status = notice === null ? r.status
      : (await this.outcome(trustOds, id, { outcome: 'failed', permanent: true, reason: `too late: the slot is inside the ${notice}-hour minimum notice; not written to the PAS` })).status;
    return {
      id: r.id,
      kind: r.kind,
      trustOds: r.trust_ods,
      bookingId: r.booking_id,
      attempt: r.attempts,
      status: status as WritebackOrder['status'],
      appointment: book
        ? { start: new Date(r.start_at).toISOString(), durationMinutes: r.duration_minutes, clinicCode: r.clinic_code, siteOds: r.site_ods, clinicianId: r.clinician_id, pasAppointmentId: r.w_pas_id }
        : { start: r.previous_appointment_start ? new Date(r.previous_appointment_start).toISOString() : '', durationMinutes: null, clinicCode: null, siteOds: null, clinicianId: null, pasAppointmentId: r.previous_appointment_id },
      patient: { nhsNumber: r.nhs_number },
    };
  }

  async outcome(trustOds: string, id: string, o: WritebackOutcomeDto): Promise<{ status: string }> {
    if (o.outcome === 'succeeded' && !o.pasAppointmentId) {
      throw new AppError('pas_appointment_id_required', 'A successful write-back must say the PAS appointment id');
    }
    if (!UUID.test(id)) throw notFound(trustOds, id);
    // With a relay in this process the outcome job notifies nobody (`quietOutboxSql`, set by the
    // first read: a NOTIFY serialises commits cluster-wide and wakes every process's listener, once
    // per booking in a storm); this process's relay is woken for it after the commit instead.
    let wrote = false;
    const result = await this.ds.transaction(async (tx) => {
      // The write-back's lock alone: nothing else is changed here (the booking service acts on the
      // outcome). Were the booking or slot needed, their locks would come first (lock-order.ts).
      const rows: Array<{ status: string; kind: string; start_at: Date; tfc: string; policy_row: PolicyRow }> = await tx.query(
        `SELECT w.status, w.kind, s.start_at, s.tfc, ${POLICY_IN_FORCE_SQL} AS policy_row${this.relay ? `, ${quietOutboxSql} AS quiet` : ''}
           FROM writeback w JOIN booking b ON b.id = w.booking_id JOIN slot s ON s.id = b.slot_id
          WHERE w.id = $1::uuid AND w.trust_ods = $2 FOR UPDATE OF w`,
        [id, trustOds],
      );
      if (rows.length === 0) throw notFound(trustOds, id);
      if (rows[0].status !== 'pending') {
        // Reported already: idempotent. A success arriving after the write-back was given up
        // leaves an appointment the adapter now cancels in the PAS: its id is kept, so that the
        // cancellation's SIU^S15 is known as our own and frees no phantom slot.
        if (o.outcome === 'succeeded' && rows[0].kind === 'book' && rows[0].status === 'failed') {
          await tx.query(`UPDATE writeback SET pas_appointment_id = COALESCE(pas_appointment_id, $2) WHERE id = $1`, [id, o.pasAppointmentId]);
        }
        return { status: rows[0].status };
      }
      if (o.outcome === 'failed' && !o.permanent) {
        // A try the PAS may have acted on is remembered whatever the later tries say, so that the
        // final failure does not reopen a slot the PAS may hold (a re-ordered job knows nothing of it).
        await tx.query(`UPDATE writeback SET attempts = attempts + 1, last_error = $2, pas_may_hold = pas_may_hold OR $3 WHERE id = $1`, [id, o.reason ?? null, o.pasMayHold === true]);
        return { status: 'pending' };
      }
      const notice = o.outcome === 'succeeded' ? this.noticeReached(rows[0]) : null;
      const status = o.outcome === 'succeeded' && notice === null ? 'succeeded' : 'failed';
      const reason = notice === null ? o.reason
        : `the PAS booked it as appointment ${o.pasAppointmentId} only inside the ${notice}-hour minimum notice: cancel it in the PAS if it still holds it`;
      // A failure's `pasMayHold` settles what earlier tries left open (false: the PAS was searched
      // and holds nothing); without it, what they reported stands.
      await tx.query(
        `UPDATE writeback SET status = $2, pas_appointment_id = COALESCE($3, pas_appointment_id), last_error = $4,
                pas_may_hold = COALESCE($5, pas_may_hold), attempts = attempts + 1, completed_at = now() WHERE id = $1`,
        [id, status, o.pasAppointmentId ?? null, reason ?? null, o.outcome === 'failed' ? o.pasMayHold ?? null : null],
      );
      await enqueue(tx, 'writeback-outcome', { writebackId: id });
      wrote = true;
      return { status };
    });
    if (wrote) this.relay?.wake([queueFor('writeback-outcome')]);
    return result;
  }
}
