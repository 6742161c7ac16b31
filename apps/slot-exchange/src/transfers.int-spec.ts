/**
 * A receiving trust pages through its inter-provider transfers against real Postgres with the
 * real migrations: each record exactly once, whatever the page size, however many were written
 * in one transaction, and whatever order their transactions commit in.
 */
import { TransferListQueryDto, TransferRecord } from '@app/contracts';
import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { syntheticNhsNumbers } from '@app/domain';
import { createTestDatabase, dataSourceOptions, TestDatabase } from '@app/persistence';
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { TransfersService } from './transfers.service';

let db: TestDatabase;
let ds: DataSource;
let transfers: TransfersService;
const nhsNumbers = syntheticNhsNumbers(430_000);

beforeAll(async () => {
  db = await createTestDatabase('sx_transfers');
  ds = new DataSource(dataSourceOptions(db.url, 4));
  await ds.initialize();
  transfers = new TransfersService(ds);
});

afterAll(async () => {
  await ds?.destroy();
  await db?.drop();
});

type Query = (sql: string, params?: unknown[]) => Promise<Array<Record<string, any>>>;
const viaDs: Query = (sql, params) => ds.query(sql, params);

/** A patient from RQM's list booked into a RAS slot, as the booking service leaves it before the transfer is written. */
async function crossTrustBooking(): Promise<string> {
  const [p] = await ds.query(`INSERT INTO patient (nhs_number) VALUES ($1) RETURNING id`, [nhsNumbers.next().value]);
  const [e] = await ds.query(
    `INSERT INTO waiting_list_entry (trust_ods, pathway_id, patient_id, tfc, appointment_type, priority, priority_rank, rtt_start, breach_date)
     VALUES ('RQM', $1, $2, '330', 'NEW', 'P3', 4, '2026-01-01', '2026-05-01') RETURNING id`, [`PW-${randomUUID()}`, p.id]);
  const [s] = await ds.query(
    `INSERT INTO slot (trust_ods, site_ods, clinic_code, tfc, appointment_type, start_at, duration_minutes, filler_appointment_id, source_event_id, status, cutoff_at)
     VALUES ('RAS', 'RAS01', '330-NEW', '330', 'NEW', now() + interval '5 days', 20, $1, $1, 'booked', now() + interval '4 days') RETURNING id`, [randomUUID()]);
  const [w] = await ds.query(`INSERT INTO offer_wave (slot_id, round, status, policy_version, send_at, expires_at) VALUES ($1, 1, 'ended', 1, now(), now()) RETURNING id`, [s.id]);
  const [o] = await ds.query(
    `INSERT INTO offer (slot_id, wave_id, entry_id, patient_id, rank, explanation, policy_version, code, token, status, expires_at)
     VALUES ($1, $2, $3, $4, 1, '{}', 1, '1', $5, 'accepted', now()) RETURNING id`, [s.id, w.id, e.id, p.id, randomUUID()]);
  const [b] = await ds.query(
    `INSERT INTO booking (slot_id, offer_id, entry_id, patient_id, status, owning_trust_ods, home_trust_ods) VALUES ($1, $2, $3, $4, 'confirmed', 'RAS', 'RQM') RETURNING id`,
    [s.id, o.id, e.id, p.id]);
  return b.id;
}

/** The IPT record for a booking, written as writeback-outcomes.worker.ts writes it (created_at is the transaction's start). */
async function recordTransfer(query: Query, bookingId: string): Promise<void> {
  await query(
    `INSERT INTO inter_provider_transfer (booking_id, entry_id, patient_id, sending_trust_ods, receiving_trust_ods, referral_pathway_id, tfc,
                                          appointment_type, priority, rtt_start, appointment_start, pas_appointment_id)
     SELECT b.id, e.id, e.patient_id, e.trust_ods, 'RAS', e.pathway_id, e.tfc, e.appointment_type, e.priority, e.rtt_start, now() + interval '5 days', 'APPT-' || b.id
       FROM booking b JOIN waiting_list_entry e ON e.id = b.entry_id WHERE b.id = $1`,
    [bookingId]);
}

