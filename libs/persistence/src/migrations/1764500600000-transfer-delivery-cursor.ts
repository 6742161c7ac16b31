import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A delivery order for inter-provider transfers that a receiving trust can page through without
 * repeats or losses (`GET /v1/trusts/:ods/transfers?after=<cursor>`).
 *
 * `created_at` cannot be that order: it is the writing transaction's START (now()), so a transfer
 * whose transaction began first but committed last lands behind a `since` the poller has already
 * moved past, and is never delivered. A plain sequence has the same gap (numbers are taken before
 * commit). So each row also records the id of the transaction that wrote it (`tx_id`), and the
 * reader returns only rows whose transaction is older than every transaction still in flight
 * (`tx_id < pg_snapshot_xmin(pg_current_snapshot())`). Transaction ids are handed out in order,
 * so no row can ever appear behind such a row later: ordered by (tx_id, seq), the list only grows
 * at its end and a cursor into it never skips anything. `seq` orders the rows of one transaction.
 *
 * Rows already present are committed: they go first (tx_id 1), in the order they were delivered.
 */
export class TransferDeliveryCursor1764500600000 implements MigrationInterface {
  name = 'TransferDeliveryCursor1764500600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE SEQUENCE inter_provider_transfer_seq_seq AS bigint;
      ALTER TABLE inter_provider_transfer ADD COLUMN seq bigint, ADD COLUMN tx_id xid8;
      UPDATE inter_provider_transfer t SET seq = o.n, tx_id = '1'
        FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM inter_provider_transfer) o
       WHERE o.id = t.id;
      SELECT setval('inter_provider_transfer_seq_seq', COALESCE((SELECT max(seq) FROM inter_provider_transfer), 0) + 1, false);
      ALTER TABLE inter_provider_transfer
        ALTER COLUMN seq SET DEFAULT nextval('inter_provider_transfer_seq_seq'), ALTER COLUMN seq SET NOT NULL,
        ALTER COLUMN tx_id SET DEFAULT pg_current_xact_id(), ALTER COLUMN tx_id SET NOT NULL;
      ALTER SEQUENCE inter_provider_transfer_seq_seq OWNED BY inter_provider_transfer.seq;
      CREATE UNIQUE INDEX inter_provider_transfer_delivery ON inter_provider_transfer (receiving_trust_ods, tx_id, seq);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP INDEX IF EXISTS inter_provider_transfer_delivery;
      ALTER TABLE inter_provider_transfer DROP COLUMN IF EXISTS tx_id, DROP COLUMN IF EXISTS seq;
    `);
  }
}
