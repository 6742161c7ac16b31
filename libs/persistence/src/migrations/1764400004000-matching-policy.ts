import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The matching engine's additions:
 * - `matching_policy`: the policy as data. Every change is a new row (a version); offers and waves
 *   already record the version they were made under, so a past decision can always be explained.
 *   `source` tells a deploy's configuration from an administrator's edit, so that a restart with
 *   unchanged configuration does not undo an edit made on the dashboard.
 * - `outbox.priority`: BullMQ job priority (1 = first). Offer SMS carry their slot's closeness to
 *   its cut-off, so when the SMS rate limit binds the slots that are about to close go first.
 */
export class MatchingPolicy1764400004000 implements MigrationInterface {
  name = 'MatchingPolicy1764400004000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE matching_policy (
        version integer PRIMARY KEY CHECK (version > 0),
        settings jsonb NOT NULL,
        source text NOT NULL CHECK (source IN ('config', 'admin')),
        changed_by text,
        reason text,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      ALTER TABLE outbox ADD COLUMN priority integer CHECK (priority IS NULL OR priority BETWEEN 1 AND 2097152);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE outbox DROP COLUMN IF EXISTS priority; DROP TABLE IF EXISTS matching_policy;`);
  }
}
