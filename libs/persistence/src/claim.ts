/**
 * Booking-side writes that run many times a second in an acceptance storm, each as one SQL
 * statement instead of a dozen round trips. They write outbox rows themselves (in the caller's
 * transaction, as `enqueue` does) with the same deterministic job ids: the id prefix is taken from
 * the contracts' `jobId`, so the two can never drift apart.
 */
import { JobName, JobPayloads, jobId, queueFor } from '@app/contracts';
import { currentTraceparent } from '@app/platform';
import { EntityManager } from 'typeorm';
import { quietOutboxSql } from './outbox';

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
  return (await claimSlots(tx, [c])).get(c.offerId)!;
}

/**
 * Several winning YES (each for a different slot) as `claimSlot` does one, in one statement: a
 * batch of replies costs one round trip for all its claims. With `quiet` the outbox rows notify
 * nobody (`quietOutboxSql`): the caller wakes its own relay for `claimQueues` after the commit.
 * `traceparents` (by offer id) puts a claim's jobs in its own trace rather than the caller's.
 * Returns the booking id of each offer.
 */
export async function claimSlots(tx: Tx, claims: ClaimRequest[], opts: { quiet?: boolean; traceparents?: Map<string, string> } = {}): Promise<Map<string, string>> {
  if (claims.length === 0) return new Map();
  const col = <K extends keyof ClaimRequest>(k: K) => claims.map((c) => c[k]);
  const trace = traceFields();
  const rowsOut: Array<{ offer_id: string; booking_id: string }> = await tx.query(
    `WITH input AS (
       SELECT c.*${opts.quiet ? `, ${quietOutboxSql} AS quiet` : ''}
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::jsonb[], $8::text[], $9::jsonb[])
           AS c(slot_id, offer_id, entry_id, patient_id, wave_id, owning_ods, taken, wb_queue, trace)
     ), entry AS (
       UPDATE waiting_list_entry e SET status = 'booked', updated_at = now() FROM input c WHERE e.id = c.entry_id
       RETURNING e.id, e.trust_ods, e.current_appointment_id, e.current_appointment_start
     ), booking AS (
       INSERT INTO booking (slot_id, offer_id, entry_id, patient_id, status, owning_trust_ods, home_trust_ods, previous_appointment_id, previous_appointment_start)
       SELECT c.slot_id, c.offer_id, c.entry_id, c.patient_id, 'pending', c.owning_ods, e.trust_ods, e.current_appointment_id, e.current_appointment_start
         FROM input c JOIN entry e ON e.id = c.entry_id
       RETURNING id, offer_id
     ), accepted AS (
       UPDATE offer o SET status = 'accepted', responded_at = now(), ended_at = now() FROM input c WHERE o.id = c.offer_id
     ), booked AS (
       UPDATE slot s SET status = 'booked' FROM input c WHERE s.id = c.slot_id
     ), wave AS (
       UPDATE offer_wave w SET status = 'ended', ended_at = now(), ended_reason = 'accepted' FROM input c WHERE w.id = c.wave_id AND w.status = 'live'
     ), others AS (
       UPDATE offer o SET status = 'superseded', ended_at = now() FROM input c WHERE o.slot_id = c.slot_id AND o.status = 'live' AND o.id <> c.offer_id
       RETURNING o.id, o.patient_id, c.taken, c.trace
     ), taken AS (
       INSERT INTO sms_message (patient_id, offer_id, kind, personalisation, dedupe_key, status)
       SELECT o.patient_id, o.id, 'taken', o.taken, 'ended-' || o.id, 'queued' FROM others o
       ON CONFLICT (dedupe_key) DO NOTHING
       RETURNING id, offer_id
     ), wb AS (
       INSERT INTO writeback (booking_id, trust_ods, kind, status) SELECT b.id, c.owning_ods, 'book', 'pending' FROM booking b JOIN input c ON c.offer_id = b.offer_id
       RETURNING id, booking_id
     ), jobs AS (
       INSERT INTO outbox (queue, job_name, job_id, payload)
       SELECT $10, 'send-sms', $11 || t.id, jsonb_build_object('smsId', t.id) || o.trace FROM taken t JOIN others o ON o.id = t.offer_id
       UNION ALL
       SELECT c.wb_queue, 'write-back', $12 || w.id, jsonb_build_object('writebackId', w.id) || c.trace
         FROM wb w JOIN booking b ON b.id = w.booking_id JOIN input c ON c.offer_id = b.offer_id
       RETURNING id
     )
     SELECT b.offer_id, b.id AS booking_id, (SELECT count(*) FROM jobs) AS jobs FROM booking b`,
    [
      col('slotId'), col('offerId'), col('entryId'), col('patientId'), col('waveId'), col('owningTrustOds'),
      claims.map((c) => JSON.stringify(c.takenWording)), claims.map((c) => queueFor('write-back', c.owningTrustOds)),
      claims.map((c) => { const t = opts.traceparents?.get(c.offerId); return t ? JSON.stringify({ traceparent: t }) : trace; }),
      queueFor('send-sms'), jobIdPrefix('send-sms', 'smsId'), jobIdPrefix('write-back', 'writebackId'),
    ],
  );
  const booked = new Map(rowsOut.map((r) => [r.offer_id, r.booking_id]));
  const missing = claims.find((c) => !booked.has(c.offerId));
  if (missing) throw new Error(`claim of slot ${missing.slotId}: the pathway ${missing.entryId} was not found`);
  return booked;
}

