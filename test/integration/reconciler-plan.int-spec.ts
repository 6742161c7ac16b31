/**
 * The booking reconciler's passes over pending write-backs run every 30 s, whatever the load. At
 * the size of a year of bookings (every write-back ever made is kept) they must read only the few
 * pending ones, through the partial index `writeback_pending`, never a scan of `writeback`.
 */
import { createTestDatabase, dataSourceOptions, TestDatabase } from '@app/persistence';
import { DataSource } from 'typeorm';
import { STUCK_WRITEBACKS_SQL, UNANSWERED_AT_CUTOFF_SQL } from '../../apps/booking/src/reconciler';
import { PlanNode, explain } from '../support/plans';

/** Bookings made, each with its `book` write-back and, for every other one, a `cancel`. */
const BOOKINGS = 150_000;
/** Of which still awaiting their PAS. */
const PENDING = 40;

let db: TestDatabase;
let ds: DataSource;

beforeAll(async () => {
  db = await createTestDatabase('sx_recplan');
  ds = await new DataSource(dataSourceOptions(db.url, 1)).initialize();
  await ds.transaction(async (tx) => {
    // The rows' own references are not what is measured: the foreign keys' checks are left out
    // (replica mode), so the history is made in three statements rather than through patients,
    // entries and offers.
    await tx.query(`SET LOCAL session_replication_role = replica`);
    await tx.query(
      `INSERT INTO slot (id, trust_ods, site_ods, clinic_code, tfc, appointment_type, start_at, duration_minutes, filler_appointment_id, source_event_id,
                         status, cutoff_at, released_at)
       SELECT md5('slot' || i)::uuid, 'RQM', 'RQM01', '320-NEW', '320', 'NEW', t + interval '3 days', 20, 'F' || i, 'E' || i,
              'booked', t + interval '2 days', t
         FROM (SELECT i, now() - make_interval(mins => ($1 - i) * 3) AS t FROM generate_series(1, $1) i) x`,
      [BOOKINGS],
    );
    await tx.query(
      `INSERT INTO booking (id, slot_id, offer_id, entry_id, patient_id, status, owning_trust_ods, home_trust_ods, created_at)
       SELECT md5('booking' || i)::uuid, md5('slot' || i)::uuid, md5('offer' || i)::uuid, md5('entry' || i)::uuid, md5('patient' || i)::uuid,
              CASE WHEN i > $1 - $2 THEN 'pending' ELSE 'confirmed' END, 'RQM', 'RQM', now() - make_interval(mins => ($1 - i) * 3)
         FROM generate_series(1, $1) i`,
      [BOOKINGS, PENDING],
    );
    await tx.query(
      `INSERT INTO writeback (booking_id, trust_ods, kind, status, pas_appointment_id, attempts, created_at, completed_at)
       SELECT md5('booking' || i)::uuid, 'RQM', k.kind, CASE WHEN i > $1 - $2 THEN 'pending' ELSE 'succeeded' END,
              CASE WHEN i > $1 - $2 THEN NULL ELSE 'PAS-' || k.kind || i END, 1, t, CASE WHEN i > $1 - $2 THEN NULL ELSE t + interval '1 minute' END
         FROM (SELECT i, now() - make_interval(mins => ($1 - i) * 3) AS t FROM generate_series(1, $1) i) x
         CROSS JOIN LATERAL (SELECT 'book' AS kind UNION ALL SELECT 'cancel' WHERE i % 2 = 0 AND i <= $1 - $2) k`,
      [BOOKINGS, PENDING],
    );
  });
  await ds.query(`ANALYZE slot; ANALYZE booking; ANALYZE writeback`);
}, 120_000);
afterAll(async () => {
  await ds?.destroy();
  await db?.drop();
});

/** The plan Postgres makes for the statement as the reconciler sends it (its parameters bound). */
const plan = (sql: string, values: unknown[]): Promise<PlanNode[]> => explain(ds, sql, values);

/** `writeback` read through `writeback_pending` only, and nothing scanned whole. */
function expectPendingOnly(all: PlanNode[]): void {
  const reads = all.filter((x) => x['Relation Name'] === 'writeback');
  expect(reads.length).toBeGreaterThan(0);
  for (const x of reads) expect({ node: x['Node Type'], index: x['Index Name'] }).toEqual({ node: expect.stringMatching(/^Index (Only )?Scan$/), index: 'writeback_pending' });
  expect(all.filter((x) => x['Node Type'] === 'Seq Scan').map((x) => x['Relation Name'])).toEqual([]);
}

it('holds the history it was given', async () => {
  const [n] = await ds.query(`SELECT count(*)::int AS all, count(*) FILTER (WHERE status = 'pending')::int AS pending FROM writeback`);
  expect(n).toEqual({ all: BOOKINGS + (BOOKINGS - PENDING) / 2, pending: PENDING });
});

it('finds stuck write-backs through the pending index, not a scan of every write-back', async () => {
  expectPendingOnly(await plan(STUCK_WRITEBACKS_SQL, [300]));
  // And finds them: every pending one but the newest, whose 5 minutes are not up.
  expect((await ds.query(STUCK_WRITEBACKS_SQL, [300])).length).toBe(PENDING - 2);
});

it("finds bookings unanswered at their slot's cut-off through the pending index, not a scan of every write-back", async () => {
  const horizon = new Date(Date.now() + 48 * 3_600_000);
  expectPendingOnly(await plan(UNANSWERED_AT_CUTOFF_SQL, [horizon]));
  expect((await ds.query(UNANSWERED_AT_CUTOFF_SQL, [new Date(Date.now() + 365 * 86_400_000)])).length).toBe(PENDING);
});
