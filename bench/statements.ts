/**
 * Where a timed phase's database time went, statement by statement (`pg_stat_statements`), for a
 * diagnosis such as the scale-out burst's (SCALEOUT_STATEMENTS=1): reset as the phase starts, read
 * as it ends. Times are the statements' own wall time, waits for locks included, so a statement
 * that waits on another process's transaction shows here as much as one that works.
 */
import { Client } from 'pg';

export interface StatementTime {
  calls: number;
  /** Total execution time in ms, lock waits included. */
  ms: number;
  /** The normalised statement (parameters as $n), whitespace folded, cut to 160 characters. */
  query: string;
}

/** Makes the view available in the bench's database; says what to do when Postgres was not started with the module. */
export async function enableStatements(pg: Client): Promise<void> {
  const preload = (await pg.query(`SELECT current_setting('shared_preload_libraries') AS v`)).rows[0].v as string;
  if (!preload.split(',').map((s) => s.trim()).includes('pg_stat_statements')) {
    throw new Error(
      "statement times need Postgres started with pg_stat_statements: ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements', then restart Postgres",
    );
  }
  await pg.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
}

/** Forgets what this database's statements did so far. */
export async function resetStatements(pg: Client): Promise<void> {
  await pg.query(`SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)`);
}

/** This database's statements since the last reset, most time first. */
export async function topStatements(pg: Client, limit = 10): Promise<StatementTime[]> {
  const rows = (await pg.query(
    `SELECT calls::int, round(total_exec_time::numeric, 1)::float AS ms, left(regexp_replace(query, '\\s+', ' ', 'g'), 160) AS query
       FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      ORDER BY total_exec_time DESC LIMIT $1`,
    [limit],
  )).rows as StatementTime[];
  return rows;
}
