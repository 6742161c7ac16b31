import { MigrationInterface, QueryRunner } from 'typeorm';
import { withShortLock } from './short-lock';

/**
 * `sms_message.priority`: the BullMQ priority the message's send was first ordered with (an offer
 * text's, by its slot's closeness to its cut-off; NULL for every other text). Kept on the message
 * so that a send ordered again (the notifier's send sweep, a resend after Notify's
 * technical-failure) carries it from the row it has already read: without it such a job went to
 * BullMQ's wait list, served before every prioritised job. Reading it back from Redis or from the
 * outbox (no index on `job_id`) inside the re-drive's transaction held that transaction, and its
 * row lock, through a Redis or Postgres fault.
 * Nullable, no default and no CHECK (the outbox row written beside it checks the range): no table
 * rewrite or scan. The column is added on its own, under a short lock_timeout (short-lock.ts):
 * its moment of ACCESS EXCLUSIVE lock queues behind any long reader of this hot table (the
 * dashboard's), with every offer insert, send and reply behind it. Then, with only row locks, the
 * messages still queued take their first job's priority from its outbox row, where that is still
 * kept (a scan of the outbox's day of rows: `job_id` has no index); any other is moot (sent, or
 * its offer long ended). Each step is safe to run again.
 */
export class SmsMessagePriority1764502300000 implements MigrationInterface {
  name = 'SmsMessagePriority1764502300000';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await withShortLock(q, this.name, `ALTER TABLE sms_message ADD COLUMN IF NOT EXISTS priority integer`);
    await q.query(`
      UPDATE sms_message m SET priority = o.priority
        FROM outbox o
       WHERE m.status = 'queued' AND m.priority IS NULL AND o.queue = 'sms-outbound' AND o.job_id = 'sms-' || m.id AND o.priority IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await withShortLock(q, this.name, `ALTER TABLE sms_message DROP COLUMN IF EXISTS priority`);
  }
}
