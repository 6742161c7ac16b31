import { MigrationInterface, QueryRunner } from 'typeorm';
import { createIndexConcurrently } from './concurrent-index';

/**
 * An index of the accepted HL7 messages not yet forwarded to the exchange, for the adapter's
 * forwarding re-drive (every 30 s) and its `hl7_awaiting_forward_*` gauges (every scrape). Partial,
 * so it holds only the messages in flight (a handful, or an outage's backlog) rather than the whole
 * archive, which the by-received index would make each of those queries walk.
 *
 * Built CONCURRENTLY, outside a transaction: `hl7_message` holds every raw message for 90 days,
 * and a plain CREATE INDEX would block the adapters' inserts (so their ACKs) while it scanned it
 * during a rolling release. A build that failed half-way leaves an invalid index, which is dropped
 * and built again.
 */
export class Hl7AwaitingForward1764500100000 implements MigrationInterface {
  name = 'Hl7AwaitingForward1764500100000';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await createIndexConcurrently(q, 'hl7_message_awaiting_forward', `hl7_message (trust_ods, received_at, id) WHERE status = 'accepted' AND forwarded_at IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS hl7_message_awaiting_forward`);
  }
}
