import { MigrationInterface, QueryRunner } from 'typeorm';
import { createIndexConcurrently } from './concurrent-index';

/**
 * For the booking reconciler's third pass every 30 s (`DECIDED_OUTCOMES_SQL`: write-back outcomes
 * not yet acted on), which scanned every finished write-back and joined its booking. Its two
 * halves each read one of these, partial so they hold only the rows that half can act on:
 * - `booking_pending`: the bookings awaiting their PAS (`status = 'pending'`), from which a `book`
 *   write-back that has its outcome is found by `writeback (booking_id, kind)`;
 * - `writeback_cancel_failed`: the failed cancels of old appointments (rare: each is a patient
 *   holding two appointments and a person asked to look), by when they finished.
 * Built CONCURRENTLY, as the other late indexes.
 */
export class ReconcilerOutcomeIndexes1764502200000 implements MigrationInterface {
  name = 'ReconcilerOutcomeIndexes1764502200000';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await createIndexConcurrently(q, 'booking_pending', `booking (id) WHERE status = 'pending'`);
    await createIndexConcurrently(q, 'writeback_cancel_failed', `writeback (completed_at) WHERE kind = 'cancel' AND status = 'failed'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS writeback_cancel_failed`);
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS booking_pending`);
  }
}
