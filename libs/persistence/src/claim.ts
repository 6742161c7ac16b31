/**
 * Booking-side writes that run many times a second in an acceptance storm, each as one SQL
 * statement instead of a dozen round trips. They write outbox rows themselves (in the caller's
 * transaction, as `enqueue` does) with the same deterministic job ids: the id prefix is taken from
 * the contracts' `jobId`, so the two can never drift apart.
 */
import { JobName, JobPayloads, jobId, queueFor } from '@app/contracts';
import { currentTraceparent } from '@app/platform';
import { EntityManager } from 'typeorm';

type Tx = Pick<EntityManager, 'query'>;

/** `jobId(name, { [field]: '' })`: the job id of a row is this prefix followed by the row's id. */
export function jobIdPrefix<N extends JobName>(name: N, field: keyof JobPayloads[N] & string): string {
  return jobId(name, { [field]: '' } as unknown as JobPayloads[N]);
}

/** The trace a job carries (TraceCarrier), as a jsonb object to merge into its payload. */
export function traceFields(): string {
  const traceparent = currentTraceparent();
  return JSON.stringify(traceparent ? { traceparent } : {});
}

export interface ClaimRequest {
  slotId: string;
  offerId: string;
  entryId: string;
  patientId: string;
  waveId: string;
  /** The slot's trust: owns the booking and receives the write-back. */
  owningTrustOds: string;
  /** Personalisation of the "no longer available" text the wave's other patients get. */
  takenWording: Record<string, string>;
}

/**
 * The winning YES, in one statement (the caller holds the slot's and the offer's row locks and has
 * decided `claim`): the booking (the unique indexes on active bookings per slot and per pathway are
 * the final guard: a second one fails with 23505), the offer accepted, the slot and the pathway
 * booked, the wave ended, the wave's other live offers superseded and each of their patients sent
 * "no longer available" once, the write-back order to the owning trust, and every job that causes
 * as an outbox row. Returns the booking id.
 */
export async function claimSlot(tx: Tx, c: ClaimRequest): Promise<string> {
  const [row]: Array<{ booking_id: string | null }> = await tx.query(
    `WITH entry AS (
       UPDATE waiting_list_entry SET status = 'booked', updated_at = now() WHERE id = $3
       RETURNING trust_ods, current_appointment_id, current_appointment_start
     ), booking AS (
       INSERT INTO booking (slot_id, offer_id, entry_id, patient_id, status, owning_trust_ods, home_trust_ods, previous_appointment_id, previous_appointment_start)
       SELECT $1, $2, $3, $4, 'pending', $6, e.trust_ods, e.current_appointment_id, e.current_appointment_start FROM entry e
       RETURNING id
     ), accepted AS (
       UPDATE offer SET status = 'accepted', responded_at = now(), ended_at = now() WHERE id = $2
     ), booked AS (
       UPDATE slot SET status = 'booked' WHERE id = $1
     ), wave AS (
       UPDATE offer_wave SET status = 'ended', ended_at = now(), ended_reason = 'accepted' WHERE id = $5 AND status = 'live'
     ), others AS (
       UPDATE offer SET status = 'superseded', ended_at = now() WHERE slot_id = $1 AND status = 'live' AND id <> $2
       RETURNING id, patient_id
     ), taken AS (
       INSERT INTO sms_message (patient_id, offer_id, kind, personalisation, dedupe_key, status)
       SELECT o.patient_id, o.id, 'taken', $7::jsonb, 'ended-' || o.id, 'queued' FROM others o
       ON CONFLICT (dedupe_key) DO NOTHING
       RETURNING id
     ), wb AS (
       INSERT INTO writeback (booking_id, trust_ods, kind, status) SELECT b.id, $6, 'book', 'pending' FROM booking b
       RETURNING id
     ), jobs AS (
       INSERT INTO outbox (queue, job_name, job_id, payload)
       SELECT $8, 'send-sms', $9 || t.id, jsonb_build_object('smsId', t.id) || $12::jsonb FROM taken t
       UNION ALL
       SELECT $10, 'write-back', $11 || w.id, jsonb_build_object('writebackId', w.id) || $12::jsonb FROM wb w
       RETURNING id
     )
     SELECT (SELECT id FROM booking) AS booking_id, (SELECT count(*) FROM jobs) AS jobs`,
    [
      c.slotId, c.offerId, c.entryId, c.patientId, c.waveId, c.owningTrustOds, JSON.stringify(c.takenWording),
      queueFor('send-sms'), jobIdPrefix('send-sms', 'smsId'), queueFor('write-back', c.owningTrustOds), jobIdPrefix('write-back', 'writebackId'),
      traceFields(),
    ],
  );
  if (!row?.booking_id) throw new Error(`claim of slot ${c.slotId}: the pathway ${c.entryId} was not found`);
  return row.booking_id;
}

export interface ReceivedText {
  /** Notify's id for the text: a repeat of the same callback is stored once. */
  externalId: string;
  /** Normalised UK mobile, or null when the sender's number is not one. */
  mobile: string | null;
  intent: string;
  code: string | null;
  /** The trace of the callback request that carried it, if any. */
  traceparent?: string;
}

/**
 * Received texts, many in one statement: each stored once per Notify id with the patient its number
 * belongs to (the PTL's latest row for that number), and a `process-reply` job for each new one in
 * the outbox. Returns the external ids that were new (a repeat answers as a duplicate).
 */
export async function storeReceivedTexts(tx: Tx, texts: ReceivedText[]): Promise<Set<string>> {
  // One row per Notify id (a callback repeated inside one batch is one text).
  texts = [...new Map(texts.map((t) => [t.externalId, t])).values()];
  if (texts.length === 0) return new Set();
  const stored: Array<{ external_id: string }> = await tx.query(
    `WITH input AS (
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS t(external_id, mobile, intent, code, traceparent, n)
     ), inserted AS (
       INSERT INTO patient_reply (channel, external_id, patient_id, intent, code)
       SELECT 'sms', i.external_id,
              (SELECT p.id FROM patient p WHERE p.mobile = i.mobile ORDER BY p.updated_at DESC LIMIT 1),
              i.intent, i.code
         FROM input i ORDER BY i.n
       ON CONFLICT (channel, external_id) DO NOTHING
       RETURNING id, external_id
     ), jobs AS (
       INSERT INTO outbox (queue, job_name, job_id, payload)
       SELECT $6, 'process-reply', $7 || r.id,
              jsonb_build_object('replyId', r.id) || CASE WHEN i.traceparent IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('traceparent', i.traceparent) END
         FROM inserted r JOIN input i ON i.external_id = r.external_id
       RETURNING id
     )
     SELECT external_id, (SELECT count(*) FROM jobs) AS jobs FROM inserted`,
    [
      texts.map((t) => t.externalId), texts.map((t) => t.mobile), texts.map((t) => t.intent), texts.map((t) => t.code), texts.map((t) => t.traceparent ?? null),
      queueFor('process-reply'), jobIdPrefix('process-reply', 'replyId'),
    ],
  );
  return new Set(stored.map((s) => s.external_id));
}
