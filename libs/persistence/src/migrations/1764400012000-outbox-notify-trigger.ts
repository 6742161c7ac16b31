import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Wakes the outbox relays from the database instead of from every `enqueue`: one NOTIFY per
 * INSERT statement on `outbox` (however many rows it writes, so bulk inserts cost no extra round
 * trip), delivered at commit. The payload names the statement's queues, so a relay can ignore
 * commits for queues its process does not consume (`OutboxRelay.notified`); Postgres folds
 * identical notifications within one transaction.
 */
export class OutboxNotifyTrigger1764400012000 implements MigrationInterface {
  name = 'OutboxNotifyTrigger1764400012000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('outbox', (SELECT string_agg(DISTINCT queue, ',' ORDER BY queue) FROM new_rows));
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER IF EXISTS outbox_notify ON outbox`);
    await q.query(`DROP FUNCTION IF EXISTS outbox_notify()`);
  }
}
