/**
 * Where freed capacity went: a trust→trust matrix (rows: the trust whose slot was freed; columns:
 * the trust of the patient who got it) and a per-specialty table, over a date range of release
 * times with optional trust, site and TFC filters. Shared by the page, the CSV export and the
 * benchmark (`dashboard_flows_p99_ms`).
 *
 * A trust filter means different things to the two tables. The matrix shows the trust on either
 * side: its own slots wherever they went, and other trusts' slots its patients were booked into.
 * The per-specialty table counts only the slots the trust freed (as the overview does), so a
 * trust's figures add up with the others' to the ICS's; what its patients received from other
 * trusts is its own column, `received`.
 */
import { EntityManager } from 'typeorm';
import { FactSource, slotFacts } from './slot-facts';

type Q = Pick<EntityManager, 'query'>;

export interface FlowFilter {
  from: Date;
  to: Date;
  /**
   * The matrix: either side of a flow (owner or receiver); the per-specialty table: the owner,
   * plus `received`. For a trust viewer, always their own trust.
   */
  trust: string | null;
  site: string | null;
  tfc: string | null;
}

export interface FlowCell { from_trust: string; to_trust: string; bookings: number }
/**
 * One specialty: of the slots freed (by the filtered trust, if any), how many were eligible and
 * filled, how many of those by another trust's patient; `received`: slots of other trusts filled
 * by the filtered trust's patients (null without a trust filter, where it would be `cross_trust`).
 */
export interface TfcRow { tfc: string; freed: number; eligible: number; filled: number; cross_trust: number; received: number | null; fill_rate: number | null }

/** The range and filters on one side of slot-facts.ts's union ($1–$5 as in FlowFilter). */
const flowWhere = (a: string) => `${a}.released_at >= $1 AND ${a}.released_at < $2
        AND ($3::text IS NULL OR ${a}.trust_ods = $3 OR ${a}.home_trust_ods = $3)
        AND ($4::text IS NULL OR ${a}.site_ods = $4) AND ($5::text IS NULL OR ${a}.tfc = $5)`;

/**
 * Both tables from one pass over the slot facts: counts by (TFC, owning trust, home trust), at most
 * a few hundred groups, folded into the matrix and the per-TFC table here.
 */
export async function flows(q: Q, f: FlowFilter, source?: FactSource): Promise<{ matrix: FlowCell[]; tfc: TfcRow[] }> {
  const groups: Array<{ tfc: string; from_trust: string; to_trust: string | null; freed: number; eligible: number; filled: number }> = await q.query(
    `SELECT s.tfc, s.trust_ods AS from_trust, CASE WHEN s.booked_at IS NOT NULL THEN s.home_trust_ods END AS to_trust,
            count(*)::int AS freed, count(*) FILTER (WHERE s.status <> 'too_late')::int AS eligible, count(s.booked_at)::int AS filled
       FROM ${slotFacts(flowWhere, source)} s
      GROUP BY 1, 2, 3`,
    [f.from, f.to, f.trust, f.site, f.tfc],
  );
  const cells = new Map<string, FlowCell>();
  const tfcs = new Map<string, Omit<TfcRow, 'fill_rate'>>();
  for (const g of groups) {
    if (g.to_trust !== null && g.filled) {
      const key = `${g.from_trust}\u0000${g.to_trust}`;
      const cell = cells.get(key) ?? { from_trust: g.from_trust, to_trust: g.to_trust, bookings: 0 };
      cell.bookings += g.filled;
      cells.set(key, cell);
    }
    const row = tfcs.get(g.tfc) ?? { tfc: g.tfc, freed: 0, eligible: 0, filled: 0, cross_trust: 0, received: f.trust ? 0 : null };
    tfcs.set(g.tfc, row);
    if (f.trust && g.from_trust !== f.trust) {
      // Another trust's slot, here only because the filtered trust's patient was booked into it.
      row.received! += g.filled;
      continue;
    }
    row.freed += g.freed;
    row.eligible += g.eligible;
    row.filled += g.filled;
    if (g.to_trust !== null && g.to_trust !== g.from_trust) row.cross_trust += g.filled;
  }
  const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return {
    matrix: [...cells.values()].sort((a, b) => byText(a.from_trust, b.from_trust) || byText(a.to_trust, b.to_trust)),
    tfc: [...tfcs.values()].sort((a, b) => byText(a.tfc, b.tfc)).map((r) => ({ ...r, fill_rate: r.eligible ? r.filled / r.eligible : null })),
  };
}

export async function flowMatrix(q: Q, f: FlowFilter, source?: FactSource): Promise<FlowCell[]> {
  return (await flows(q, f, source)).matrix;
}

export async function flowsByTfc(q: Q, f: FlowFilter, source?: FactSource): Promise<TfcRow[]> {
  return (await flows(q, f, source)).tfc;
}
