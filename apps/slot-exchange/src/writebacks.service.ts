/**
 * The adapters' side of a write-back: read the order (scoped to the adapter's trust) and report
 * the PAS's answer. A terminal outcome is handed to the booking service through the outbox.
 */
import { Injectable, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { WritebackOrder, WritebackOutcomeDto, queueFor } from '@app/contracts';
import { OutboxRelay, enqueue, quietOutboxSql } from '@app/persistence';
import { AppError } from '@app/platform';
import { DataSource } from 'typeorm';

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
  constructor(@InjectDataSource() private readonly ds: DataSource, @Optional() private readonly relay?: OutboxRelay) {}

  async order(trustOds: string, id: string): Promise<WritebackOrder> {
    if (!UUID.test(id)) throw notFound(trustOds, id);
    const rows = await this.ds.query(
      `SELECT w.id, w.kind, w.trust_ods, w.booking_id, w.attempts, w.status, w.pas_appointment_id AS w_pas_id,
              s.start_at, s.duration_minutes, s.clinic_code, s.site_ods, s.clinician_id,
              b.previous_appointment_id, b.previous_appointment_start, p.nhs_number
         FROM writeback w JOIN booking b ON b.id = w.booking_id JOIN slot s ON s.id = b.slot_id JOIN patient p ON p.id = b.patient_id
        WHERE w.id = $1::uuid AND w.trust_ods = $2`,
      [id, trustOds],
    );
    // Another trust's write-back is "not found", not "forbidden": its existence is not ours to know.
    if (rows.length === 0) throw notFound(trustOds, id);
    const r = rows[0];
    const book = r.kind === 'book';
    return {
      id: r.id,
      kind: r.kind,
      trustOds: r.trust_ods,
      bookingId: r.booking_id,
      attempt: r.attempts,
      status: r.status,
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
      const rows: Array<{ status: string }> = await tx.query(
        `SELECT status${this.relay ? `, ${quietOutboxSql} AS quiet` : ''} FROM writeback WHERE id = $1::uuid AND trust_ods = $2 FOR UPDATE`,
        [id, trustOds],
      );
      if (rows.length === 0) throw notFound(trustOds, id);
      if (rows[0].status !== 'pending') return { status: rows[0].status }; // reported already: idempotent
      if (o.outcome === 'failed' && !o.permanent) {
        await tx.query(`UPDATE writeback SET attempts = attempts + 1, last_error = $2 WHERE id = $1`, [id, o.reason ?? null]);
        return { status: 'pending' };
      }
      const status = o.outcome === 'succeeded' ? 'succeeded' : 'failed';
      await tx.query(
        `UPDATE writeback SET status = $2, pas_appointment_id = COALESCE($3, pas_appointment_id), last_error = $4,
                attempts = attempts + 1, completed_at = now() WHERE id = $1`,
        [id, status, o.pasAppointmentId ?? null, o.reason ?? null],
      );
      await enqueue(tx, 'writeback-outcome', { writebackId: id });
      wrote = true;
      return { status };
    });
    if (wrote) this.relay?.wake([queueFor('writeback-outcome')]);
    return result;
  }
}
