/**
 * The figures of the overview, in SQL over the exchange's tables. Shared by the page, the live
 * stream and the benchmark (`dashboard_overview_p99_ms`), so the bench measures exactly what
 * operators wait for. Windows end now: today (Europe/London midnight), 7 days, 30 days.
 *
 * Definitions (also shown on the page):
 * - freed: slots released in the window; eligible: of those, not inside the minimum notice;
 * - offered: at least one offer made; filled: a booking that has not failed;
 * - closed unfilled: closed without a booking, by reason (too late, cut-off reached, withdrawn…);
 * - fill rate: filled ÷ eligible; time to fill: release → booking; brought forward: the
 *   patient's previous appointment − the new one, in days; SMS per booking: every SMS about
 *   these slots' offers ÷ bookings.
 */
import { EntityManager } from 'typeorm';
import { FactSource, slotFacts } from './slot-facts';

type Q = Pick<EntityManager, 'query'>;

export interface WindowFigures {
  window: 'today' | '7d' | '30d';
  freed: number;
  eligible: number;
  offered: number;
  filled: number;
  fillRate: number | null;
  medianMinutesToFill: number | null;
  medianDaysBroughtForward: number | null;
  smsPerBooking: number | null;
  closedUnfilled: Array<{ reason: string; count: number }>;
}

export interface Overview {
  at: string;
  trust: string | null;
  windows: WindowFigures[];
}

export async function overviewFigures(q: Q, opts: { trust: string | null; now: Date; timeZone: string; source?: FactSource }): Promise<Overview> {
  const params = [opts.now, opts.trust, opts.timeZone];
  // Each slot of the last 30 days once, with what became of it (slot-facts.ts: the cache, exact
  // for slots with pending changes too); then counted into the three windows.
  const facts = slotFacts((a) => `${a}.released_at >= $1::timestamptz - interval '30 days' AND ${a}.released_at <= $1 AND ($2::text IS NULL OR ${a}.trust_ods = $2)`, opts.source);
  const win = `WITH win(name, since) AS (VALUES
        ('today', date_trunc('day', $1::timestamptz AT TIME ZONE $3) AT TIME ZONE $3),
        ('7d', $1::timestamptz - interval '7 days'),
        ('30d', $1::timestamptz - interval '30 days'))`;
  const [main, closed] = await Promise.all([
    q.query(
      `${win},
      s AS MATERIALIZED ${facts}
      SELECT win.name AS window,
             count(*)::int AS freed,
             count(*) FILTER (WHERE s.status <> 'too_late')::int AS eligible,
             count(*) FILTER (WHERE s.offered)::int AS offered,
             count(s.booked_at)::int AS filled,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.booked_at - s.released_at) / 60) AS median_minutes_to_fill,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.previous_appointment_start - s.start_at) / 86400)
               FILTER (WHERE s.booked_at IS NOT NULL AND s.previous_appointment_start IS NOT NULL) AS median_days_forward,
             coalesce(sum(s.sms), 0)::int AS sms
        FROM win JOIN s ON s.released_at >= win.since
       GROUP BY win.name`,
      params,
    ),
    q.query(
      `${win}
      SELECT win.name AS window, coalesce(s.closed_reason, s.status) AS reason, count(*)::int AS count
        FROM win JOIN ${facts} s ON s.released_at >= win.since
       WHERE s.status IN ('too_late', 'unfilled', 'withdrawn')
       GROUP BY win.name, coalesce(s.closed_reason, s.status) ORDER BY count DESC, reason`,
      params,
    ),
  ]);
  const windows = (['today', '7d', '30d'] as const).map((name): WindowFigures => {
    const r = (main as Array<Record<string, any>>).find((x) => x.window === name);
    const filled = r?.filled ?? 0;
    const eligible = r?.eligible ?? 0;
    return {
      window: name,
      freed: r?.freed ?? 0,
      eligible,
      offered: r?.offered ?? 0,
      filled,
      fillRate: eligible ? filled / eligible : null,
      medianMinutesToFill: r?.median_minutes_to_fill === null || r?.median_minutes_to_fill === undefined ? null : round(Number(r.median_minutes_to_fill), 1),
      medianDaysBroughtForward: r?.median_days_forward === null || r?.median_days_forward === undefined ? null : round(Number(r.median_days_forward), 1),
      smsPerBooking: filled ? round((r?.sms ?? 0) / filled, 2) : null,
      closedUnfilled: (closed as Array<{ window: string; reason: string; count: number }>).filter((c) => c.window === name).map(({ reason, count }) => ({ reason, count })),
    };
  });
  return { at: opts.now.toISOString(), trust: opts.trust, windows };
}

