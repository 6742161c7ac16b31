import { MigrationInterface, QueryRunner } from 'typeorm';
import { createIndexConcurrently } from './concurrent-index';

/**
 * The messages still queued, oldest first, for the notifier's send sweep (`sms-sweep.ts`, every
 * minute): those whose job failed for good or was lost. Partial, so it holds the few messages in
 * flight rather than every text ever sent. Built CONCURRENTLY: `sms_message` is large and written
 * on every send.
 */
export class SmsQueuedByAge1764501700100 implements MigrationInterface {
  name = 'SmsQueuedByAge1764501700100';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await createIndexConcurrently(q, 'sms_message_queued_by_age', `sms_message (created_at, id) WHERE status = 'queued'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS sms_message_queued_by_age`);
  }
}
