import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * At most one running snapshot per trust, decided here rather than in the adapter: a snapshot
 * closes every open entry it did not stamp, so two at once (the same file sent again while the
 * first was still being applied) would close each other's rows and with them the whole list.
 *
 * `active_at`: when the snapshot was last heard from (started, or a batch applied), so a snapshot
 * whose adapter died mid-upload can be told from one still arriving and be marked `abandoned`
 * (a status the table always had) when the trust starts the next one.
 *
 * Running snapshots already there beyond the newest of each trust are marked abandoned first: the
 * index could not be built over them, and completing one of them now would close the other's rows.
 */
export class PtlImportOneRunningSnapshot1764502000000 implements MigrationInterface {
  name = 'PtlImportOneRunningSnapshot1764502000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ptl_import ADD COLUMN active_at timestamptz`);
    await q.query(`UPDATE ptl_import SET active_at = COALESCE(completed_at, started_at)`);
    await q.query(`ALTER TABLE ptl_import ALTER COLUMN active_at SET DEFAULT now(), ALTER COLUMN active_at SET NOT NULL`);
    await q.query(`
      UPDATE ptl_import p SET status = 'abandoned', completed_at = now()
       WHERE p.mode = 'snapshot' AND p.status = 'running'
         AND EXISTS (SELECT 1 FROM ptl_import n
                      WHERE n.trust_ods = p.trust_ods AND n.mode = 'snapshot' AND n.status = 'running'
                        AND (n.started_at, n.id) > (p.started_at, p.id))
    `);
    await q.query(`CREATE UNIQUE INDEX ptl_import_one_running_snapshot ON ptl_import (trust_ods) WHERE mode = 'snapshot' AND status = 'running'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS ptl_import_one_running_snapshot`);
    await q.query(`ALTER TABLE ptl_import DROP COLUMN active_at`);
  }
}
