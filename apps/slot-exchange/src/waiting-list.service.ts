/**
 * The ICS-wide waiting list, fed by each trust's PTL. Rows arrive already validated by the
 * adapter (and checked again here, column by column); a batch is applied in one statement per
 * table so a 250,000-row snapshot is a few dozen round trips, not a quarter of a million.
 */
import { Injectable, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { SnapshotCompleteDto, SnapshotResult, WaitingListBatchDto, WaitingListBatchResult, WaitingListColumns, WaitingListRowDto, checkWaitingListColumns, rowsToColumns } from '@app/contracts';
import { Priority, breachDate, priorityRank } from '@app/domain';
import { PgArrayElement, pgArray, rows } from '@app/persistence';
import { AppError } from '@app/platform';
import { DataSource, EntityManager } from 'typeorm';
import { ExchangeConfig } from './config';

@Injectable()
export class WaitingListService {
  /** A running snapshot not heard from for this long is abandoned when the trust starts the next one. */
  private readonly idleMinutes: number;

  constructor(@InjectDataSource() private readonly ds: DataSource, @Optional() config?: ExchangeConfig) {
    this.idleMinutes = config?.PTL_SNAPSHOT_IDLE_MINUTES ?? 10;
  }

  async applyBatch(trustOds: string, batch: WaitingListBatchDto): Promise<WaitingListBatchResult> {
    // null is no batch either (the DTO's @IsOptional lets it through): exactly one form is sent.
    if ((batch.rows == null) === (batch.columns == null)) {
      throw new AppError('validation_failed', 'Send the batch as either rows or columns (exactly one of them, not null)', 400);
    }
    if (batch.mode === 'snapshot') await this.touchRunningSnapshot(trustOds, batch.snapshotId);
    const c = batch.columns ?? rowsToColumns(batch.rows as WaitingListRowDto[]);
    const problems = checkWaitingListColumns(c);
    if (problems.length > 0) throw new AppError('validation_failed', 'The batch is not valid; nothing in it was applied', 400, problems);
    // One pathway twice in a batch would make the upsert touch a row twice (an error): the last row wins.
    const lastOfPathway = new Map<string, number>();
    c.pathwayId.forEach((id, i) => lastOfPathway.set(id, i));
    const at = lastOfPathway.size === c.pathwayId.length ? c.pathwayId.map((_, i) => i) : [...lastOfPathway.values()];
    const details = patientDetails(c, at);
    // Each column as one array literal (pgArray), not an array node-pg writes element by element.
    const col = <T extends PgArrayElement>(values: T[], rows: number[]) => pgArray(rows.map((i) => values[i]));
    const ranks = pgArray(at.map((i) => priorityRank(c.priority[i] as Priority)));
    const breach = pgArray(at.map((i) => breachDate(c.priority[i] as Priority, new Date(c.rttStart[i])).toISOString().slice(0, 10)));
    const anySite = pgArray(at.map((i) => c.acceptableSites[i].includes('ANY')));
    // Joined for the array parameter (site codes hold no ';', checked above); split again in SQL.
    const sites = pgArray(at.map((i) => c.acceptableSites[i].filter((s) => s !== 'ANY').join(';')));
    const unavailable = pgArray(at.map((i) => (c.unavailable[i].length === 0 ? '[]' : JSON.stringify(c.unavailable[i]))));
    await this.ds.transaction(async (tx) => {
      // Held until this batch commits: the snapshot cannot be completed or abandoned meanwhile (both
      // lock its row FOR UPDATE), so a batch of a snapshot abandoned for a newer one never stamps
      // rows after the newer one has. KEY SHARE lets the snapshot's other batches run alongside.
      if (batch.mode === 'snapshot') await this.runningSnapshot(tx, trustOds, batch.snapshotId, 'FOR KEY SHARE');
      // Array parameters unnested side by side: one statement per table, and Postgres parses no JSON per row.
      // The patients' ids come back from their upsert, so the entries need no join against the
      // whole patient table (a scan per batch that grew with every batch of a large snapshot).
      //
      // A patient is one row ICS-wide (by NHS number), but each trust's PTL says only what that
      // trust holds: a blank cell means "not given", never "remove". So a value a row gives replaces
      // the stored one (whichever trust gave either: there is no record of which trust supplied
      // what, and the latest value given is the likeliest current one), and a blank keeps what is
      // stored. Otherwise a trust that never had a patient's mobile would wipe the one another
      // trust sent, and that patient's pathways there would silently stop getting offers. A trust
      // that no longer wants its patient texted says so with OFFER_CONSENT=N on the pathway.
      const patients = await rows<{ id: string; nhs_number: string }>(tx,
        `INSERT INTO patient (nhs_number, birth_date, sex, postcode, mobile, mobile_status)
         SELECT x.nhs_number, x.birth_date::date, x.sex, x.postcode, x.mobile,
                CASE WHEN x.mobile IS NULL THEN 'none' ELSE 'valid' END
           FROM (SELECT nhs_number, birth_date, sex, NULLIF(postcode, '') AS postcode, NULLIF(mobile, '') AS mobile
                   FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS u(nhs_number, birth_date, sex, postcode, mobile)) AS x
         ON CONFLICT (nhs_number) DO UPDATE SET
           birth_date = COALESCE(EXCLUDED.birth_date, patient.birth_date), sex = COALESCE(EXCLUDED.sex, patient.sex),
           postcode = COALESCE(EXCLUDED.postcode, patient.postcode), mobile = COALESCE(EXCLUDED.mobile, patient.mobile),
           -- A number's status (one Notify refused stays refused) holds while the number does:
           -- only a different number is worth trying again.
           mobile_status = CASE WHEN EXCLUDED.mobile IS NULL OR EXCLUDED.mobile = patient.mobile THEN patient.mobile_status ELSE 'valid' END,
           updated_at = now()
         RETURNING id, nhs_number`,
        [pgArray(details.nhsNumber), pgArray(details.birthDate), pgArray(details.sex), pgArray(details.postcode), pgArray(details.mobile)],
      );
      const patientId = new Map(patients.map((p) => [p.nhs_number, p.id]));
      await tx.query(
        `INSERT INTO waiting_list_entry (trust_ods, pathway_id, patient_id, tfc, appointment_type, priority, priority_rank, rtt_start, breach_date,
                                         current_appointment_start, current_appointment_id, offer_consent, ics_wide_consent, any_site,
                                         acceptable_sites, max_travel_km, unavailable, last_snapshot_id)
         SELECT $1, x.pathway_id, x.patient_id, x.tfc, x.appointment_type, x.priority, x.priority_rank, x.rtt_start::date, x.breach_date::date,
                x.current_appointment_start::timestamptz, x.current_appointment_id, x.offer_consent, x.ics_wide_consent, x.any_site,
                string_to_array(x.sites, ';'), x.max_travel_km, x.unavailable::jsonb, $2::uuid
           FROM unnest($3::text[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::smallint[], $9::text[], $10::text[], $11::text[],
                       $12::text[], $13::boolean[], $14::boolean[], $15::boolean[], $16::text[], $17::numeric[], $18::text[])
                AS x(pathway_id, patient_id, tfc, appointment_type, priority, priority_rank, rtt_start, breach_date, current_appointment_start,
                     current_appointment_id, offer_consent, ics_wide_consent, any_site, sites, max_travel_km, unavailable)
         ON CONFLICT (trust_ods, pathway_id) DO UPDATE SET
           patient_id = EXCLUDED.patient_id, tfc = EXCLUDED.tfc, appointment_type = EXCLUDED.appointment_type,
           priority = EXCLUDED.priority, priority_rank = EXCLUDED.priority_rank, rtt_start = EXCLUDED.rtt_start,
           breach_date = EXCLUDED.breach_date, current_appointment_start = EXCLUDED.current_appointment_start,
           current_appointment_id = EXCLUDED.current_appointment_id, offer_consent = EXCLUDED.offer_consent,
           ics_wide_consent = EXCLUDED.ics_wide_consent,
           -- Sites and dates the patient stated on the offer page are theirs: the PTL does not overwrite them.
           -- Each has its own stamp: a pathway whose page showed no sites keeps taking the PTL's.
           any_site = CASE WHEN waiting_list_entry.sites_stated_at IS NULL THEN EXCLUDED.any_site ELSE waiting_list_entry.any_site END,
           acceptable_sites = CASE WHEN waiting_list_entry.sites_stated_at IS NULL THEN EXCLUDED.acceptable_sites ELSE waiting_list_entry.acceptable_sites END,
           max_travel_km = EXCLUDED.max_travel_km,
           unavailable = CASE WHEN waiting_list_entry.preferences_stated_at IS NULL THEN EXCLUDED.unavailable ELSE waiting_list_entry.unavailable END,
           last_snapshot_id = COALESCE(EXCLUDED.last_snapshot_id, waiting_list_entry.last_snapshot_id),
           -- A listed pathway is open again unless we booked it ourselves (the PTL may lag our booking).
           status = CASE WHEN waiting_list_entry.status = 'booked' THEN 'booked' ELSE 'open' END,
           close_pending = false, updated_at = now()`,
        [
          trustOds, batch.mode === 'snapshot' ? batch.snapshotId : null,
          col(c.pathwayId, at), pgArray(at.map((i) => patientId.get(c.nhsNumber[i]))), col(c.tfc, at), col(c.appointmentType, at), col(c.priority, at), ranks,
          col(c.rttStart, at), breach, col(c.currentAppointmentStart, at), col(c.currentAppointmentId, at), col(c.offerConsent, at),
          col(c.icsWideConsent, at), anySite, sites, col(c.maxTravelKm, at), unavailable,
        ],
      );
    });
    return { applied: at.length };
  }

  /**
   * One snapshot per trust at a time (the unique index `ptl_import_one_running_snapshot`): a
   * snapshot closes every open entry it did not stamp, so two at once (the same file sent again
   * while the first is still being applied) would each close the rows the other stamped. Another
   * start meanwhile is a 409 saying which snapshot runs and since when. A running snapshot not
   * heard from for PTL_SNAPSHOT_IDLE_MINUTES (its adapter died mid-upload) is marked `abandoned`
   * here, so it blocks the trust no longer; it can then apply no batch and close nothing.
   */
  async startSnapshot(trustOds: string): Promise<{ snapshotId: string }> {
    return this.ds.transaction(async (tx) => {
      // FOR UPDATE waits for a batch of it being applied, and the idle test is made again after.
      await tx.query(
        `UPDATE ptl_import SET status = 'abandoned', completed_at = now()
          WHERE id IN (SELECT id FROM ptl_import
                        WHERE trust_ods = $1 AND mode = 'snapshot' AND status = 'running' AND active_at < now() - make_interval(mins => $2)
                          FOR UPDATE)`,
        [trustOds, this.idleMinutes],
      );
      const started = await rows<{ id: string }>(tx,
        `INSERT INTO ptl_import (trust_ods, mode, status) VALUES ($1, 'snapshot', 'running')
         ON CONFLICT (trust_ods) WHERE mode = 'snapshot' AND status = 'running' DO NOTHING
         RETURNING id`,
        [trustOds],
      );
      if (started.length === 1) return { snapshotId: started[0].id };
      const running = await rows<{ id: string; started_at: Date; active_at: Date }>(tx,
        `SELECT id, started_at, active_at FROM ptl_import WHERE trust_ods = $1 AND mode = 'snapshot' AND status = 'running'`,
        [trustOds],
      );
      const r = running[0];
      const which = r
        ? `snapshot ${r.id}, started ${new Date(r.started_at).toISOString()}, last heard from ${new Date(r.active_at).toISOString()}`
        : 'another snapshot, just now';
      throw new AppError(
        'snapshot_running',
        `A PTL snapshot of ${trustOds} is already running (${which}). A trust sends one snapshot at a time: send the file again once ` +
          `that one has completed, or after ${this.idleMinutes} minutes without a batch of it, when it is taken as abandoned.`,
        409,
        r ? { snapshotId: r.id, startedAt: new Date(r.started_at).toISOString(), activeAt: new Date(r.active_at).toISOString(), idleMinutes: this.idleMinutes } : undefined,
      );
    });
  }

  /**
   * Gives up a running snapshot whose import failed part-way (a batch refused, the exchange
   * unreachable): it closes nothing, and the trust's next snapshot (the file sent again) need not
   * wait PTL_SNAPSHOT_IDLE_MINUTES. The rows it applied stay applied, as a delta's would.
   */
  async abandonSnapshot(trustOds: string, snapshotId: string): Promise<{ snapshotId: string; status: 'abandoned' }> {
    return this.ds.transaction(async (tx) => {
      await this.runningSnapshot(tx, trustOds, snapshotId, 'FOR UPDATE');
      await tx.query(`UPDATE ptl_import SET status = 'abandoned', completed_at = now() WHERE id = $1::uuid`, [snapshotId]);
      return { snapshotId, status: 'abandoned' as const };
    });
  }

  /**
   * Closes the trust's open entries the snapshot did not list. A patient holding a live offer or
   * a booking in flight is not touched now: the entry is marked to close once that settles.
   *
   * "Listed" means in the file, not only applied: the pathways of rows the adapter rejected
   * (`rejectedPathwayIds`) were listed too, so their entries are kept exactly as they were (not
   * updated with the bad row, not closed). When the adapter withholds closing (`closingWithheld`:
   * too many rows rejected for the file to be trusted as the whole list, or a CSV that broke
   * part-way), nothing is closed and the import record says why.
   */
  async completeSnapshot(trustOds: string, snapshotId: string, filed: SnapshotCompleteDto = {}): Promise<SnapshotResult> {
    return this.ds.transaction(async (tx) => {
      // Still the trust's running snapshot (the only one: see startSnapshot), and stays so until this
      // commits: abandoning it waits, and so does completing it twice (the second then finds it completed).
      await this.runningSnapshot(tx, trustOds, snapshotId, 'FOR UPDATE');
      let deferred: Array<{ id: string }> = [];
      let closed: Array<{ id: string }> = [];
      if (!filed.closingWithheld) {
        // Marked as listed by this snapshot, which they were; their data, status and updated_at stay
        // as they were. One index lookup per id (trust_ods, pathway_id), and the closing below is unchanged.
        if (filed.rejectedPathwayIds?.length) {
          await tx.query(
            `UPDATE waiting_list_entry SET last_snapshot_id = $2::uuid WHERE trust_ods = $1 AND pathway_id = ANY($3::text[])`,
            [trustOds, snapshotId, pgArray(filed.rejectedPathwayIds)],
          );
        }
        deferred = await rows(tx,
          `UPDATE waiting_list_entry e SET close_pending = true, updated_at = now()
            WHERE e.trust_ods = $1 AND e.status = 'open' AND e.last_snapshot_id IS DISTINCT FROM $2::uuid
              AND (EXISTS (SELECT 1 FROM offer o WHERE o.entry_id = e.id AND o.status = 'live')
                   OR EXISTS (SELECT 1 FROM booking b WHERE b.entry_id = e.id AND b.status = 'pending'))
            RETURNING e.id`,
          [trustOds, snapshotId],
        );
        closed = await rows(tx,
          `UPDATE waiting_list_entry e SET status = 'closed', updated_at = now()
            WHERE e.trust_ods = $1 AND e.status = 'open' AND e.last_snapshot_id IS DISTINCT FROM $2::uuid AND NOT e.close_pending
            RETURNING e.id`,
          [trustOds, snapshotId],
        );
      }
      await tx.query(
        `UPDATE ptl_import SET status = 'completed', completed_at = now(), closed = $2, deferred = $3, rows = $4, rejected = $5, closing_withheld = $6
          WHERE id = $1`,
        [snapshotId, closed.length, deferred.length, filed.rows ?? null, filed.rejected ?? null, filed.closingWithheld ?? null],
      );
      const result: SnapshotResult = { snapshotId, closed: closed.length, deferred: deferred.length };
      if (filed.closingWithheld) result.closingWithheld = filed.closingWithheld;
      return result;
    });
  }

  /** Marks the snapshot as heard from (see startSnapshot), refusing one that is not running. Before the batch's transaction, not in it. */
  private async touchRunningSnapshot(trustOds: string, snapshotId: string | undefined): Promise<void> {
    if (!snapshotId) throw new AppError('snapshot_id_required', 'A snapshot batch needs the snapshotId from POST .../waiting-list/snapshots');
    const touched = await rows(this.ds,
      `UPDATE ptl_import SET active_at = now() WHERE id::text = $1 AND trust_ods = $2 AND mode = 'snapshot' AND status = 'running' RETURNING id`,
      [snapshotId, trustOds],
    );
    if (touched.length === 0) await this.runningSnapshot(this.ds.manager, trustOds, snapshotId, '');
  }

  /** Throws unless the snapshot is this trust's running one; `lock` holds its row to the end of the transaction. */
  private async runningSnapshot(q: Pick<EntityManager, 'query'>, trustOds: string, snapshotId: string | undefined, lock: 'FOR UPDATE' | 'FOR KEY SHARE' | ''): Promise<void> {
    if (!snapshotId) throw new AppError('snapshot_id_required', 'A snapshot batch needs the snapshotId from POST .../waiting-list/snapshots');
    const found = await rows<{ status: string }>(q,
      `SELECT status FROM ptl_import WHERE id::text = $1 AND trust_ods = $2 AND mode = 'snapshot' ${lock}`,
      [snapshotId, trustOds],
    );
    if (found.length === 0) throw new AppError('snapshot_not_found', `No snapshot ${snapshotId} for ${trustOds}`, 404);
    if (found[0].status === 'abandoned') {
      throw new AppError('snapshot_not_running',
        `Snapshot ${snapshotId} was abandoned (its import failed, or nothing was heard from it for ${this.idleMinutes} minutes and a newer one started): it applies nothing and closes nothing. Send the whole file again.`, 409);
    }
    if (found[0].status !== 'running') throw new AppError('snapshot_not_running', `Snapshot ${snapshotId} is ${found[0].status}`, 409);
  }
}

/**
 * One set of details per patient in the batch (`at`: the rows applied, in file order). The same
 * patient can appear on several pathways in one file: for each detail, the last row that gives
 * one wins, and a blank in a later row keeps an earlier row's value (as it keeps a stored one).
 */
function patientDetails(c: WaitingListColumns, at: number[]) {
  const slot = new Map<string, number>();
  const d = { nhsNumber: [] as string[], birthDate: [] as Array<string | null>, sex: [] as Array<string | null>, postcode: [] as Array<string | null>, mobile: [] as Array<string | null> };
  for (const i of at) {
    let k = slot.get(c.nhsNumber[i]);
    if (k === undefined) {
      k = d.nhsNumber.push(c.nhsNumber[i]) - 1;
      slot.set(c.nhsNumber[i], k);
      d.birthDate.push(null); d.sex.push(null); d.postcode.push(null); d.mobile.push(null);
    }
    d.birthDate[k] = c.birthDate[i] || d.birthDate[k];
    d.sex[k] = c.sex[i] || d.sex[k];
    d.postcode[k] = c.postcode[i] || d.postcode[k];
    d.mobile[k] = c.mobile[i] || d.mobile[k];
  }
  return d;
}
