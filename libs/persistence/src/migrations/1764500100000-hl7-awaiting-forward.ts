import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An index of the accepted HL7 messages not yet forwarded to the exchange, for the adapter's
 * forwarding re-drive (every 30 s) and its `hl7_awaiting_forward_*` gauges (every scrape). Partial,
 * so it holds only the messages in flight (a handful, or an outage's backlog) rather than the whole
 * archive, which the by-received index would make each of those queries walk.
 */
export class Hl7AwaitingForward1764500100000 implements MigrationInterface {
  name = 'Hl7AwaitingForward1764500100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX IF NOT EXISTS hl7_message_awaiting_forward ON hl7_message (trust_ods, received_at) WHERE status = 'accepted' AND forwarded_at IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS hl7_message_awaiting_forward`);
  }
}
