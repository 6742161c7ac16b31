import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What a PTL snapshot held besides its good rows, on its import record: how many data rows and
 * how many were rejected, and, when the snapshot closed nothing because the file could not be
 * trusted to be the trust's whole list (too many rows rejected, or the CSV broke part-way), why.
 * A booking team seeing "closed 0" needs to know whether nothing had gone or nothing was closed.
 */
export class PtlImportRejections1764500300000 implements MigrationInterface {
  name = 'PtlImportRejections1764500300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE ptl_import
        ADD COLUMN rows integer,
        ADD COLUMN rejected integer,
        ADD COLUMN closing_withheld text
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ptl_import DROP COLUMN rows, DROP COLUMN rejected, DROP COLUMN closing_withheld`);
  }
}
