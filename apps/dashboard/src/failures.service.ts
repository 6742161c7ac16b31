/**
 * Failures that need a person, gathered from where each kind is recorded:
 * - `hl7`: inbound HL7 refused with AE/AR (unmapped clinic, wrong site, bad field) and never
 *   accepted since under the same control id: open ones however old, resolved ones for 30 days;
 * - `booking`: a booking's write-back failed for good or got no answer (by the cut-off, or before
 *   the adapter gave up after a try the PAS may have acted on), the old
 *   appointment could not be cancelled (the patient holds two appointments), or the PAS deleted a
 *   claimed slot: `booking_failure` rows, or where that table is absent, bookings flagged
 *   `needs_attention`;
 * - `undeliverable`: an offer whose SMS could not be delivered (number refused or failed).
 * What people did about each (retried, resolved with a note, clinic mapped) is in
 * `failure_action`, with who and when; an item with a "resolved" action is closed.
 *
 * Actions are validated before anything changes, and recorded in the same transaction as the
 * change (failure_action + audit_log).
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { isAppointmentType, isTfc } from '@app/domain';
import { enqueue } from '@app/persistence';
import { AppError, IcsDirectory, defaultConfigDir } from '@app/platform';
import { randomUUID } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataSource, EntityManager } from 'typeorm';
import { adapterEndpoint } from './adapter-endpoint';
import { AuditService } from './audit.service';
import { Principal } from './auth/access';
import { DashboardConfig } from './config';

export type FailureKind = 'hl7' | 'booking' | 'undeliverable';
export const FAILURE_KINDS: readonly FailureKind[] = ['hl7', 'booking', 'undeliverable'];

/**
 * What an action on a failure did, as a code the failures page turns into its own words (the page
 * never shows text from the query string, which anyone can put in a link), and in full for scripts.
 */
export const FAILURE_DONE = {
  resolved: 'Marked as resolved.',
  'cancel-retried': 'The cancellation will be tried again now.',
  'resubmitted-accepted': 'Resubmitted: the adapter accepted it (AA).',
  'resubmitted-refused': 'Resubmitted: the adapter refused it again. The message below says why.',
  'clinic-mapped': 'The clinic is now mapped. Retry the message once the adapter has reloaded the mapping (a few seconds).',
} as const;
export type FailureDone = keyof typeof FAILURE_DONE;
export interface FailureOutcome { done: FailureDone; message: string; ref?: string }
export type FailureAction = 'retry' | 'resolve' | 'map-clinic';

export interface FailureItem {
  kind: FailureKind;
  ref_id: string;
  trust_ods: string;
  at: Date;
  summary: string;
  detail: string | null;
  slot_id: string | null;
  clinic_code: string | null;
  actions: FailureAction[];
  last_action: string | null;
  last_by: string | null;
  last_at: Date | null;
  last_note: string | null;
  resolved: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CLINIC_CODE = /^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$/;
/** The unmapped-clinic refusal the adapter writes: `AIS-3: clinic <code> is not in the clinic mapping …`. */
const UNMAPPED = /^AIS-3: clinic (\S+) is not in the clinic mapping/;

interface MappingFile { trust: string; version: string; clinics: Record<string, unknown> }

@Injectable()
export class FailuresService {
  /** Per mapping file, the end of the queue of edits to it (see addToMapping). */
  private readonly mappingEdits = new Map<string, Promise<void>>();

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly audit: AuditService,
    private readonly config: DashboardConfig,
    private readonly ics: IcsDirectory,
  ) {}

