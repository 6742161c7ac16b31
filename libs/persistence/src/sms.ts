/**
 * Writes an SMS for the notifier in the caller's transaction. `dedupeKey` makes a message of one
 * kind about one thing (e.g. `taken:<offer id>`) go out at most once, however many paths ask.
 */
import { SmsKind, queueFor } from '@app/contracts';
import { EntityManager } from 'typeorm';
import { enqueue, quietOutboxSql } from './outbox';
import { jobIdPrefix, traceFields } from './claim';

export interface SmsRequest {
  patientId: string;
  offerId?: string | null;
  kind: SmsKind;
  personalisation: Record<string, string>;
  dedupeKey?: string;
  /** Not before (quiet hours). */
  sendAt?: Date;
  /**
   * Queue priority, 1 first: offers carry their slot's closeness to its cut-off. Kept on the
   * message too, for a send ordered again (the send sweep, a resend after a technical-failure).
   */
  priority?: number;
}

export async function queueSms(tx: Pick<EntityManager, 'query'>, req: SmsRequest): Promise<string | null> {
  const rows: Array<{ id: string }> = await tx.query(
    `INSERT INTO sms_message (patient_id, offer_id, kind, personalisation, dedupe_key, status, priority)
     VALUES ($1, $2, $3, $4, $5, 'queued', $6)
     ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`,
    [req.patientId, req.offerId ?? null, req.kind, JSON.stringify(req.personalisation), req.dedupeKey ?? null, req.priority ?? null],
  );
  if (rows.length === 0) return null;
  await enqueue(tx, 'send-sms', { smsId: rows[0].id }, { runAt: req.sendAt, priority: req.priority });
  return rows[0].id;
}

/**
 * Several texts in one statement (no `sendAt` / `priority`: sent at once), each with its `send-sms`
 * outbox row, as `queueSms` one by one would write them; a dedupe key already used writes nothing.
 * With `quiet` the outbox rows notify nobody (`quietOutboxSql`; the caller wakes its relay).
 * Returns how many texts were new.
 */
export async function queueSmsMany(tx: Pick<EntityManager, 'query'>, reqs: Array<Omit<SmsRequest, 'sendAt' | 'priority'>>, opts: { quiet?: boolean } = {}): Promise<number> {
  if (reqs.length === 0) return 0;
  const [row]: Array<{ n: number }> = await tx.query(
    `WITH input AS (
       SELECT i.*${opts.quiet ? `, ${quietOutboxSql} AS quiet` : ''}
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[], $5::text[]) WITH ORDINALITY AS i(patient_id, offer_id, kind, personalisation, dedupe_key, n)
     ), sms AS (
       INSERT INTO sms_message (patient_id, offer_id, kind, personalisation, dedupe_key, status)
       SELECT patient_id, offer_id, kind, personalisation, dedupe_key, 'queued' FROM input ORDER BY n
       ON CONFLICT (dedupe_key) DO NOTHING RETURNING id
     ), jobs AS (
       INSERT INTO outbox (queue, job_name, job_id, payload)
       SELECT $6, 'send-sms', $7 || s.id, jsonb_build_object('smsId', s.id) || $8::jsonb FROM sms s
       RETURNING id
     )
     SELECT count(*)::int AS n FROM jobs`,
    [
      reqs.map((r) => r.patientId), reqs.map((r) => r.offerId ?? null), reqs.map((r) => r.kind), reqs.map((r) => JSON.stringify(r.personalisation)), reqs.map((r) => r.dedupeKey ?? null),
      queueFor('send-sms'), jobIdPrefix('send-sms', 'smsId'), traceFields(),
    ],
  );
  return row?.n ?? 0;
}
