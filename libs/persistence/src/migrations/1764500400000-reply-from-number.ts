import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `patient_reply.mobile`: the number a received text came from. A text is the number's, not one
 * patient's: siblings on a parent's phone, or a carer's number, share it, and the booking service
 * decides each text against every patient who has that number when it decides (CONTRACT.md "SMS":
 * a code names a live offer "of that number"). `patient_id` stays for replies that do name one
 * patient (the offer page: its token is one offer's).
 *
 * Texts stored before this and not yet decided were tied to the number's most recently updated
 * patient; they get that patient's number, so they too are decided for the whole number. Their
 * `patient_id` stays: a booking process of the previous release, still running during a rolling
 * release, decides by it (and would otherwise answer them as from an unknown number).
 */
export class ReplyFromNumber1764500400000 implements MigrationInterface {
  name = 'ReplyFromNumber1764500400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE patient_reply ADD COLUMN mobile text`);
    await q.query(`
      UPDATE patient_reply r SET mobile = p.mobile
        FROM patient p
       WHERE r.channel = 'sms' AND r.processed_at IS NULL AND p.id = r.patient_id AND p.mobile IS NOT NULL
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE patient_reply DROP COLUMN mobile`);
  }
}
