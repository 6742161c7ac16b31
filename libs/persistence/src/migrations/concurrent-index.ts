import { QueryRunner } from 'typeorm';

/**
 * Builds index `name` `ON <definition>` CONCURRENTLY, for a migration that runs outside a
 * transaction (`transaction = false`): a plain CREATE INDEX would block the table's writers while
 * it scanned the table during a rolling release. A build that failed half-way leaves an invalid
 * index, which is dropped and built again.
 */
export async function createIndexConcurrently(q: QueryRunner, name: string, definition: string): Promise<void> {
  const [invalid] = await q.query(
    `SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = $1 AND NOT i.indisvalid`,
    [name],
  );
  if (invalid) await q.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
  await q.query(`CREATE INDEX CONCURRENTLY IF NOT EXISTS ${name} ON ${definition}`);
}