const round = (n: number, places: number) => Math.round(n * 10 ** places) / 10 ** places;

/** How operators read a slot's status. */
export const SLOT_STATE: Record<string, string> = {
  too_late: 'too late', open: 'waiting', offering: 'offered', booked: 'filled', unfilled: 'closed unfilled', withdrawn: 'withdrawn',
};

export interface FeedFilter {
  trust: string | null;
  status?: string;
  tfc?: string;
  site?: string;
  limit: number;
  /** Paging: only slots after this place in the feed's order (newest first). */
  before?: FeedCursor;
}

/**
 * A place in the slot feed: a slot's release time to the microsecond and its id. A burst (a whole
 * clinic cancelled) releases up to 200 slots with one `released_at`, so the time alone cannot say
 * where a page ended; and a JS Date would cut it to milliseconds. `id` is absent for a bare time
 * (an older link), which then means "released before it".
 */
export interface FeedCursor {
  releasedAt: string;
  id: string | null;
}

const FEED_CURSOR = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

/** The opaque string the "Older slots" link carries for the page after `row`. */
export function feedCursorAfter(row: FeedRow): string {
  return Buffer.from(`${row.released_key} ${row.id}`).toString('base64url');
}

/** The place a link's cursor names, or null when it is not one of ours. */
export function readFeedCursor(text: string): FeedCursor | null {
  const m = FEED_CURSOR.exec(Buffer.from(text, 'base64url').toString('utf8'));
  return m ? { releasedAt: m[1], id: m[2] } : null;
}

export interface FeedRow {
  id: string;
  trust_ods: string;
  site_ods: string;
  tfc: string;
  appointment_type: string;
  start_at: Date;
  released_at: Date;
  /** `released_at` to the microsecond (UTC), for the paging cursor. */
  released_key: string;
  status: string;
  state: string;
  closed_reason: string | null;
  offers: number;
  waves: number;
  booking_status: string | null;
}

export async function slotFeed(q: Q, f: FeedFilter): Promise<FeedRow[]> {
  const rows: FeedRow[] = await q.query(
    `SELECT s.id, s.trust_ods, s.site_ods, s.tfc, s.appointment_type, s.start_at, s.released_at, s.status, s.closed_reason,
            to_char(s.released_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS released_key,
            (SELECT count(*)::int FROM offer o WHERE o.slot_id = s.id) AS offers,
            (SELECT count(*)::int FROM offer_wave w WHERE w.slot_id = s.id) AS waves,
            (SELECT b.status FROM booking b WHERE b.slot_id = s.id ORDER BY (b.status <> 'failed') DESC, b.created_at DESC LIMIT 1) AS booking_status
       FROM slot s
      WHERE ($1::text IS NULL OR s.trust_ods = $1) AND ($2::text IS NULL OR s.status = $2) AND ($3::text IS NULL OR s.tfc = $3)
        AND ($4::text IS NULL OR s.site_ods = $4)
        AND ($5::timestamptz IS NULL OR s.released_at < $5 OR (s.released_at = $5 AND s.id < $7::uuid))
      ORDER BY s.released_at DESC, s.id DESC LIMIT $6`,
    [f.trust, f.status ?? null, f.tfc ?? null, f.site ?? null, f.before?.releasedAt ?? null, f.limit, f.before?.id ?? null],
  );
  return rows.map((r) => ({ ...r, state: SLOT_STATE[r.status] ?? r.status }));
}