  async list(opts: { includeResolved: boolean; kind?: FailureKind; trust?: string | null; limit?: number; refId?: string }): Promise<FailureItem[]> {
    const rows: Array<Omit<FailureItem, 'actions' | 'resolved' | 'clinic_code'> & { double_held: boolean; resolved: boolean; ref_ids: string[] }> = await this.ds.query(
      `WITH items AS (
         -- One card per refused message (trust + MSH-10): its latest copy, however often the PAS
         -- resent it or an operator retried it; what was done about any copy shows on the card.
         SELECT 'hl7' AS kind, h.id::text AS ref_id, h.trust_ods, h.received_at AS at,
                coalesce(h.message_type, 'message') || ' ' || h.control_id || ' refused (' || h.ack_code || ')'
                  || CASE WHEN h.copies > 1 THEN ', ' || h.copies || ' times' ELSE '' END AS summary, h.error AS detail,
                NULL::uuid AS slot_id, false AS double_held, h.ref_ids
           FROM (SELECT DISTINCT ON (r.trust_ods, r.control_id) r.*,
                        count(*) OVER w AS copies, array_agg(r.id::text) OVER w AS ref_ids
                   FROM hl7_message r
                  WHERE r.status = 'refused'
                 WINDOW w AS (PARTITION BY r.trust_ods, r.control_id)
                  ORDER BY r.trust_ods, r.control_id, r.received_at DESC, r.id DESC) h
          WHERE NOT EXISTS (SELECT 1 FROM hl7_message a WHERE a.trust_ods = h.trust_ods AND a.control_id = h.control_id AND a.status = 'accepted')
            -- Open ones of any age (a refusal nobody dealt with never ages off the list); resolved ones for 30 days.
            AND (h.received_at > now() - interval '30 days'
                 OR NOT EXISTS (SELECT 1 FROM failure_action d WHERE d.kind = 'hl7' AND d.ref_id = h.id::text AND d.action = 'resolved'))
         UNION ALL
         ${await this.bookingFailuresSql()}
         UNION ALL
         SELECT 'undeliverable', o.id::text, e.trust_ods, coalesce(o.ended_at, o.created_at),
                'Offer SMS could not be delivered (patient at ' || e.trust_ods || ')', NULL, o.slot_id, false, ARRAY[o.id::text]
           FROM offer o JOIN waiting_list_entry e ON e.id = o.entry_id WHERE o.status = 'undeliverable')
       SELECT i.*, fa.action AS last_action, fa.user_email AS last_by, fa.at AS last_at, fa.note AS last_note,
              EXISTS (SELECT 1 FROM failure_action r WHERE r.kind = i.kind AND r.ref_id = i.ref_id AND r.action = 'resolved') AS resolved
         FROM items i
         LEFT JOIN LATERAL (SELECT * FROM failure_action f WHERE f.kind = i.kind AND f.ref_id = ANY (i.ref_ids) ORDER BY f.at DESC, f.id DESC LIMIT 1) fa ON true
        WHERE ($1::text IS NULL OR i.kind = $1) AND ($2::text IS NULL OR i.trust_ods = $2)
          AND ($3 OR NOT EXISTS (SELECT 1 FROM failure_action r WHERE r.kind = i.kind AND r.ref_id = i.ref_id AND r.action = 'resolved'))
          AND ($5::text IS NULL OR $5 = ANY (i.ref_ids))
        ORDER BY i.at DESC LIMIT $4`,
      [opts.kind ?? null, opts.trust ?? null, opts.includeResolved, opts.limit ?? 200, opts.refId ?? null],
    );
    return rows.map((r): FailureItem => {
      const clinic = r.kind === 'hl7' ? UNMAPPED.exec(r.detail ?? '')?.[1] ?? null : null;
      const actions: FailureAction[] = ['resolve'];
      // A refused message can be resubmitted; of a booking's failures only the old appointment's
      // cancellation is re-driven: a failed booking write-back has already failed the booking and
      // released the slot, so booking it now would hold a slot nobody is told about.
      if (r.kind === 'hl7' || r.double_held) actions.unshift('retry');
      if (clinic) actions.unshift('map-clinic');
      const { double_held: _d, ref_ids: _ids, ...rest } = r;
      return { ...rest, clinic_code: clinic, actions };
    });
  }