/** The queues `claimSlots` writes outbox rows to (for the caller's relay wake-up). */
export function claimQueues(claims: Array<Pick<ClaimRequest, 'owningTrustOds'>>): string[] {
  return [...new Set([queueFor('send-sms'), ...claims.map((c) => queueFor('write-back', c.owningTrustOds))])];
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
 * Received texts, many in one statement: each stored once per Notify id with the number it came
 * from, and one `process-replies` job in the outbox
 * naming every new one in order of arrival (a job per text cost a relay row, a Redis add and a
 * worker round each, and split a slot's simultaneous YES between the booking service's batches).
 * Returns the external ids that were new (a repeat answers as a duplicate). With `quiet` the job
 * notifies nobody (`quietOutboxSql`): the caller wakes its relay for `offer-replies`. The job
 * carries the trace of the batch's first text that has one.
 */
export async function storeReceivedTexts(tx: Tx, texts: ReceivedText[], opts: { quiet?: boolean } = {}): Promise<Set<string>> {
  // One row per Notify id (a callback repeated inside one batch is one text).
  texts = [...new Map(texts.map((t) => [t.externalId, t])).values()];
  if (texts.length === 0) return new Set();
  const stored: Array<{ external_id: string }> = await tx.query(
    `WITH input AS (
       SELECT t.*${opts.quiet ? `, ${quietOutboxSql} AS quiet` : ''}
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS t(external_id, mobile, intent, code, traceparent, n)
     ), inserted AS (
       -- The number, not a patient: several patients can share one (siblings on a parent's phone),
       -- and a text may be about any of their offers, so the booking service decides it against all
       -- of them. Kept as the number rather than as patient ids fixed at receipt: one column, no
       -- lookup in the callback's hot path, and the decision sees who has the number then.
       -- patient_id still names one of them (the number's most recently updated patient) for a
       -- booking process of the previous release, which decides by it, during a rolling release:
       -- without it that process would mark these texts decided as from an unknown number. This
       -- release ignores it when the number is set.
       INSERT INTO patient_reply (channel, external_id, mobile, patient_id, intent, code, received_at)
       SELECT 'sms', i.external_id, i.mobile,
              (SELECT p.id FROM patient p WHERE p.mobile = i.mobile ORDER BY p.updated_at DESC LIMIT 1),
              i.intent, i.code,
              -- Per row, in the batch's order of arrival (now() is one instant for the whole batch):
              -- the booking service lets the first-received YES for a slot win.
              clock_timestamp()
         FROM input i ORDER BY i.n
       ON CONFLICT (channel, external_id) DO NOTHING
       RETURNING id, external_id
     ), jobs AS (
       INSERT INTO outbox (queue, job_name, job_id, payload)
       SELECT $6, 'process-replies', $7 || b.ids[1],
              jsonb_build_object('replyIds', to_jsonb(b.ids)) || CASE WHEN b.tp IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('traceparent', b.tp) END
         FROM (SELECT array_agg(r.id ORDER BY i.n) AS ids, (array_agg(i.traceparent ORDER BY i.n) FILTER (WHERE i.traceparent IS NOT NULL))[1] AS tp
                 FROM inserted r JOIN input i ON i.external_id = r.external_id) b
        WHERE b.ids IS NOT NULL
       RETURNING id
     )
     SELECT external_id, (SELECT count(*) FROM jobs) AS jobs FROM inserted`,
    [
      texts.map((t) => t.externalId), texts.map((t) => t.mobile), texts.map((t) => t.intent), texts.map((t) => t.code), texts.map((t) => t.traceparent ?? null),
      queueFor('process-replies'), jobId('process-replies', { replyIds: [''] }),
    ],
  );
  return new Set(stored.map((s) => s.external_id));
}
