import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Indexes the claim needs so that its cost does not grow with history:
 * - `offer_live_by_slot`: the claim supersedes the slot's other live offers; without it that UPDATE
 *   scanned the whole offer table (about a million rows after a year) on every booking;
 * - `booking_by_offer`: a repeated YES finds the booking its offer earned.
 */
export class ClaimIndexes1764400013000 implements MigrationInterface {
  name = 'ClaimIndexes1764400013000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX IF NOT EXISTS offer_live_by_slot ON offer (slot_id) WHERE status = 'live'`);
    await q.query(`CREATE INDEX IF NOT EXISTS booking_by_offer ON booking (offer_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS offer_live_by_slot, booking_by_offer`);
  }
}
