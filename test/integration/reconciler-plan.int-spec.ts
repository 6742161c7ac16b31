/**
 * The booking reconciler's passes over write-backs run every 30 s, whatever the load. At the size
 * of a year of bookings (every write-back ever made is kept) they must read only the few rows they
 * can act on, through partial indexes: the pending write-backs (`writeback_pending`), the bookings
 * awaiting their PAS (`booking_pending`), the failed cancels not yet listed (`writeback_cancel_unlisted`); never a
 * scan of `writeback` or `booking`. And no other statement of a whole pass reads either by a scan.
 */
import { DEFAULT_POLICY, FixedClock } from '@app/domain';
import { createTestDatabase, dataSourceOptions, OutboxRelay, TestDatabase } from '@app/persistence';
import { loadIcsDirectory, MetricsService, QueueService } from '@app/platform';
import { DataSource, Logger as OrmLogger } from 'typeorm';
import { DECIDED_OUTCOMES_SQL, Reconciler, STUCK_WRITEBACKS_SQL, UNANSWERED_AT_CUTOFF_SQL } from '../../apps/booking/src/reconciler';
import { PlanNode, explain, nodes } from '../support/plans';

/** Bookings made, each with its `book` write-back and, for every other one, a `cancel`. */
const BOOKINGS = 150_000;
/** Of which still awaiting their PAS. */
const PENDING = 40;
/**
 * More bookings still pending whose `book` write-back has its outcome (succeeded, or failed) not
 * yet acted on, the i-th i * 20 s ago (the newest 3 inside the minute the outcome job is given);
 * more than the pass's 200, so which 200 it takes shows too.
 */
const DECIDED = 250;
/** Of the history's cancels, every one of these (by booking number) failed; every other one of them is listed as double-held. */
const CANCEL_FAILED_EVERY = 1_000;

/** The outcomes pass as it was before it was split: one WHERE over every finished write-back. */
const DECIDED_OUTCOMES_BEFORE_SQL = `SELECT w.id FROM writeback w JOIN booking b ON b.id = w.booking_id
        WHERE ((w.kind = 'book' AND w.status IN ('succeeded', 'failed') AND b.status = 'pending')
               OR (w.kind = 'cancel' AND w.status = 'failed'
                   AND NOT EXISTS (SELECT 1 FROM booking_failure f WHERE f.booking_id = w.booking_id AND f.kind = 'double-held')))
          AND w.completed_at < now() - make_interval(secs => $1)
        ORDER BY w.completed_at LIMIT 200`;

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
    // Outcomes not yet acted on: pending bookings whose PAS has answered, ...
    await tx.query(
      `INSERT INTO booking (id, slot_id, offer_id, entry_id, patient_id, status, owning_trust_ods, home_trust_ods, created_at)
       SELECT md5('dbooking' || i)::uuid, md5('dslot' || i)::uuid, md5('doffer' || i)::uuid, md5('dentry' || i)::uuid, md5('dpatient' || i)::uuid,
              'pending', 'RQM', 'RQM', now() - interval '1 day'
         FROM generate_series(1, $1) i`,
      [DECIDED],
    );
    await tx.query(
      `INSERT INTO writeback (booking_id, trust_ods, kind, status, pas_appointment_id, attempts, last_error, created_at, completed_at)
       SELECT md5('dbooking' || i)::uuid, 'RQM', 'book', CASE WHEN i % 2 = 0 THEN 'failed' ELSE 'succeeded' END,
              CASE WHEN i % 2 = 0 THEN NULL ELSE 'PAS-d' || i END, 1, CASE WHEN i % 2 = 0 THEN 'PAS said 409' END,
              now() - interval '1 day', now() - make_interval(secs => i * 20)
         FROM generate_series(1, $1) i`,
      [DECIDED],
    );
    // ... and failed cancels of old appointments, every other one already listed as double-held.
    await tx.query(
      `UPDATE writeback SET status = 'failed', pas_appointment_id = NULL, last_error = 'PAS said no'
        WHERE kind = 'cancel' AND booking_id IN (SELECT md5('booking' || i)::uuid FROM generate_series($1::int, $2::int, $1::int) i)`,
      [CANCEL_FAILED_EVERY, BOOKINGS - PENDING],
    );
    await tx.query(
      `INSERT INTO booking_failure (booking_id, kind, trust_ods, slot_id, reason)
       SELECT md5('booking' || i)::uuid, 'double-held', 'RQM', md5('slot' || i)::uuid, 'old appointment not cancelled'
         FROM generate_series($1::int, $2::int, 2 * $1::int) i`,
      [CANCEL_FAILED_EVERY, BOOKINGS - PENDING],
    );
    // Their write-backs marked listed, as the outcome job that listed them marks them.
    await tx.query(
      `UPDATE writeback w SET listed_at = f.created_at FROM booking_failure f
        WHERE w.kind = 'cancel' AND w.status = 'failed' AND f.booking_id = w.booking_id AND f.kind = 'double-held'`,
    );
  });
  await ds.query(`ANALYZE slot; ANALYZE booking; ANALYZE writeback; ANALYZE booking_failure`);
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

