/** Query plans read from Postgres's `EXPLAIN (FORMAT JSON)`, for the suites that check them. */
import { DataSource, EntityManager } from 'typeorm';

export interface PlanNode { 'Node Type': string; 'Relation Name'?: string; 'Index Name'?: string; Plans?: PlanNode[] }

/** A plan's nodes, the root first, then each child's depth first. */
export const nodes = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(nodes)];

/** The nodes of the plan Postgres makes for `sql` with these parameter values bound (a custom plan, as an unnamed statement gets). */
export async function explain(on: DataSource | EntityManager, sql: string, values: unknown[]): Promise<PlanNode[]> {
  const [row] = await on.query(`EXPLAIN (FORMAT JSON) ${sql}`, values);
  return nodes(row['QUERY PLAN'][0].Plan);
}
