import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Two more reasons a booking is put in front of a person (`booking_failure.kind`), and what the
 * exchange must remember about a booked slot the PAS deleted:
 * - `no-pas-answer`: the owning trust's PAS never answered the booking's write-back (its adapter
 *   down, its job waiting) before the slot reached its cut-off; the booking was failed, the patient
 *   told "could not", the slot closed. The PAS may yet hold an appointment a late write made.
 * - `pas-deleted`: the PAS deleted (SIU^S17) a freed slot a patient had already claimed; the booking
 *   stands or fails on the PAS's own answer, and a person squares it with the trust.
 * - `slot.pas_deleted_at`: when that S17 came. A booking of such a slot that then fails must close
 *   the slot as withdrawn: reopening it would offer patients a time that no longer exists.
 */
export class BookingFailuresLateAndDeleted1764500950000 implements MigrationInterface {
  name = 'BookingFailuresLateAndDeleted1764500950000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE booking_failure DROP CONSTRAINT booking_failure_kind_check;
      ALTER TABLE booking_failure ADD CONSTRAINT booking_failure_kind_check CHECK (kind IN ('writeback-failed', 'double-held', 'no-pas-answer', 'pas-deleted'));
      ALTER TABLE slot ADD COLUMN pas_deleted_at timestamptz;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE slot DROP COLUMN IF EXISTS pas_deleted_at;
      DELETE FROM booking_failure WHERE kind IN ('no-pas-answer', 'pas-deleted');
      ALTER TABLE booking_failure DROP CONSTRAINT booking_failure_kind_check;
      ALTER TABLE booking_failure ADD CONSTRAINT booking_failure_kind_check CHECK (kind IN ('writeback-failed', 'double-held'));
    `);
  }
}
