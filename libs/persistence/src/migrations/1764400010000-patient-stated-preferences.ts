import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `waiting_list_entry.preferences_stated_at`: when the patient last told us, on the offer page,
 * which sites they can reach and which dates they cannot make. From then on those two answers are
 * the patient's own and a PTL upload (snapshot or delta) no longer overwrites them: the trust's
 * extract usually carries only what was recorded at referral, and a patient who said "not Mount
 * Vernon" must not be offered Mount Vernon again the next night.
 */
export class PatientStatedPreferences1764400010000 implements MigrationInterface {
  name = 'PatientStatedPreferences1764400010000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE waiting_list_entry ADD COLUMN preferences_stated_at timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE waiting_list_entry DROP COLUMN IF EXISTS preferences_stated_at`);
  }
}
