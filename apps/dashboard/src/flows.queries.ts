/**
 * Where freed capacity went: a trust→trust matrix (rows: the trust whose slot was freed; columns:
 * the trust of the patient who got it) and a per-specialty table, over a date range of release
 * times with optional trust, site and TFC filters. Shared by the page, the CSV export and the
 * benchmark (`dashboard_flows_p99_ms`).
 */
import { EntityManager } from 'typeorm';
import { FactSource, slotFacts } from './slot-facts';

type Q = Pick<EntityManager, 'query'>;

export interface FlowFilter {
  from: Date;
  to: Date;
  /** Either side of a flow (owner or receiver); for a trust viewer, always their own trust. */
  trust: string | null;
  site: string | null;
  tfc: string | null;
}

export interface FlowCell { from_trust: string; to_trust: string; bookings: number }
export interface TfcRow { tfc: string; freed: number; eligible: number; filled: number; cross_trust: number; fill_rate: number | null }

/** The range and filters on one side of slot-facts.ts's union ($1–$5 as in FlowFilter). */
const flowWhere = (a: string) => `${a}.released_at >= $1 AND ${a}.released_at < $2
        AND ($3::text IS NULL OR ${a}.trust_ods = $3 OR ${a}.home_trust_ods = $3)
        AND ($4::text IS NULL OR ${a}.site_ods = $4) AND ($5::text IS NULL OR ${a}.tfc = $5)`;

export async function flowMatrix(q: Q, f: FlowFilter, source?: FactSource): Promise<FlowCell[]> {
  return q.query(
    `SELECT s.trust_ods AS from_trust, s.home_trust_ods AS to_trust, count(*)::int AS bookings
       FROM ${slotFacts(flowWhere, source)} s
      WHERE s.booked_at IS NOT NULL
      GROUP BY 1, 2 ORDER BY 1, 2`,
    [f.from, f.to, f.trust, f.site, f.tfc],
  );
}

export async function flowsByTfc(q: Q, f: FlowFilter, source?: FactSource): Promise<TfcRow[]> {
  const rows: Array<Omit<TfcRow, 'fill_rate'>> = await q.query(
    `SELECT s.tfc, count(*)::int AS freed, count(*) FILTER (WHERE s.status <> 'too_late')::int AS eligible,
            count(s.booked_at)::int AS filled, count(s.booked_at) FILTER (WHERE s.home_trust_ods <> s.trust_ods)::int AS cross_trust
       FROM ${slotFacts(flowWhere, source)} s
      GROUP BY s.tfc ORDER BY s.tfc`,
    [f.from, f.to, f.trust, f.site, f.tfc],
  );
  return rows.map((r) => ({ ...r, fill_rate: r.eligible ? r.filled / r.eligible : null }));
}