  /**
   * Bookings needing a person: from `booking_failure` (the booking service's list, one row per
   * booking and kind) where that table exists, else from `booking.needs_attention`.
   */
  private async bookingFailuresSql(): Promise<string> {
    const [{ t }] = await this.ds.query(`SELECT to_regclass('booking_failure') IS NOT NULL AS t`);
    return t
      ? `SELECT 'booking', f.id::text, f.trust_ods, f.created_at,
                CASE f.kind WHEN 'double-held' THEN 'Patient holds two appointments: the old one could not be cancelled at ' || b.home_trust_ods
                            WHEN 'no-pas-answer' THEN 'No answer from the PAS at ' || f.trust_ods || ': the patient was told it could not be booked and the slot closed; the PAS may hold an appointment for it: check, and cancel it there'
                            WHEN 'pas-deleted' THEN 'The PAS at ' || f.trust_ods || ' deleted the slot after a patient claimed it (SIU^S17): check the booking with the trust'
                            ELSE 'Booking write-back failed at ' || f.trust_ods || ': the patient was told it could not be booked' END,
                f.reason, f.slot_id, f.kind = 'double-held', ARRAY[f.id::text]
           FROM booking_failure f JOIN booking b ON b.id = f.booking_id`
      : `SELECT 'booking', b.id::text, b.owning_trust_ods, coalesce(b.failed_at, b.confirmed_at, b.created_at),
                'Booking needs attention: ' || b.needs_attention, b.failure_reason, b.slot_id,
                EXISTS (SELECT 1 FROM writeback w WHERE w.booking_id = b.id AND w.kind = 'cancel' AND w.status = 'failed'), ARRAY[b.id::text]
           FROM booking b WHERE b.needs_attention IS NOT NULL`;
  }

  /** Clinic codes trusts sent that their mapping does not know, when the adapter records them (table `unmapped_clinic`). */
  async unmappedClinics(): Promise<Array<Record<string, unknown>> | null> {
    const [{ t }] = await this.ds.query(`SELECT to_regclass('unmapped_clinic') IS NOT NULL AS t`);
    if (!t) return null;
    return this.ds.query(`SELECT * FROM unmapped_clinic WHERE mapped_at IS NULL ORDER BY last_seen_at DESC LIMIT 100`);
  }

  private async find(kind: FailureKind, refId: string): Promise<FailureItem> {
    if (!FAILURE_KINDS.includes(kind)) throw new AppError('invalid_failure', `kind: one of ${FAILURE_KINDS.join(', ')}`, 400);
    if (!UUID.test(refId)) throw new AppError('invalid_failure', 'id: not a failure id', 400);
    const [item] = await this.list({ includeResolved: true, kind, refId, limit: 1 });
    if (!item) throw new AppError('not_found', 'No such failure (it may have been dealt with already)', 404);
    return item;
  }

  private async record(tx: Pick<EntityManager, 'query'>, by: Principal, item: FailureItem, action: 'retried' | 'resolved' | 'clinic-mapped', note: string | null, ip: string | null, extra: Record<string, unknown> = {}) {
    await tx.query(`INSERT INTO failure_action (kind, ref_id, action, note, user_id, user_email) VALUES ($1, $2, $3, $4, $5, $6)`, [item.kind, item.ref_id, action, note, by.userId, by.email]);
    await this.audit.record(by, { action: `failure-${action}`, targetType: item.kind, targetId: item.ref_id, trustOds: item.trust_ods, detail: { ...extra, note: note ?? undefined }, ip }, tx);
  }

  async resolve(by: Principal, kind: FailureKind, refId: string, noteRaw: unknown, ip: string | null): Promise<void> {
    const note = typeof noteRaw === 'string' ? noteRaw.trim() : '';
    if (!note) throw new AppError('note_required', 'Say what was done (the note is kept with the failure)', 400, ['Enter a note']);
    if (note.length > 1000) throw new AppError('note_too_long', 'Keep the note under 1,000 characters', 400, ['Keep the note under 1,000 characters']);
    const item = await this.find(kind, refId);
    if (item.resolved) throw new AppError('already_resolved', `Already resolved by ${item.last_by ?? 'someone'}`, 409);
    await this.ds.transaction((tx) => this.record(tx, by, item, 'resolved', note, ip));
  }