/** A receiving trust's poller: asks for the page after the last record it holds, and remembers where it got to. */
function poller(limit?: number) {
  let after: string | undefined;
  return async (): Promise<string[]> => {
    const page: TransferRecord[] = await transfers.forReceivingTrust('RAS', { after, limit });
    if (page.length) after = page[page.length - 1].cursor;
    return page.map((t) => t.bookingId);
  };
}

async function drain(poll: () => Promise<string[]>): Promise<string[]> {
  const seen: string[] = [];
  for (let page = await poll(), i = 0; page.length && i < 50; page = await poll(), i++) seen.push(...page);
  return seen;
}

it('paging one at a time returns each transfer once, including several written in one transaction, then nothing', async () => {
  const poll = poller(1);
  await drain(poll);
  const together = [await crossTrustBooking(), await crossTrustBooking(), await crossTrustBooking()];
  await ds.transaction(async (tx) => {
    for (const b of together) await recordTransfer((sql, params) => tx.query(sql, params), b);
  });
  const alone = [await crossTrustBooking(), await crossTrustBooking()];
  for (const b of alone) await recordTransfer(viaDs, b);

  expect(await drain(poll)).toEqual([...together, ...alone]);
  expect(await poll()).toEqual([]);
});

it('paging by `since` with the last createdAt never returns that record again', async () => {
  const before = new Date(Date.now() - 60_000).toISOString();
  const written = [await crossTrustBooking(), await crossTrustBooking()];
  for (const b of written) await recordTransfer(viaDs, b);
  const first = await transfers.forReceivingTrust('RAS', { since: before, limit: 1000 });
  const last = first.find((t) => t.bookingId === written[1])!;
  expect(last.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  expect((await transfers.forReceivingTrust('RAS', { since: last.createdAt, limit: 1 })).map((t) => t.bookingId)).toEqual([]);
});

it('transfers whose transactions commit out of order, with a poll between, are both delivered, once', async () => {
  const poll = poller();
  await drain(poll);
  const [early, late, laterStillWritesFirst, startsFirstWritesLast] = [await crossTrustBooking(), await crossTrustBooking(), await crossTrustBooking(), await crossTrustBooking()];
  const a = new Client({ connectionString: db.url });
  const b = new Client({ connectionString: db.url });
  await a.connect();
  await b.connect();
  const on = (c: Client): Query => async (sql, params) => (await c.query(sql, params as unknown[])).rows;
  try {
    // A begins first and writes, B begins later, writes and commits while A is still open.
    await a.query('BEGIN');
    await recordTransfer(on(a), early);
    await b.query('BEGIN');
    await recordTransfer(on(b), late);
    await b.query('COMMIT');
    const whileAOpen = await poll();
    await a.query('COMMIT');
    const afterA = await poll();
    expect([...whileAOpen, ...afterA].sort()).toEqual([early, late].sort());

    // A begins first (its createdAt is earlier) but writes only after B has committed and been read.
    await a.query('BEGIN');
    await a.query('SELECT now()');
    await b.query('BEGIN');
    await recordTransfer(on(b), laterStillWritesFirst);
    await b.query('COMMIT');
    const beforeA = await poll();
    await recordTransfer(on(a), startsFirstWritesLast);
    await a.query('COMMIT');
    const once = await poll();
    expect([...beforeA, ...once].sort()).toEqual([laterStillWritesFirst, startsFirstWritesLast].sort());
    expect(await poll()).toEqual([]);
  } finally {
    await a.end();
    await b.end();
  }
});

it('refuses a malformed cursor and a query giving both after and since', async () => {
  const problems = async (query: Record<string, unknown>) => (await validate(plainToInstance(TransferListQueryDto, query))).map((e) => e.property);
  expect(await problems({ after: '12.34' })).toEqual([]);
  expect(await problems({ after: '2026-11-23T10:00:00Z' })).toEqual(['after']);
  expect(await problems({ after: "1.1' OR 1=1" })).toEqual(['after']);
  await expect(transfers.forReceivingTrust('RAS', { after: '1.1', since: new Date().toISOString() })).rejects.toMatchObject({ code: 'bad_query', status: 400 });
});
