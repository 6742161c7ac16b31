import { MigrationInterface, QueryRunner } from 'typeorm';
import { createIndexConcurrently } from './concurrent-index';

/**
 * The write-backs still pending, by when they were ordered, for the booking reconciler's two
 * passes every 30 s (`STUCK_WRITEBACKS_SQL`, `UNANSWERED_AT_CUTOFF_SQL`: both say
 * `status = 'pending'`): without it each pass scanned every write-back ever made. Partial, so it
 * holds only those in flight (a few per booking awaiting its PAS). Built CONCURRENTLY, as the
 * other late indexes.
 */
export class WritebackPending1764501300000 implements MigrationInterface {
  name = 'WritebackPending1764501300000';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await createIndexConcurrently(q, 'writeback_pending', `writeback (created_at) WHERE status = 'pending'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS writeback_pending`);
  }
}
