/**
 * The overview/flows cache (migration 1764400014000, slot-facts.ts) against the base tables on real
 * Postgres: figures read through the cache equal figures computed from slot/offer/sms/booking alone,
 * before the drain job has run (every change pending), after it, and with changes made since (the
 * live part); and after a drain the cached rows are exactly the view's rows.
 */
import { createTestDatabase, TestDatabase } from '@app/persistence';
import { Client, Pool } from 'pg';
import { FlowFilter, flowMatrix, flowsByTfc } from './flows.queries';
import { overviewFigures } from './overview.queries';
import { drainSlotFacts, FactSource } from './slot-facts';
import { Seed } from './testing/seed';

jest.setTimeout(120_000);

const DAY = 86_400_000;
const TZ = 'Europe/London';
let db: TestDatabase;
let pg: Client;
let pool: Pool;
const q = { query: async (text: string, params?: unknown[]) => (await pool.query(text, params)).rows } as never;
const now = new Date();

// A small deterministic generator: the same data every run.
let state = 7;
const rand = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];

const TRUSTS = ['RQM', 'RAS', 'R1K', 'RYJ'] as const;
const slots: Array<{ id: string; trust: string; releasedAt: Date; offers: string[]; booking?: string }> = [];

const FILTERS: FlowFilter[] = [
  { from: new Date(now.getTime() - 30 * DAY), to: new Date(now.getTime() + DAY), trust: null, site: null, tfc: null },
  { from: new Date(now.getTime() - 45 * DAY), to: now, trust: 'RQM', site: null, tfc: null },
  { from: new Date(now.getTime() - 10 * DAY), to: now, trust: null, site: 'RYJ01', tfc: '330' },
  { from: new Date(now.getTime() - 60 * DAY), to: new Date(now.getTime() + DAY), trust: 'RAS', site: null, tfc: '120' },
];

async function everything(source: FactSource) {
  const filters = FILTERS;
  return {
    overview: await Promise.all([null, ...TRUSTS].map((trust) => overviewFigures(q, { trust, now, timeZone: TZ, source }))),
    matrix: await Promise.all(filters.map((f) => flowMatrix(q, f, source))),
    tfc: await Promise.all(filters.map((f) => flowsByTfc(q, f, source))),
  };
}

/** The flows page's queries as they were before the cache: joins over slot and booking. */
async function flowsByJoins(f: FlowFilter) {
  const params = [f.from, f.to, f.trust, f.site, f.tfc];
  const where = `s.released_at >= $1 AND s.released_at < $2 AND ($3::text IS NULL OR s.trust_ods = $3 OR b.home_trust_ods = $3)
        AND ($4::text IS NULL OR s.site_ods = $4) AND ($5::text IS NULL OR s.tfc = $5)`;
  const matrix = (await pool.query(
    `SELECT s.trust_ods AS from_trust, b.home_trust_ods AS to_trust, count(*)::int AS bookings
       FROM slot s JOIN booking b ON b.slot_id = s.id AND b.status <> 'failed' WHERE ${where} GROUP BY 1, 2 ORDER BY 1, 2`, params)).rows;
  // Per specialty, a trust's own slots; the others matched only as what its patients received.
  const own = `($3::text IS NULL OR s.trust_ods = $3)`;
  const tfc = (await pool.query(
    `SELECT s.tfc, count(*) FILTER (WHERE ${own})::int AS freed, count(*) FILTER (WHERE ${own} AND s.status <> 'too_late')::int AS eligible,
            count(b.slot_id) FILTER (WHERE ${own})::int AS filled, count(b.slot_id) FILTER (WHERE ${own} AND b.home_trust_ods <> s.trust_ods)::int AS cross_trust,
            CASE WHEN $3::text IS NOT NULL THEN count(b.slot_id) FILTER (WHERE NOT ${own})::int END AS received
       FROM slot s LEFT JOIN booking b ON b.slot_id = s.id AND b.status <> 'failed' WHERE ${where} GROUP BY s.tfc ORDER BY s.tfc`, params)).rows;
  return { matrix, tfc: tfc.map((r) => ({ ...r, fill_rate: r.eligible ? r.filled / r.eligible : null })) };
}

async function expectCacheEqualsBase() {
  const [cache, base] = [await everything('cache'), await everything('base')];
  expect(cache).toEqual(base);
  // …and the flows tables equal what the joins over slot and booking give.
  const joins = await Promise.all(FILTERS.map(flowsByJoins));
  expect({ matrix: base.matrix, tfc: base.tfc }).toEqual({ matrix: joins.map((j) => j.matrix), tfc: joins.map((j) => j.tfc) });
  return base;
}

const pending = async () => Number((await pg.query(`SELECT count(*) FROM dashboard_slot_fact_dirty`)).rows[0].count);

