/**
 * Candidate selection at realistic size: NW London holds about 275,000 open pathways. The query
 * the matching worker runs must walk the ranking index (`waiting_list_entry_candidates`) and stop
 * after its window — never a sequential scan of the waiting list or a sort of it — and the rows it
 * returns must be exactly the domain's ranking of the eligible.
 */
import { DEFAULT_POLICY, FreedSlot, rankCandidates } from '@app/domain';
import { createTestDatabase, dataSourceOptions, pgClientOf, TestDatabase } from '@app/persistence';
import { DataSource } from 'typeorm';
import { seedWaitingList } from '../../bench/seed-waiting-list';
import { BATCH_WINDOW, CANDIDATE_WINDOW } from '../../apps/slot-exchange/src/matching.worker';
import {
  CANDIDATE_PLANNER_SETTINGS, CandidateRow, candidatePlannerSql, candidateQuery, readCandidatePages,
} from '../../apps/slot-exchange/src/candidate-query';
import { PlanNode, explain, nodes } from '../support/plans';

const ENTRIES = 275_000;
let db: TestDatabase;
let ds: DataSource;

beforeAll(async () => {
  db = await createTestDatabase('sx_plan');
  await seedWaitingList(db.url, ENTRIES);
  ds = await new DataSource(dataSourceOptions(db.url, 2)).initialize();
}, 120_000);
afterAll(async () => {
  await ds?.destroy();
  await db?.drop();
});

const now = new Date();
const slot = (over: Partial<FreedSlot> = {}): FreedSlot => ({
  slotId: '00000000-0000-0000-0000-000000000001', trustOds: 'RQM', siteOds: 'RQM01', tfc: '130', appointmentType: 'NEW',
  start: new Date(now.getTime() + 5 * 86_400_000), durationMinutes: 20, ...over,
});

/** The plan for these values (custom), or the one plan the worker runs for any values (generic: `readCandidatePages`). */
async function plan(s: FreedSlot, kind: 'custom' | 'generic', batch?: { trusts: string[]; sites: string[] }, on: DataSource = ds): Promise<PlanNode[]> {
  const q = candidateQuery({ slot: s, policy: DEFAULT_POLICY, distanceKnowable: true, window: batch ? BATCH_WINDOW : CANDIDATE_WINDOW, batch });
  if (kind === 'custom') return explain(on, q.text, q.values);
  return on.transaction(async (tx) => {
    await tx.query(candidatePlannerSql());
    await tx.query(`PREPARE candidate_plan AS ${q.text}`);
    // EXECUTE takes literals; under a generic plan their values make no difference to the plan.
    const text = (v: unknown) => (v instanceof Date ? v.toISOString() : Array.isArray(v) ? `{${v.join(',')}}` : String(v));
    const literal = (v: unknown) => (v === null ? 'NULL' : `'${text(v).replace(/'/g, "''")}'`);
    const [row] = await tx.query(`EXPLAIN (FORMAT JSON) EXECUTE candidate_plan(${q.values.map(literal).join(', ')})`);
    await tx.query(`DEALLOCATE candidate_plan`);
    return nodes(row['QUERY PLAN'][0].Plan);
  });
}

/** Rows of one page, read as the worker reads them. */
async function page(input: Parameters<typeof candidateQuery>[0]): Promise<CandidateRow[]> {
  return ds.transaction((tx) => readCandidatePages(pgClientOf(tx), (read) => read(input)));
}

