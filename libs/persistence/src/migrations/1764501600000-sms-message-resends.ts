import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `sms_message.resends`: how many times a text was sent again after Notify reported a
 * `technical-failure` for it (Notify's fault, the text never went: Notify asks the sender to send
 * it again). The notifier caps them (NOTIFY_TECHNICAL_FAILURE_RESENDS) and names each resend's job
 * by its number. A constant default: no table rewrite.
 */
export class SmsMessageResends1764501600000 implements MigrationInterface {
  name = 'SmsMessageResends1764501600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE sms_message ADD COLUMN resends integer NOT NULL DEFAULT 0`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE sms_message DROP COLUMN IF EXISTS resends`);
  }
}
