import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `sms_message.send_started_at`: when the notifier last began a send of the message to Notify,
 * committed before the request goes. A send Notify never answered (a timeout, a 5xx, a cut
 * connection) may still have been taken, so once it is set every later start of the message's job
 * (a retry, a job re-driven by the sweep, a job rebuilt after Redis lost its data) first asks
 * Notify for it by our reference, and only after Notify has had time to finish the request.
 * Nullable with no default: no table rewrite.
 */
export class SmsSendStarted1764501700000 implements MigrationInterface {
  name = 'SmsSendStarted1764501700000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE sms_message ADD COLUMN send_started_at timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE sms_message DROP COLUMN IF EXISTS send_started_at`);
  }
}
