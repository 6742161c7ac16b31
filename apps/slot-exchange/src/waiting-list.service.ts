/**
 * The ICS-wide waiting list, fed by each trust's PTL. Rows arrive already validated by the
 * adapter (and again by class-validator here); a batch is applied in one statement per table so
 * a 250,000-row snapshot is a few hundred round trips, not a quarter of a million.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { SnapshotResult, WaitingListBatchDto, WaitingListBatchResult } from '@app/contracts';
import { Priority, breachDate, priorityRank } from '@app/domain';
import { rows } from '@app/persistence';
import { AppError } from '@app/platform';
import { DataSource } from 'typeorm';

@Injectable()
export class WaitingListService {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  async applyBatch(trustOds: string, batch: WaitingListBatchDto): Promise<WaitingListBatchResult> {
    if (batch.mode === 'snapshot') await this.requireRunningSnapshot(trustOds, batch.snapshotId);
    // One pathway twice in a batch would make the upsert touch a row twice (an error): the last row wins.
    const rows = [...new Map(batch.rows.map((r) => [r.pathwayId, r])).values()].map((r) => ({
      ...r,
      any_site: r.acceptableSites.includes('ANY'),
      sites: r.acceptableSites.filter((s) => s !== 'ANY'),
      priority_rank: priorityRank(r.priority as Priority),
      breach_date: breachDate(r.priority as Priority, new Date(r.rttStart)).toISOString().slice(0, 10),
    }));
    // The same patient can appear on several pathways in one file: the last row's contact details win.
    const patients = new Map(rows.map((r) => [r.nhsNumber, r]));
    await this.ds.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO patient (nhs_number, birth_date, sex, postcode, mobile, mobile_status)
         SELECT x."nhsNumber", x."birthDate"::date, x.sex, x.postcode, x.mobile,
                CASE WHEN x.mobile IS NULL THEN 'none' ELSE 'valid' END
           FROM jsonb_to_recordset($1::jsonb) AS x("nhsNumber" text, "birthDate" text, sex text, postcode text, mobile text)
         ON CONFLICT (nhs_number) DO UPDATE SET
           birth_date = EXCLUDED.birth_date, sex = EXCLUDED.sex, postcode = EXCLUDED.postcode,
           mobile = EXCLUDED.mobile,
           -- A number Notify refused stays refused until the trust sends a different one.
           mobile_status = CASE WHEN patient.mobile IS NOT DISTINCT FROM EXCLUDED.mobile AND patient.mobile_status = 'invalid'
                                THEN 'invalid' ELSE EXCLUDED.mobile_status END,
           updated_at = now()`,
        [JSON.stringify([...patients.values()].map((r) => ({ nhsNumber: r.nhsNumber, birthDate: r.birthDate, sex: r.sex ?? null, postcode: r.postcode ?? null, mobile: r.mobile ?? null })))],
      );
      await tx.query(
        `INSERT INTO waiting_list_entry (trust_ods, pathway_id, patient_id, tfc, appointment_type, priority, priority_rank, rtt_start, breach_date,
                                         current_appointment_start, current_appointment_id, offer_consent, ics_wide_consent, any_site,
                                         acceptable_sites, max_travel_km, unavailable, last_snapshot_id)
         SELECT $2, x."pathwayId", p.id, x.tfc, x."appointmentType", x.priority, x.priority_rank, x."rttStart"::date, x.breach_date::date,
                x."currentAppointmentStart"::timestamptz, x."currentAppointmentId", x."offerConsent", x."icsWideConsent", x.any_site,
                ARRAY(SELECT jsonb_array_elements_text(x.sites)), x."maxTravelKm", x.unavailable, $3::uuid
           FROM jsonb_to_recordset($1::jsonb) AS x("pathwayId" text, "nhsNumber" text, tfc text, "appointmentType" text, priority text,
                priority_rank smallint, "rttStart" text, breach_date text, "currentAppointmentStart" text, "currentAppointmentId" text,
                "offerConsent" boolean, "icsWideConsent" boolean, any_site boolean, sites jsonb, "maxTravelKm" numeric, unavailable jsonb)
           JOIN patient p ON p.nhs_number = x."nhsNumber"
         ON CONFLICT (trust_ods, pathway_id) DO UPDATE SET
           patient_id = EXCLUDED.patient_id, tfc = EXCLUDED.tfc, appointment_type = EXCLUDED.appointment_type,
           priority = EXCLUDED.priority, priority_rank = EXCLUDED.priority_rank, rtt_start = EXCLUDED.rtt_start,
           breach_date = EXCLUDED.breach_date, current_appointment_start = EXCLUDED.current_appointment_start,
           current_appointment_id = EXCLUDED.current_appointment_id, offer_consent = EXCLUDED.offer_consent,
           ics_wide_consent = EXCLUDED.ics_wide_consent,
           -- Sites and dates the patient stated on the offer page are theirs: the PTL does not overwrite them.
           any_site = CASE WHEN waiting_list_entry.preferences_stated_at IS NULL THEN EXCLUDED.any_site ELSE waiting_list_entry.any_site END,
           acceptable_sites = CASE WHEN waiting_list_entry.preferences_stated_at IS NULL THEN EXCLUDED.acceptable_sites ELSE waiting_list_entry.acceptable_sites END,
           max_travel_km = EXCLUDED.max_travel_km,
           unavailable = CASE WHEN waiting_list_entry.preferences_stated_at IS NULL THEN EXCLUDED.unavailable ELSE waiting_list_entry.unavailable END,
           last_snapshot_id = COALESCE(EXCLUDED.last_snapshot_id, waiting_list_entry.last_snapshot_id),
           -- A listed pathway is open again unless we booked it ourselves (the PTL may lag our booking).
           status = CASE WHEN waiting_list_entry.status = 'booked' THEN 'booked' ELSE 'open' END,
           close_pending = false, updated_at = now()`,
        [
          JSON.stringify(rows.map((r) => ({ ...r, sites: r.sites, unavailable: r.unavailable ?? [] }))),
          trustOds,
          batch.mode === 'snapshot' ? batch.snapshotId : null,
        ],
      );
    });
    return { applied: rows.length };
  }

  async startSnapshot(trustOds: string): Promise<{ snapshotId: string }> {
    const rows: Array<{ id: string }> = await this.ds.query(
      `INSERT INTO ptl_import (trust_ods, mode, status) VALUES ($1, 'snapshot', 'running') RETURNING id`,
      [trustOds],
    );
    return { snapshotId: rows[0].id };
  }

  /**
   * Closes the trust's open entries the snapshot did not list. A patient holding a live offer or
   * a booking in flight is not touched now: the entry is marked to close once that settles.
   */
  async completeSnapshot(trustOds: string, snapshotId: string): Promise<SnapshotResult> {
    await this.requireRunningSnapshot(trustOds, snapshotId);
    return this.ds.transaction(async (tx) => {
      const deferred: Array<{ id: string }> = await rows(tx,
        `UPDATE waiting_list_entry e SET close_pending = true, updated_at = now()
          WHERE e.trust_ods = $1 AND e.status = 'open' AND e.last_snapshot_id IS DISTINCT FROM $2::uuid
            AND (EXISTS (SELECT 1 FROM offer o WHERE o.entry_id = e.id AND o.status = 'live')
                 OR EXISTS (SELECT 1 FROM booking b WHERE b.entry_id = e.id AND b.status = 'pending'))
          RETURNING e.id`,
        [trustOds, snapshotId],
      );
      const closed: Array<{ id: string }> = await rows(tx,
        `UPDATE waiting_list_entry e SET status = 'closed', updated_at = now()
          WHERE e.trust_ods = $1 AND e.status = 'open' AND e.last_snapshot_id IS DISTINCT FROM $2::uuid AND NOT e.close_pending
          RETURNING e.id`,
        [trustOds, snapshotId],
      );
      await tx.query(`UPDATE ptl_import SET status = 'completed', completed_at = now(), closed = $2, deferred = $3 WHERE id = $1`, [
        snapshotId, closed.length, deferred.length,
      ]);
      return { snapshotId, closed: closed.length, deferred: deferred.length };
    });
  }

  private async requireRunningSnapshot(trustOds: string, snapshotId: string | undefined): Promise<void> {
    if (!snapshotId) throw new AppError('snapshot_id_required', 'A snapshot batch needs the snapshotId from POST .../waiting-list/snapshots');
    const rows: Array<{ status: string }> = await this.ds.query(
      `SELECT status FROM ptl_import WHERE id::text = $1 AND trust_ods = $2`,
      [snapshotId, trustOds],
    );
    if (rows.length === 0) throw new AppError('snapshot_not_found', `No snapshot ${snapshotId} for ${trustOds}`, 404);
    if (rows[0].status !== 'running') throw new AppError('snapshot_not_running', `Snapshot ${snapshotId} is ${rows[0].status}`, 409);
  }
}