  async retry(by: Principal, kind: FailureKind, refId: string, ip: string | null): Promise<FailureOutcome> {
    const item = await this.find(kind, refId);
    if (!item.actions.includes('retry')) throw new AppError('not_retryable', 'This failure cannot be retried; resolve it with a note instead', 400);
    if (item.resolved) throw new AppError('already_resolved', `Already resolved by ${item.last_by ?? 'someone'}`, 409);
    if (kind === 'booking') {
      return this.ds.transaction(async (tx) => {
        const [{ n }] = await tx.query(`SELECT count(*)::int AS n FROM failure_action WHERE kind = 'booking' AND ref_id = $1 AND action = 'retried'`, [refId]);
        const bookingId = (await tx.query(`SELECT to_regclass('booking_failure') IS NOT NULL AS t`))[0].t
          ? (await tx.query(`SELECT booking_id FROM booking_failure WHERE id = $1`, [refId]))[0]?.booking_id
          : refId;
        // No longer listed either (listed_at): should this attempt fail as well and its outcome job
        // be lost, booking's reconciler re-drives only failed cancels not marked listed.
        const reset = await tx.query(
          `WITH u AS (UPDATE writeback SET status = 'pending', last_error = NULL, listed_at = NULL
                       WHERE booking_id = $1 AND kind = 'cancel' AND status = 'failed' RETURNING id, trust_ods) SELECT * FROM u`,
          [bookingId],
        );
        if (!reset.length) throw new AppError('conflict', 'The cancellation is no longer failed: nothing to retry', 409);
        // A fresh job id: the failed attempt's id is still remembered by BullMQ and would be a no-op.
        await enqueue(tx, 'write-back', { writebackId: reset[0].id }, { ods: reset[0].trust_ods, jobIdSuffix: `retry${n + 1}` });
        await this.record(tx, by, item, 'retried', null, ip, { attempt: n + 1, writebackId: reset[0].id });
        return { done: 'cancel-retried', message: `The cancellation at ${reset[0].trust_ods} will be tried again now.` };
      });
    }
    // A refused HL7 message is resubmitted to its trust's adapter, which judges it afresh.
    const [msg] = await this.ds.query(`SELECT raw, trust_ods FROM hl7_message WHERE id = $1`, [refId]);
    const { url, token } = adapterEndpoint(this.config, this.ics, msg.trust_ods);
    let ack: string;
    try {
      const res = await fetch(`${url}/hl7`, {
        method: 'POST', body: msg.raw, signal: AbortSignal.timeout(10_000),
        headers: { 'content-type': 'application/hl7-v2', authorization: `Bearer ${token}` },
      });
      ack = await res.text();
    } catch (e) {
      throw new AppError('adapter_unreachable', `The ${msg.trust_ods} adapter did not answer: ${(e as Error).message}`, 502);
    }
    const code = /MSA\|(AA|AE|AR)\|/.exec(ack)?.[1] ?? 'no ACK';
    await this.ds.transaction((tx) => this.record(tx, by, item, 'retried', null, ip, { ack: code }));
    return code === 'AA' ? { done: 'resubmitted-accepted', message: 'Resubmitted: the adapter accepted it (AA).' }
      : { done: 'resubmitted-refused', message: `Resubmitted: the adapter answered ${code} again.` };
  }

  /**
   * For the status box after a clinic was mapped from a refused message: which clinic, at which
   * trust, as recorded by mapClinic (the link carries only the message's id, never the words).
   */
  async clinicMappedFlash(refId: unknown): Promise<string | null> {
    if (typeof refId !== 'string' || !UUID.test(refId)) return null;
    const [r] = await this.ds.query(
      `SELECT split_part(a.note, ' → ', 1) AS clinic, h.trust_ods FROM failure_action a JOIN hl7_message h ON h.id::text = a.ref_id
        WHERE a.kind = 'hl7' AND a.ref_id = $1 AND a.action = 'clinic-mapped' ORDER BY a.at DESC LIMIT 1`,
      [refId],
    );
    return r ? `Clinic ${r.clinic} is now mapped at ${r.trust_ods}. Retry the message once the adapter has reloaded the mapping (a few seconds).` : null;
  }

