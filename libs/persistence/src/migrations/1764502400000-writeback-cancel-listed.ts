import { MigrationInterface, QueryRunner } from 'typeorm';
import { createIndexConcurrently } from './concurrent-index';
import { SHORT_LOCK, withShortLock } from './short-lock';

/**
 * `writeback.listed_at`: when a failed cancel of an old appointment was listed for a person as
 * double-held (`booking_failure`), set by the outcome job that listed it. The reconciler's pass
 * over outcomes not yet acted on read every failed cancel ever made through
 * `writeback_cancel_failed` and checked each against `booking_failure`, every 30 s: work that grew
 * with every failed cancel for good. It now reads `writeback_cancel_unlisted`, which holds only the
 * failed cancels not yet listed (normally none: each leaves it when its outcome job lists it).
 * Nothing is deleted: the write-back stays failed (the dashboard's retry resets it) and the
 * failures list reads `booking_failure`, so an operator still sees every double-held booking.
 * The failed cancels listed already are marked with their listing's time (they are few: the old
 * index finds them). Nullable, no default: no table rewrite; indexes built CONCURRENTLY; the
 * column added under a short lock_timeout.
 */
export class WritebackCancelListed1764502400000 implements MigrationInterface {
  name = 'WritebackCancelListed1764502400000';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    // A moment's ACCESS EXCLUSIVE lock, but queued behind any long reader with every write-back
    // writer behind it: a short lock_timeout, a few tries, then a clear failure (short-lock.ts).
    await withShortLock(q, this.name, `ALTER TABLE writeback ADD COLUMN IF NOT EXISTS listed_at timestamptz`);
    await q.query(
      `UPDATE writeback w SET listed_at = f.created_at FROM booking_failure f
        WHERE w.kind = 'cancel' AND w.status = 'failed' AND w.listed_at IS NULL AND f.booking_id = w.booking_id AND f.kind = 'double-held'`,
    );
    await createIndexConcurrently(q, 'writeback_cancel_unlisted', `writeback (completed_at) WHERE kind = 'cancel' AND status = 'failed' AND listed_at IS NULL`);
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS writeback_cancel_failed`);
  }

  async down(q: QueryRunner): Promise<void> {
    await createIndexConcurrently(q, 'writeback_cancel_failed', `writeback (completed_at) WHERE kind = 'cancel' AND status = 'failed'`);
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS writeback_cancel_unlisted`);
    await withShortLock(q, this.name, `ALTER TABLE writeback DROP COLUMN IF EXISTS listed_at`, {
      ...SHORT_LOCK, doneBefore: 'writeback_cancel_failed was rebuilt and writeback_cancel_unlisted dropped',
    });
  }
}