/** The walk: the ranking index in order, nothing scanned whole, nothing sorted, nothing hashed. */
function expectTheWalk(all: PlanNode[]): void {
  const onList = all.filter((x) => x['Relation Name'] === 'waiting_list_entry');
  expect(onList.length).toBeGreaterThan(0);
  for (const x of onList) {
    expect(x['Node Type']).toMatch(/^Index (Only )?Scan$/);
    expect(x['Index Name']).toBe('waiting_list_entry_candidates');
  }
  expect(all.filter((x) => /Seq Scan|Bitmap/.test(x['Node Type'])).map((x) => `${x['Node Type']} ${x['Relation Name'] ?? x['Index Name']}`)).toEqual([]);
  expect(all.filter((x) => /Sort|Hash|Gather|Materialize/.test(x['Node Type'])).map((x) => x['Node Type'])).toEqual([]);
  // Each row's two offer checks go by an index on the patient: their live offer, and whether they
  // (through any of their entries) were offered this slot before.
  const probes = all.filter((x) => x['Relation Name'] === 'offer');
  expect(probes.map((x) => x['Index Name']).sort()).toEqual(['offer_by_patient', 'offer_one_live_per_patient']);
}

const SLOTS = [slot(), slot({ tfc: '330', appointmentType: 'FUP', trustOds: 'RAS', siteOds: 'RAS01' }), slot({ constraints: { minAgeYears: 18, sex: 'F' } })];
const BATCHES = [{ trusts: ['RQM'], sites: ['RQM01'] }, { trusts: ['RQM', 'RAS', 'RYJ', 'R1K'], sites: ['RQM01', 'RAS01', 'RYJ01', 'R1K01'] }];

it.each(['custom', 'generic'] as const)('walks the ranking index: no sequential scan of the waiting list, no sort (%s plan)', async (kind) => {
  const [{ n }] = await ds.query(`SELECT count(*)::int AS n FROM waiting_list_entry`);
  expect(n).toBe(ENTRIES);
  for (const s of SLOTS) {
    const all = await plan(s, kind);
    const onList = all.filter((x) => x['Relation Name'] === 'waiting_list_entry');
    expect(onList.length).toBeGreaterThan(0);
    for (const x of onList) {
      expect(x['Node Type']).toMatch(/^Index (Only )?Scan$/);
      expect(x['Index Name']).toBe('waiting_list_entry_candidates');
    }
    expect(all.filter((x) => x['Node Type'] === 'Seq Scan').map((x) => x['Relation Name'])).toEqual([]);
    expect(all.some((x) => x['Node Type'] === 'Sort')).toBe(false);
  }
  // The worker's own plan is the walk exactly, offers probed by index too.
  if (kind === 'generic') for (const s of SLOTS) expectTheWalk(await plan(s, kind));
});

describe('a small list analysed before any offer was made (a new ICS; the burst benchmark)', () => {
  let small: TestDatabase;
  let smallDs: DataSource;
  beforeAll(async () => {
    small = await createTestDatabase('sx_plan_small');
    await seedWaitingList(small.url, 60_000, { mobiles: true, offerHistory: false });
    smallDs = await new DataSource(dataSourceOptions(small.url, 1)).initialize();
  }, 120_000);
  afterAll(async () => {
    await smallDs?.destroy();
    await small?.drop();
  });

  it('the worker still walks the ranking index, for one slot and for a batch, probing offers by index', async () => {
    const [{ offers }] = await smallDs.query(`SELECT reltuples::int AS offers FROM pg_class WHERE relname = 'offer'`);
    expect(offers).toBeLessThanOrEqual(0);
    for (const s of SLOTS) expectTheWalk(await plan(s, 'generic', undefined, smallDs));
    for (const b of BATCHES) expectTheWalk(await plan({ ...slot(), slotId: '00000000-0000-0000-0000-000000000000' }, 'generic', b, smallDs));
  });
});

it.each(['custom', 'generic'] as const)('walks the ranking index for a batch of first waves too, for any trusts and sites (%s plan)', async (kind) => {
  const probe = slot({ slotId: '00000000-0000-0000-0000-000000000000' });
  for (const batch of BATCHES) {
    const all = await plan(probe, kind, batch);
    const onList = all.filter((x) => x['Relation Name'] === 'waiting_list_entry');
    expect(onList.length).toBeGreaterThan(0);
    for (const x of onList) expect(x['Index Name']).toBe('waiting_list_entry_candidates');
    expect(all.filter((x) => x['Node Type'] === 'Seq Scan').map((x) => x['Relation Name'])).toEqual([]);
    expect(all.some((x) => x['Node Type'] === 'Sort')).toBe(false);
  }
});