beforeAll(async () => {
  db = await createTestDatabase('sx_h_dashboard_facts');
  pg = new Client({ connectionString: db.url });
  await pg.connect();
  pool = new Pool({ connectionString: db.url, max: 4 });
  const seed = new Seed(pg);
  // One client: one query at a time.
  const people: Array<Awaited<ReturnType<Seed['patient']>>> = [];
  for (const t of TRUSTS) for (let i = 0; i < 3; i++) people.push(await seed.patient(t));
  for (let i = 0; i < 80; i++) {
    const trust = pick(TRUSTS);
    const releasedAt = new Date(now.getTime() - rand() * 40 * DAY);
    const status = pick(['too_late', 'offering', 'booked', 'booked', 'unfilled', 'withdrawn'] as const);
    const id = await seed.slot({
      trust, site: `${trust}01`, tfc: pick(['120', '330', '502']), status, releasedAt, startAt: new Date(releasedAt.getTime() + (2 + rand() * 20) * DAY),
      closedReason: status === 'unfilled' ? pick(['cut-off reached', 'no eligible patient']) : status === 'withdrawn' ? 'appointment deleted' : undefined,
    });
    const slot = { id, trust, releasedAt, offers: [] as string[], booking: undefined as string | undefined };
    slots.push(slot);
    if (status === 'too_late') continue;
    // Whoever books gets a waiting-list entry of their own (one booking per entry).
    const takers = [...(status === 'booked' ? [await seed.patient(pick(TRUSTS))] : []), ...[...people].sort(() => rand() - 0.5).slice(0, 1 + Math.floor(rand() * 3))];
    for (const [k, who] of takers.entries()) {
      const { offerId } = await seed.offer(id, who, { rank: k + 1, status: status === 'booked' && k === 0 ? 'accepted' : 'expired' });
      slot.offers.push(offerId);
      for (let m = Math.floor(rand() * 3); m > 0; m--) {
        await pg.query(`INSERT INTO sms_message (patient_id, offer_id, kind, personalisation, status) VALUES ($1, $2, 'offer', '{}', 'delivered')`, [who.patientId, offerId]);
      }
    }
    if (status === 'booked') {
      const home = pick(TRUSTS);
      slot.booking = await seed.booking(id, slot.offers[0], takers[0], { owning: trust, home, previousStart: rand() < 0.8 ? new Date(releasedAt.getTime() + (30 + rand() * 60) * DAY) : undefined });
      await pg.query(`UPDATE booking SET created_at = $2 WHERE id = $1`, [slot.booking, new Date(releasedAt.getTime() + rand() * DAY)]);
    }
  }
});

afterAll(async () => {
  await pg?.end();
  await pool?.end();
  await db?.drop();
});

describe('slot facts cache', () => {
  it('equals the base tables before the drain job has run (every change still pending)', async () => {
    expect(await pending()).toBeGreaterThan(0);
    const base = await expectCacheEqualsBase();
    // Not an empty comparison: the data shows up in every figure.
    expect(base.overview[0].windows[2].freed).toBeGreaterThan(40);
    expect(base.overview[0].windows[2].filled).toBeGreaterThan(5);
    expect(base.matrix[0].length).toBeGreaterThan(1);
  });

  it('after a drain holds exactly the rows of the view and nothing is pending', async () => {
    expect(await drainSlotFacts(q)).toBeGreaterThan(0);
    expect(await pending()).toBe(0);
    const diff = await pg.query(`
      SELECT count(*)::int AS n FROM ((SELECT * FROM dashboard_slot_fact EXCEPT SELECT * FROM dashboard_slot_fact_source)
                                      UNION ALL (SELECT * FROM dashboard_slot_fact_source EXCEPT SELECT * FROM dashboard_slot_fact)) x`);
    expect(diff.rows[0].n).toBe(0);
    expect(Number((await pg.query(`SELECT count(*) FROM dashboard_slot_fact`)).rows[0].count)).toBe(slots.length);
    await expectCacheEqualsBase();
  });

  it('stays exact through later changes, before and after the next drain', async () => {
    const before = await everything('cache');
    const booked = slots.filter((s) => s.booking);
    // A write-back failure turns a filled slot back into an unfilled one…
    await pg.query(`UPDATE booking SET status = 'failed' WHERE id = $1`, [booked[0].booking]);
    await pg.query(`UPDATE slot SET status = 'unfilled', closed_reason = 'write-back failed' WHERE id = $1`, [booked[0].id]);
    // …another slot is withdrawn, another gets more SMS, an offer (with its SMS) is removed, a slot is deleted, a new one freed.
    await pg.query(`UPDATE slot SET status = 'withdrawn', closed_reason = 'appointment deleted' WHERE id = $1`, [slots.find((s) => !s.booking && s.offers.length)!.id]);
    const chatty = booked[1];
    await pg.query(`INSERT INTO sms_message (patient_id, offer_id, kind, personalisation, status) SELECT patient_id, id, 'reminder', '{}', 'sent' FROM offer WHERE id = $1`, [chatty.offers[0]]);
    const pruned = slots.find((s) => !s.booking && s.offers.length === 1 && s !== booked[0])!;
    await pg.query(`DELETE FROM sms_message WHERE offer_id = $1`, [pruned.offers[0]]);
    await pg.query(`DELETE FROM offer WHERE id = $1`, [pruned.offers[0]]);
    // (released before today, so that today's count below moves by the new slot alone)
    const gone = slots.find((s) => !s.offers.length && s.releasedAt.getTime() < now.getTime() - DAY)!;
    await pg.query(`DELETE FROM slot WHERE id = $1`, [gone.id]);
    await new Seed(pg).slot({ trust: 'RQM', site: 'RQM01', tfc: '330', status: 'open', releasedAt: new Date(now.getTime() - 1000) });

    expect(await pending()).toBeGreaterThan(0);
    const live = await expectCacheEqualsBase();
    // The pending changes are in the figures (not the stale cached rows): one fewer filled, one more freed today.
    expect(live.overview[0].windows[2].filled).toBe(before.overview[0].windows[2].filled - (booked[0] ? 1 : 0));
    expect(live.overview[0].windows[0].freed).toBe(before.overview[0].windows[0].freed + 1);
    expect(live).not.toEqual(before);

    await drainSlotFacts(q);
    expect(await pending()).toBe(0);
    expect(await everything('cache')).toEqual(live);
  });
});
