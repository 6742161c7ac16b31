import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Lets a transaction write outbox rows without the NOTIFY of `outbox_notify`, and makes an insert
 * that wrote no rows (ON CONFLICT DO NOTHING, an empty join) notify nobody.
 *
 * Why: a NOTIFY takes a cluster-wide lock from before its commit until after it, so notifying
 * transactions commit one at a time, each with its own WAL flush, and every relay of every
 * process wakes into the same rows. A hot path whose own process relays its rows (the HL7
 * intake, the booking service's reply batches, the notifier's received texts) sets
 * `sx.outbox_notify = 'off'` for its transaction
 * (`quietOutboxSql`) and wakes its in-process relay instead (`OutboxRelay.wake`); the relays'
 * periodic sweep still moves anything a crash left behind.
 */
export class OutboxQuietInserts1764500000000 implements MigrationInterface {
  name = 'OutboxQuietInserts1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE queues text;
      BEGIN
        IF current_setting('sx.outbox_notify', true) = 'off' THEN RETURN NULL; END IF;
        SELECT string_agg(DISTINCT queue, ',' ORDER BY queue) INTO queues FROM new_rows;
        IF queues IS NOT NULL THEN PERFORM pg_notify('outbox', queues); END IF;
        RETURN NULL;
      END $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('outbox', (SELECT string_agg(DISTINCT queue, ',' ORDER BY queue) FROM new_rows));
        RETURN NULL;
      END $$`);
  }
}
