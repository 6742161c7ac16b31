/**
 * Writes an SMS for the notifier in the caller's transaction. `dedupeKey` makes a message of one
 * kind about one thing (e.g. `taken:<offer id>`) go out at most once, however many paths ask.
 */
import { SmsKind } from '@app/contracts';
import { EntityManager } from 'typeorm';
import { enqueue } from './outbox';

export interface SmsRequest {
  patientId: string;
  offerId?: string | null;
  kind: SmsKind;
  personalisation: Record<string, string>;
  dedupeKey?: string;
  /** Not before (quiet hours). */
  sendAt?: Date;
  /** Queue priority, 1 first: offers carry their slot's closeness to its cut-off. */
  priority?: number;
}

export async function queueSms(tx: Pick<EntityManager, 'query'>, req: SmsRequest): Promise<string | null> {
  const rows: Array<{ id: string }> = await tx.query(
    `INSERT INTO sms_message (patient_id, offer_id, kind, personalisation, dedupe_key, status)
     VALUES ($1, $2, $3, $4, $5, 'queued')
     ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`,
    [req.patientId, req.offerId ?? null, req.kind, JSON.stringify(req.personalisation), req.dedupeKey ?? null],
  );
  if (rows.length === 0) return null;
  await enqueue(tx, 'send-sms', { smsId: rows[0].id }, { runAt: req.sendAt, priority: req.priority });
  return rows[0].id;
}