  /**
   * Adds one clinic to a trust's mapping file and returns the file's new version. Edits of one file
   * are made one at a time in this process (two operators mapping at once would otherwise both read
   * the old file and the second write would drop the first's clinic), each through its own temp
   * file, and the file is read back: if another dashboard replica wrote over it meanwhile, the edit
   * is made again on what it wrote.
   */
  private addToMapping(file: string, trust: string, clinicCode: string, entry: { tfc: string; appointmentType: string }, managed: (e: unknown) => AppError): Promise<string> {
    const edit = async (): Promise<string> => {
      for (let attempt = 0; attempt < 3; attempt++) {
        const json = JSON.parse(await readFile(file, 'utf8').catch((e) => { throw managed(e); })) as MappingFile;
        if (json.trust !== trust) throw new AppError('mapping_mismatch', `${file} is not ${trust}'s mapping`, 500);
        // Own keys only: `constructor` or `toString` are "in" any object, mapped or not.
        if (Object.hasOwn(json.clinics, clinicCode) && attempt === 0) throw new AppError('already_mapped', `Clinic ${clinicCode} is already mapped at ${trust}`, 409);
        json.clinics[clinicCode] = entry;
        json.version = `${new Date().toISOString().slice(0, 10)}.dashboard-${Date.now().toString(36)}`;
        // Write then rename: the adapter never reads a half-written file.
        const tmp = `${file}.${process.pid}.${randomUUID()}.tmp`;
        try {
          await writeFile(tmp, `${JSON.stringify(json, null, 2)}\n`);
          await rename(tmp, file);
        } catch (e) {
          await rm(tmp, { force: true }).catch(() => undefined);
          throw managed(e);
        }
        const written = JSON.parse(await readFile(file, 'utf8')) as MappingFile;
        if (Object.hasOwn(written.clinics, clinicCode)) return written.version;
      }
      throw new AppError('mapping_busy', `The ${trust} clinic mapping kept changing under this edit: try again`, 409);
    };
    const next = (this.mappingEdits.get(file) ?? Promise.resolve()).then(edit, edit);
    const settled = next.then(() => undefined, () => undefined);
    this.mappingEdits.set(file, settled);
    void settled.then(() => { if (this.mappingEdits.get(file) === settled) this.mappingEdits.delete(file); });
    return next;
  }

  /** Adds a clinic to the trust's mapping file; the adapter reloads it within seconds. */
  async mapClinic(by: Principal, refId: string, input: { clinicCode?: unknown; tfc?: unknown; appointmentType?: unknown }, ip: string | null): Promise<FailureOutcome> {
    const item = await this.find('hl7', refId);
    // Only the clinic an open refusal names: a failure id is not a licence to edit the mapping.
    if (!item.actions.includes('map-clinic')) throw new AppError('not_mappable', 'This message was not refused for an unmapped clinic: there is no clinic to map', 400);
    if (item.resolved) throw new AppError('already_resolved', `Already resolved by ${item.last_by ?? 'someone'}`, 409);
    const clinicCode = typeof input.clinicCode === 'string' ? input.clinicCode.trim() : '';
    if (clinicCode !== item.clinic_code) throw new AppError('invalid_mapping', `This message was refused for clinic ${item.clinic_code}, not ${clinicCode || 'an empty code'}`, 400, [`Map clinic ${item.clinic_code}`]);
    const tfc = typeof input.tfc === 'string' ? input.tfc.trim() : '';
    const type = typeof input.appointmentType === 'string' ? input.appointmentType.trim().toUpperCase() : '';
    const problems: string[] = [];
    if (!CLINIC_CODE.test(clinicCode)) problems.push('Enter the clinic code (letters, digits, - _ .)');
    if (!isTfc(tfc)) problems.push('Enter a 3-digit treatment function code');
    if (!isAppointmentType(type)) problems.push('Choose new or follow-up');
    if (problems.length) throw new AppError('invalid_mapping', problems.join('. '), 400, problems);
    const file = join(this.config.CLINIC_MAP_DIR ?? join(this.config.ICS_CONFIG_DIR ?? defaultConfigDir(), 'clinics'), `${item.trust_ods}.json`);
    // In Kubernetes the mappings are ConfigMaps (read-only, not even mounted here): say how instead of a 500.
    const managed = (e: unknown) => new AppError('mapping_not_writable',
      `Clinic mappings are managed by deployment here (${(e as NodeJS.ErrnoException).code ?? 'not writable'}): add "${clinicCode}": { "tfc": "${tfc}", "appointmentType": "${type}" } to config/clinics/${item.trust_ods}.json, run npm run k8s:generate and roll it out (the adapter reloads its ConfigMap), then retry the message.`, 409);
    const version = await this.addToMapping(file, item.trust_ods, clinicCode, { tfc, appointmentType: type }, managed);
    await this.ds.transaction((tx) => this.record(tx, by, item, 'clinic-mapped', `${clinicCode} → ${tfc} ${type}`, ip, { clinicCode, tfc, appointmentType: type, version }));
    return { done: 'clinic-mapped', ref: refId, message: `Clinic ${clinicCode} is now mapped at ${item.trust_ods} (mapping version ${version}). Retry the message once the adapter has reloaded it (a few seconds).` };
  }
}