it('a batch walk holds every row a lone slot of its trusts reads, in the same order', async () => {
  const a = slot();
  const b = slot({ trustOds: 'RAS', siteOds: 'RAS01', start: new Date(now.getTime() + 6 * 86_400_000) });
  const probe = { ...a, slotId: '00000000-0000-0000-0000-000000000000' };
  const batch = { trusts: ['RQM', 'RAS'], sites: ['RQM01', 'RAS01'] };
  const ids: string[] = [];
  let after: CandidateRow['key'] | null = null;
  for (let i = 0; i < 8; i++) {
    const rows = await page({ slot: probe, policy: DEFAULT_POLICY, distanceKnowable: false, window: BATCH_WINDOW, batch, after });
    ids.push(...rows.map((r) => r.entryId));
    after = rows[rows.length - 1].key;
  }
  for (const s of [a, b]) {
    const alone = (await page({ slot: s, policy: DEFAULT_POLICY, distanceKnowable: false, window: CANDIDATE_WINDOW })).map((r) => r.entryId);
    expect(ids).toEqual(expect.arrayContaining(alone));
    // Within the batch walk, the lone slot's rows come in the lone order.
    expect(ids.filter((id) => alone.includes(id))).toEqual(alone);
  }
});

it('returns, page after page, exactly the domain ranking of the eligible', async () => {
  const s = slot();
  const page1 = await page({ slot: s, policy: DEFAULT_POLICY, distanceKnowable: false, window: CANDIDATE_WINDOW });
  expect(page1).toHaveLength(CANDIDATE_WINDOW);
  const page2 = await page({ slot: s, policy: DEFAULT_POLICY, distanceKnowable: false, window: CANDIDATE_WINDOW, after: page1[page1.length - 1].key });
  const rows = [...page1, ...page2];
  expect(new Set(rows.map((r) => r.entryId)).size).toBe(rows.length);
  // SQL's order is the domain's order, and every row SQL lets through passes the domain rules here.
  const ranked = rankCandidates(rows, s, { now, policy: DEFAULT_POLICY });
  expect(ranked.map((r) => r.candidate.entryId)).toEqual(rows.map((r) => r.entryId));
  expect(rows.every((r) => r.priority === rows[0].priority || r.key.priorityRank >= rows[0].key.priorityRank)).toBe(true);
});

