import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `writeback.pas_may_hold`: a booking's write-back that was given up while the PAS may hold its
 * appointment (a try went unanswered, a timeout or a 5xx, and the PAS could not be asked since).
 * The booking service fails such a booking but closes its slot rather than offering it again,
 * which would give the slot a second appointment, and lists it (`no-pas-answer`) for a person to
 * check the PAS. A constant default: no table rewrite.
 */
export class WritebackPasMayHold1764501200000 implements MigrationInterface {
  name = 'WritebackPasMayHold1764501200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE writeback ADD COLUMN pas_may_hold boolean NOT NULL DEFAULT false`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE writeback DROP COLUMN IF EXISTS pas_may_hold`);
  }
}
