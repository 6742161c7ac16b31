import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `hl7_message.received_bytes`: for a message refused for being over MLLP_MAX_MESSAGE_BYTES, the
 * size that arrived, while `raw` keeps only its first bytes (OVERSIZED_HEAD_BYTES): enough to
 * inspect it and see who sent what, without storing whatever a sender pushes. NULL for every other
 * message, whose `raw` is the whole message. Replay never accepts a row that has it (its `raw` is
 * not the message that was sent).
 */
export class Hl7OversizedKept1764500100100 implements MigrationInterface {
  name = 'Hl7OversizedKept1764500100100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE hl7_message ADD COLUMN IF NOT EXISTS received_bytes integer`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE hl7_message DROP COLUMN IF EXISTS received_bytes`);
  }
}