it('a patient holding a live offer is out of the index walk from the offer\'s start to its end, whichever way it ends', async () => {
  const held = async (patientId: string) => (await ds.query(`SELECT DISTINCT offer_held FROM waiting_list_entry WHERE patient_id = $1`, [patientId])).map((r: { offer_held: boolean }) => r.offer_held);
  // The seeded history's live offers flagged their patients' entries (all of them), and nobody else's.
  const [o] = await ds.query(`SELECT id, patient_id FROM offer WHERE status = 'live' ORDER BY id LIMIT 1`);
  expect(await held(o.patient_id)).toEqual([true]);
  const [{ stray }] = await ds.query(`SELECT count(*)::int AS stray FROM waiting_list_entry e WHERE e.offer_held AND NOT EXISTS (SELECT 1 FROM offer x WHERE x.patient_id = e.patient_id AND x.status = 'live')`);
  expect(stray).toBe(0);
  await ds.query(`UPDATE offer SET status = 'expired' WHERE id = $1`, [o.id]);
  expect(await held(o.patient_id)).toEqual([false]);
  await ds.query(`UPDATE offer SET status = 'live' WHERE id = $1`, [o.id]);
  expect(await held(o.patient_id)).toEqual([true]);
  // One statement ending many offers (a claim superseding its wave) clears each of their patients,
  // and one making them live again flags each; a statement that changes no status changes nothing.
  const many: Array<{ id: string; patient_id: string }> = await ds.query(`SELECT id, patient_id FROM offer WHERE status = 'live' ORDER BY id LIMIT 5`);
  const ids = many.map((m) => m.id);
  await ds.query(`UPDATE offer SET status = 'superseded' WHERE id = ANY($1::uuid[])`, [ids]);
  for (const m of many) expect(await held(m.patient_id)).toEqual([false]);
  await ds.query(`UPDATE offer SET status = 'live' WHERE id = ANY($1::uuid[])`, [ids]);
  for (const m of many) expect(await held(m.patient_id)).toEqual([true]);
  // A flag set wrong by hand stays wrong through an update that changes no status: only status changes touch it.
  const patients = many.map((m) => m.patient_id);
  await ds.query(`UPDATE waiting_list_entry SET offer_held = false WHERE patient_id = ANY($1::uuid[])`, [patients]);
  await ds.query(`UPDATE offer SET responded_at = responded_at WHERE id = ANY($1::uuid[])`, [ids]);
  for (const m of many) expect(await held(m.patient_id)).toEqual([false]);
  await ds.query(`UPDATE waiting_list_entry SET offer_held = true WHERE patient_id = ANY($1::uuid[])`, [patients]);

  // The best candidate of a slot, offered another slot: gone from the first page at once; back when that offer ends.
  const s = slot({ tfc: '330' });
  const firstPage = async () => (await page({ slot: s, policy: DEFAULT_POLICY, distanceKnowable: false, window: CANDIDATE_WINDOW })).map((r) => r.entryId);
  const before = await firstPage();
  const [top] = await ds.query(`SELECT id, patient_id FROM waiting_list_entry WHERE id = $1`, [before[0]]);
  const [w] = await ds.query(`SELECT wave_id, slot_id FROM offer WHERE id = $1`, [o.id]);
  const [mine] = await ds.query(
    `INSERT INTO offer (slot_id, wave_id, entry_id, patient_id, rank, explanation, policy_version, code, token, status, expires_at)
     VALUES ($1, $2, $3, $4, 1, '{}', 1, '4242', md5(random()::text), 'live', now() + interval '2 hours') RETURNING id`,
    [w.slot_id, w.wave_id, top.id, top.patient_id],
  );
  expect(await held(top.patient_id)).toEqual([true]);
  expect(await firstPage()).not.toContain(top.id);
  await ds.query(`DELETE FROM offer WHERE id = $1`, [mine.id]);
  expect(await held(top.patient_id)).toEqual([false]);
  expect(await firstPage()).toEqual(before);
});

it('reads pages with a statement prepared once per connection, always under its generic plan, and puts the settings back', async () => {
  const input = { slot: slot({ tfc: '120' }), policy: DEFAULT_POLICY, distanceKnowable: false, window: CANDIDATE_WINDOW };
  const names = Object.keys(CANDIDATE_PLANNER_SETTINGS);
  await ds.transaction(async (tx) => {
    const settings = async () => Object.fromEntries(
      ((await tx.query(`SELECT name, setting FROM pg_settings WHERE name = ANY ($1)`, [names])) as Array<{ name: string; setting: string }>).map((r) => [r.name, r.setting]),
    );
    const before = await settings();
    const inside = await readCandidatePages(pgClientOf(tx), async (read) => {
      expect(await read(input)).toEqual(await read(input));
      return settings();
    });
    expect(inside).toEqual(CANDIDATE_PLANNER_SETTINGS);
    // The rest of the transaction (the offers' insert, say) is planned as usual.
    expect(await settings()).toEqual(before);
    expect(before).toMatchObject({ plan_cache_mode: 'auto', enable_sort: 'on' });
    const prepared = (await tx.query(`SELECT name, generic_plans::int AS generic, custom_plans::int AS custom FROM pg_prepared_statements WHERE name LIKE 'candidates-%'`)) as Array<{ generic: number; custom: number }>;
    expect(prepared.length).toBeGreaterThan(0);
    expect(prepared.some((p) => p.generic >= 2)).toBe(true);
    expect(prepared.every((p) => p.custom === 0)).toBe(true);
  });
});