/** No node of the plan reads `writeback` or `booking` by a sequential scan. */
function expectNoScanOfWritebackOrBooking(all: PlanNode[]): void {
  expect(all.filter((x) => x['Node Type'] === 'Seq Scan' && ['writeback', 'booking'].includes(x['Relation Name'] ?? '')).map((x) => x['Relation Name'])).toEqual([]);
}

it('holds the history it was given', async () => {
  const [n] = await ds.query(`SELECT count(*)::int AS all, count(*) FILTER (WHERE status = 'pending')::int AS pending,
                                     count(*) FILTER (WHERE kind = 'cancel' AND status = 'failed')::int AS cancels_failed FROM writeback`);
  const cancelsFailed = Math.floor((BOOKINGS - PENDING) / CANCEL_FAILED_EVERY);
  expect(n).toEqual({ all: BOOKINGS + (BOOKINGS - PENDING) / 2 + DECIDED, pending: PENDING, cancels_failed: cancelsFailed });
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

it('finds outcomes not yet acted on through the pending bookings and the failed cancels, not a scan of every finished write-back', async () => {
  const all = await plan(DECIDED_OUTCOMES_SQL, [60]);
  expectNoScanOfWritebackOrBooking(all);
  expect(all.map((x) => x['Index Name'])).toEqual(expect.arrayContaining(['booking_pending', 'writeback_cancel_unlisted']));
  // The query as it was, one WHERE with an OR, scans even with those indexes there (every `book`
  // write-back's key, and every booking to join them): what the split saves.
  const before = (await plan(DECIDED_OUTCOMES_BEFORE_SQL, [60])).filter((x) => x['Node Type'] === 'Seq Scan').map((x) => x['Relation Name']);
  expect(before.filter((r) => r === 'writeback' || r === 'booking')).not.toEqual([]);
});

it('reads, of the failed cancels, only those not yet listed as double-held: not every one ever made', async () => {
  const cancelsFailed = Math.floor((BOOKINGS - PENDING) / CANCEL_FAILED_EVERY);
  const unlisted = cancelsFailed - Math.ceil(cancelsFailed / 2);
  // Run, not only planned: the rows each node of `writeback` gave (or passed over), apart from
  // the `book` half's look-ups by booking, which start from the pending bookings.
  const [row] = await ds.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${DECIDED_OUTCOMES_SQL}`, [60]);
  type Analysed = PlanNode & { 'Actual Rows': number; 'Actual Loops': number; 'Rows Removed by Filter'?: number; 'Index Cond'?: string };
  const cancelReads = (nodes(row['QUERY PLAN'][0].Plan) as Analysed[])
    .filter((x) => x['Relation Name'] === 'writeback' && !/booking_id/.test(x['Index Cond'] ?? ''));
  expect(cancelReads.map((x) => x['Index Name'])).toEqual(['writeback_cancel_unlisted']);
  const read = cancelReads.reduce((n, x) => n + (x['Actual Rows'] + (x['Rows Removed by Filter'] ?? 0)) * x['Actual Loops'], 0);
  expect(cancelsFailed - unlisted).toBeGreaterThan(0);
  expect(read).toBe(unlisted);
});

it('finds the outcomes, in the order, that the single query found', async () => {
  // In one transaction, so that both see the same now().
  await ds.transaction(async (tx) => {
    for (const secs of [60, 20 * 100, 86_400, 100 * 86_400, 365 * 86_400]) {
      const before: Array<{ id: string }> = await tx.query(DECIDED_OUTCOMES_BEFORE_SQL, [secs]);
      expect({ secs, found: await tx.query(DECIDED_OUTCOMES_SQL, [secs]) }).toEqual({ secs, found: before });
    }
  });
  // Each half had rows to give, more than the limit in all: the 200 taken are the failed cancels
  // not listed (days old) then the oldest outcomes of pending bookings.
  const cancelsFailed = Math.floor((BOOKINGS - PENDING) / CANCEL_FAILED_EVERY);
  const kinds: Array<{ kind: string }> = await ds.query(`SELECT w.kind FROM (${DECIDED_OUTCOMES_SQL}) d JOIN writeback w USING (id)`, [60]);
  expect(kinds).toHaveLength(200);
  expect(kinds.filter((k) => k.kind === 'cancel')).toHaveLength(cancelsFailed - Math.ceil(cancelsFailed / 2));
});

/**
 * A whole pass over this history, as the booking service runs it, every statement it sent
 * recorded, then each planned again: none reads `writeback` or `booking` by a sequential scan.
 * Its clock is put where some pending bookings are at their slot's cut-off, so that path's
 * statements are in it too; BullMQ answers that no job is live, so every stuck row is re-driven.
 * Last: it changes the rows.
 */
it('sends no statement in a whole pass that reads writeback or booking by a sequential scan', async () => {
  const sent: Array<{ sql: string; values: unknown[] }> = [];
  const record: OrmLogger = {
    logQuery: (sql, values) => void sent.push({ sql, values: values ?? [] }),
    logQueryError: () => undefined, logQuerySlow: () => undefined, logSchemaBuild: () => undefined, logMigration: () => undefined, log: () => undefined,
  };
  // The seeded rows name patients, entries and offers that are not there: their references are not checked (replica mode), as in the seed.
  const base = dataSourceOptions(db.url, 1);
  const recorded = await new DataSource({
    ...base, logging: ['query'], logger: record, extra: { ...(base.extra as object), options: '-c session_replication_role=replica' },
  } as typeof base).initialize();
  try {
    const noJobLive = { queue: () => ({ getJobState: async () => 'unknown' }) } as unknown as QueueService;
    const relay = { drain: async () => undefined } as unknown as OutboxRelay;
    // The pending bookings' slots start 3 days after they were made, 3 minutes apart: 24 h before the
    // cut-off of the 10 oldest.
    const clock = new FixedClock(new Date(Date.now() + 48 * 3_600_000 - 90 * 60_000));
    const reconciler = new Reconciler(recorded, relay, noJobLive, new MetricsService('test'), clock, { ...DEFAULT_POLICY, minNoticeHours: 24 }, loadIcsDirectory());
    const report = await reconciler.reconcile();
    expect(report).toMatchObject({ unansweredFailed: expect.any(Number), writebacksRedriven: expect.any(Number), outcomesRedriven: 200 });
    expect(report.unansweredFailed).toBeGreaterThan(0);
    expect(report.writebacksRedriven).toBeGreaterThan(0);
  } finally {
    await recorded.destroy();
  }
  const statements = sent.filter((x) => /^\s*(SELECT|WITH|INSERT|UPDATE|DELETE)\b/i.test(x.sql) && /\b(writeback|booking)\b/.test(x.sql));
  for (const listing of [STUCK_WRITEBACKS_SQL, UNANSWERED_AT_CUTOFF_SQL, DECIDED_OUTCOMES_SQL]) expect(statements.map((x) => x.sql)).toContain(listing);
  const scanned: string[] = [];
  for (const { sql, values } of statements) {
    const reads = (await plan(sql, values)).filter((x) => x['Node Type'] === 'Seq Scan' && ['writeback', 'booking'].includes(x['Relation Name'] ?? ''));
    if (reads.length > 0) scanned.push(`${reads.map((x) => x['Relation Name']).join(', ')}: ${sql}`);
  }
  expect([...new Set(scanned)]).toEqual([]);
}, 120_000);
