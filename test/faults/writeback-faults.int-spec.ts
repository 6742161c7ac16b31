/**
 * A trust adapter's write-back against a PAS that answers late, not at all, or after the exchange
 * has stopped waiting: the real exchange, adapter (RQM) and pas-sim apps in this process, over real
 * Postgres, Redis and HTTP, with the fault proxy (pas-proxy.ts) between the adapter and pas-sim.
 * Retries are shortened (fast-retries.ts), the give-up limit is seconds, not 30 minutes, and the
 * PAS circuit's cool-down is 300 ms, not 5 s; nothing else is changed from production. Each booking is made straight in the database, as the booking
 * service leaves one, and its write-back job is ordered as the outbox relay would.
 */
import { FAST_BACKOFF_MS, restoreRetries } from '../support/fast-retries';
import { INestApplication } from '@nestjs/common';
import { jobId, queueFor } from '@app/contracts';
import { DEFAULT_POLICY, syntheticNhsNumber } from '@app/domain';
import { JOB_DEFAULTS, MetricsService, QueueService, SystemClock, bootstrapApp, loadConfig, loadIcsDirectory } from '@app/platform';
import { randomBytes } from 'node:crypto';
import { AddressInfo, Socket, createServer } from 'node:net';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { WritebackOutcomesWorker } from '../../apps/booking/src/writeback-outcomes.worker';
import { PasSimModule } from '../../apps/pas-sim/src/app.module';
import { PasSimConfig } from '../../apps/pas-sim/src/config';
import { AdapterModule } from '../../apps/trust-adapter/src/app.module';
import { AdapterConfig } from '../../apps/trust-adapter/src/config';
import { FreshStores } from '../../tools/stack/fresh-stack';
import { CapturedLogs } from '../support/captured-logs';
import { expectNoPersonalData, storedPatients } from './harness';
import { startExchangeWorld } from './in-process';
import { http, until } from '../support/wait';
import { PasProxy, startPasProxy } from './pas-proxy';

const EXCHANGE_PORT = 11500;
const ADAPTER_PORT = 11501;
const MLLP_PORT = 11502;
const PAS_PORT = 11503;
const PROXY_PORT = 11504;
/** Nothing listens here: a PAS whose connections are refused (the request never reaches it). */
const REFUSING_PAS_URL = 'http://127.0.0.1:11505/RQM/fhir';
/** Each FHIR request's timeout at the adapter: a write the proxy holds longer gets no answer in time. */
const PAS_TIMEOUT_MS = 300;
/**
 * The PAS circuit's cool-down here (production: PAS_CIRCUIT_COOL_DOWN_MS, 5 s). Most scenarios
 * open the circuit, and the next one must not start against it; a short cool-down lets afterEach
 * wait well under a second for that instead of five (the scenarios accept a try the open circuit
 * refused, as production's would, and their give-up limits are seconds either way).
 */
const CIRCUIT_COOL_DOWN_MS = 300;
/**
 * The give-up limit of scenarios that only need it to pass (the validated minimum, 3 s); the one
 * that proves no write-back is given up before its limit sets a longer one of its own.
 */
const GIVE_UP_MINUTES = 0.05;

let stores: FreshStores;
let logs: CapturedLogs;
let pg: Client;
let exchange: INestApplication;
let adapter: INestApplication;
let pasSim: INestApplication;
let pas: PasProxy;
let config: AdapterConfig;
const q = async <T = any>(sql: string, params: unknown[] = []): Promise<T[]> => (await pg.query(sql, params)).rows as T[];
const uid = (p: string) => `${p}-${randomBytes(5).toString('hex')}`;
let seq = 0;

beforeAll(async () => {
  let common: Record<string, string>;
  ({ stores, exchange, common, logs } = await startExchangeWorld('sx_writeback_faults', EXCHANGE_PORT));
  pg = stores.pg;
  const simConfig = loadConfig(PasSimConfig, { HOST: '127.0.0.1', LOG_LEVEL: 'error', PORT: String(PAS_PORT), DEMO: '0', ADAPTER_MLLP_PORTS: `RQM=${MLLP_PORT}`, ADAPTER_HTTP_PORTS: `RQM=${ADAPTER_PORT}` });
  pasSim = await bootstrapApp(PasSimModule.forRoot(simConfig), { config: simConfig });
  pas = await startPasProxy(PROXY_PORT, `http://127.0.0.1:${PAS_PORT}`);
  config = loadConfig(AdapterConfig, {
    ...common, TRUST_ODS: 'RQM', PORT: String(ADAPTER_PORT), MLLP_PORT: String(MLLP_PORT), EXCHANGE_URL: `http://127.0.0.1:${EXCHANGE_PORT}`,
    PAS_FHIR_BASE_URL: `${pas.baseUrl}/RQM/fhir`, PAS_TIMEOUT_MS: String(PAS_TIMEOUT_MS), PAS_WRITEBACK_GIVE_UP_MINUTES: String(GIVE_UP_MINUTES),
  }).resolve();
  adapter = await bootstrapApp(AdapterModule.forRoot(config, { circuit: { coolDownMs: CIRCUIT_COOL_DOWN_MS } }), { config });
});

afterAll(async () => {
  await adapter?.close();
  await exchange?.close();
  await pasSim?.close();
  await pas?.close();
  await stores?.drop();
  restoreRetries();
  logs?.restore();
});

afterEach(async () => {
  pas.clear();
  config.PAS_FHIR_BASE_URL = `${pas.baseUrl}/RQM/fhir`;
  config.PAS_WRITEBACK_GIVE_UP_MINUTES = GIVE_UP_MINUTES;
  config.PAS_TIMEOUT_MS = PAS_TIMEOUT_MS;
  // The circuit opened by one scenario's failures lets its probe through before the next starts.
  await new Promise((r) => setTimeout(r, CIRCUIT_COOL_DOWN_MS + 200));
});

/** A pending booking of an RQM slot and its book write-back, ordered to the adapter's queue. */
async function orderBooking(): Promise<{ bookingId: string; writebackId: string }> {
  const n = ++seq;
  const [p] = await q(`INSERT INTO patient (nhs_number, mobile, mobile_status) VALUES ($1, $2, 'valid') RETURNING id`, [syntheticNhsNumber(700_000 + n * 13), `+447700900${String(800 + n).padStart(3, '0')}`]);
  const [e] = await q(`INSERT INTO waiting_list_entry (trust_ods, pathway_id, patient_id, tfc, appointment_type, priority, priority_rank, rtt_start, breach_date, status)
                       VALUES ('RQM', $1, $2, '330', 'NEW', 'P3', 4, '2026-01-01', '2026-05-01', 'booked') RETURNING id`, [uid('WBPW'), p.id]);
  const [s] = await q(`INSERT INTO slot (trust_ods, site_ods, clinic_code, tfc, appointment_type, start_at, duration_minutes, filler_appointment_id, source_event_id, status, cutoff_at)
                       VALUES ('RQM', 'RQM01', '330-NEW', '330', 'NEW', now() + interval '5 days' + $1 * interval '1 hour', 20, $2, $2, 'booked', now() + interval '4 days') RETURNING id`, [n, uid('WBSLOT')]);
  const [w] = await q(`INSERT INTO offer_wave (slot_id, round, status, policy_version, send_at, expires_at) VALUES ($1, 1, 'ended', 1, now(), now()) RETURNING id`, [s.id]);
  const [o] = await q(`INSERT INTO offer (slot_id, wave_id, entry_id, patient_id, rank, explanation, policy_version, code, token, status, expires_at)
                       VALUES ($1, $2, $3, $4, 1, '{}', 1, '1', $5, 'accepted', now()) RETURNING id`, [s.id, w.id, e.id, p.id, uid('TK')]);
  const [b] = await q(`INSERT INTO booking (slot_id, offer_id, entry_id, patient_id, status, owning_trust_ods, home_trust_ods) VALUES ($1, $2, $3, $4, 'pending', 'RQM', 'RQM') RETURNING id`, [s.id, o.id, e.id, p.id]);
  const [wb] = await q(`INSERT INTO writeback (booking_id, trust_ods, kind, status) VALUES ($1, 'RQM', 'book', 'pending') RETURNING id`, [b.id]);
  const payload = { writebackId: wb.id as string };
  await adapter.get(QueueService).add(queueFor('write-back', 'RQM'), 'write-back', payload, { jobId: jobId('write-back', payload) });
  return { bookingId: b.id, writebackId: wb.id };
}

const writeback = async (id: string) => (await q(`SELECT status, pas_appointment_id, pas_may_hold, attempts, last_error FROM writeback WHERE id = $1`, [id]))[0];
const settled = (id: string, ms = 30_000) => until('the write-back to settle', async () => {
  const w = await writeback(id);
  return w.status !== 'pending' && w;
}, ms, 100);
/** The appointments pas-sim holds for a booking (by the identifier of the conditional create). */
const inPas = async (bookingId: string): Promise<Array<{ id: string; status: string }>> =>
  ((await http('GET', `http://127.0.0.1:${PAS_PORT}/sim/RQM/appointments`)).json as Array<fhir4.Appointment & { id: string }>)
    .filter((a) => a.identifier?.some((i) => i.value === bookingId)).map((a) => ({ id: a.id, status: a.status }));

describe('a success the exchange no longer accepts', () => {
  it('is cancelled in the PAS, so the patient told "could not" holds no appointment there', async () => {
    // The PAS takes the booking but answers late; meanwhile the exchange records the write-back as
    // failed (as when the booking is given up at its cut-off), so the success is answered "failed".
    config.PAS_TIMEOUT_MS = 5_000;
    pas.set('RQM', { slowWritesMs: 1_500 });
    const heldBefore = pas.seen('RQM').held;
    const { bookingId, writebackId } = await orderBooking();
    // The order read as pending and its booking held at the proxy (waited for, not slept: on a
    // busy machine the adapter's pick-up, read and search can take longer than a fixed wait).
    await until('the booking to be held at the proxy', async () => pas.seen('RQM').held > heldBefore, 10_000, 20);
    expect(await inPas(bookingId)).toEqual([]);
    await q(`UPDATE writeback SET status = 'failed', completed_at = now(), last_error = 'given up by the exchange' WHERE id = $1`, [writebackId]);
    const held = await until('the appointment to be cancelled in the PAS', async () => {
      const a = await inPas(bookingId);
      return a.length === 1 && a[0].status === 'cancelled' && a;
    }, 20_000, 100);
    expect(held).toEqual([{ id: expect.any(String), status: 'cancelled' }]);
    // The exchange keeps the appointment the late success named, so the cancellation's SIU^S15
    // (pas-sim sends it to the adapter, which forwards it) is known as our own: that time was never
    // free, and no slot is made of it.
    expect(await writeback(writebackId)).toMatchObject({ status: 'failed', pas_appointment_id: held[0].id });
    await until('the cancellation\'s SIU^S15 to reach the exchange', async () =>
      (await q(`SELECT 1 FROM hl7_message WHERE trust_ods = 'RQM' AND forwarded_at IS NOT NULL AND raw LIKE '%' || $1 || '%' AND raw LIKE '%S15%'`, [held[0].id])).length > 0, 20_000, 100);
    expect(await q(`SELECT id FROM slot WHERE trust_ods = 'RQM' AND filler_appointment_id = $1`, [held[0].id])).toEqual([]);
  });
});

describe('a booking the exchange failed while its write-back was being retried', () => {
  it('is cancelled in the PAS the retry finds holding it, told to the exchange first, so its SIU^S15 frees no slot', async () => {
    // Every write reaches the PAS and is committed, and its answer is lost: the adapter keeps retrying.
    config.PAS_WRITEBACK_GIVE_UP_MINUTES = 0.5;
    pas.set('RQM', { dropAfterCommitNext: 1_000_000 });
    const { bookingId, writebackId } = await orderBooking();
    await until('a booking committed in the PAS, its answer lost', async () => pas.seen('RQM').dropped > 0 && (await inPas(bookingId)).length > 0, 20_000, 50);
    // The exchange gives the booking up meanwhile (as at its cut-off), knowing no appointment for it.
    await q(`UPDATE writeback SET status = 'failed', completed_at = now(), last_error = 'given up by the exchange' WHERE id = $1`, [writebackId]);
    const held = await until('the appointment to be cancelled in the PAS', async () => {
      const a = await inPas(bookingId);
      return a.length === 1 && a[0].status === 'cancelled' && a;
    }, 25_000, 100);
    expect(await writeback(writebackId)).toMatchObject({ status: 'failed', pas_appointment_id: held[0].id });
    await until('the cancellation\'s SIU^S15 to reach the exchange', async () =>
      (await q(`SELECT 1 FROM hl7_message WHERE trust_ods = 'RQM' AND forwarded_at IS NOT NULL AND raw LIKE '%' || $1 || '%' AND raw LIKE '%S15%'`, [held[0].id])).length > 0, 20_000, 100);
    expect(await q(`SELECT id FROM slot WHERE trust_ods = 'RQM' AND filler_appointment_id = $1`, [held[0].id])).toEqual([]);
  });
});

describe('giving up on a PAS that cannot be reached', () => {
  /** The booking service's handling of the write-back's outcome, as its worker runs it. */
  const handOn = async (writebackId: string) => {
    const outcomes = new WritebackOutcomesWorker(exchange.get(DataSource), new SystemClock(), { ...DEFAULT_POLICY, quietHours: null }, loadIcsDirectory(), adapter.get(QueueService), new MetricsService('test'), undefined as never);
    return outcomes.process({ writebackId });
  };
  const afterFailure = async (bookingId: string) => ({
    booking: (await q(`SELECT status FROM booking WHERE id = $1`, [bookingId]))[0],
    slot: (await q(`SELECT s.status, s.closed_reason FROM slot s JOIN booking b ON b.slot_id = s.id WHERE b.id = $1`, [bookingId]))[0],
    matchOrdered: (await q(`SELECT 1 FROM outbox o JOIN booking b ON o.payload->>'slotId' = b.slot_id::text WHERE b.id = $1 AND o.job_name = 'match-slot'`, [bookingId])).length > 0,
    listed: await q(`SELECT kind, reason FROM booking_failure WHERE booking_id = $1`, [bookingId]),
    told: (await q(`SELECT 1 FROM sms_message WHERE dedupe_key = $1`, [`failed-${bookingId}`])).length,
  });

  it('after a try that timed out (the PAS may hold it), fails the booking but closes the slot and lists it to check the PAS', async () => {
    pas.set('RQM', { slowWritesMs: 1_000 });
    const { bookingId, writebackId } = await orderBooking();
    // The first try times out at the adapter; the PAS commits it a moment later. From then on
    // nothing reaches the PAS (its connections refused) until the give-up limit.
    await until('a try to time out', async () => (await writeback(writebackId)).attempts > 0, 10_000, 20);
    config.PAS_FHIR_BASE_URL = REFUSING_PAS_URL;
    const w = await settled(writebackId);
    expect(w).toMatchObject({ status: 'failed', pas_may_hold: true });
    expect(await inPas(bookingId)).toEqual([{ id: expect.any(String), status: 'booked' }]);
    expect(await handOn(writebackId)).toEqual({ status: 'done', reason: 'failed' });
    expect(await afterFailure(bookingId)).toEqual({
      booking: { status: 'failed' },
      slot: { status: 'unfilled', closed_reason: expect.stringMatching(/PAS may hold/) },
      matchOrdered: false,
      listed: [{ kind: 'no-pas-answer', reason: expect.stringMatching(/check the PAS and cancel/) }],
      told: 1,
    });
  });

  it('when no try ever reached the PAS (connections refused throughout), reopens the slot as before', async () => {
    config.PAS_FHIR_BASE_URL = REFUSING_PAS_URL;
    const { bookingId, writebackId } = await orderBooking();
    const w = await settled(writebackId);
    expect(w).toMatchObject({ status: 'failed', pas_may_hold: false, last_error: expect.stringMatching(/ECONNREFUSED|circuit/) });
    expect(await handOn(writebackId)).toEqual({ status: 'done', reason: 'failed' });
    expect(await afterFailure(bookingId)).toEqual({
      booking: { status: 'failed' },
      slot: { status: 'open', closed_reason: null },
      matchOrdered: true,
      listed: [{ kind: 'writeback-failed', reason: expect.any(String) }],
      told: 1,
    });
  });

  it('when no connection to the PAS was ever made (its TLS handshake never completing in time), reopens the slot', async () => {
    // Takes every connection and never answers the TLS hello: each try times out before a byte of its request went out.
    const silent = createServer((socket) => void held.push(socket));
    const held: Socket[] = [];
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    try {
      config.PAS_FHIR_BASE_URL = `https://127.0.0.1:${(silent.address() as AddressInfo).port}/RQM/fhir`;
      const { bookingId, writebackId } = await orderBooking();
      const w = await settled(writebackId);
      expect(held.length).toBeGreaterThan(1);
      expect(w).toMatchObject({ status: 'failed', pas_may_hold: false, last_error: expect.stringMatching(/no connection made|circuit/) });
      expect(await handOn(writebackId)).toEqual({ status: 'done', reason: 'failed' });
      expect(await afterFailure(bookingId)).toMatchObject({ slot: { status: 'open', closed_reason: null }, matchOrdered: true, listed: [{ kind: 'writeback-failed', reason: expect.any(String) }] });
    } finally {
      for (const s of held) s.destroy();
      silent.close();
    }
  });

  it('when every try and the search were answered 503 by a gateway with no PAS behind it, reopens the slot', async () => {
    pas.set('RQM', { unavailable: true });
    const { bookingId, writebackId } = await orderBooking();
    const w = await settled(writebackId);
    expect(pas.seen('RQM').failed).toBeGreaterThan(1);
    expect(w).toMatchObject({ status: 'failed', pas_may_hold: false, last_error: expect.stringMatching(/503|circuit/) });
    expect(await handOn(writebackId)).toEqual({ status: 'done', reason: 'failed' });
    expect(await afterFailure(bookingId)).toMatchObject({ slot: { status: 'open', closed_reason: null }, matchOrdered: true, listed: [{ kind: 'writeback-failed', reason: expect.any(String) }] });
  });
});

describe('a PAS that commits a booking but answers after the adapter stopped waiting, on every try', () => {
  it('is reported as succeeded with the appointment the PAS holds, once, when the last try times out', async () => {
    pas.set('RQM', { slowWritesMs: PAS_TIMEOUT_MS * 3 });
    const { bookingId, writebackId } = await orderBooking();
    const w = await settled(writebackId);
    const held = await inPas(bookingId);
    expect(held).toEqual([{ id: expect.any(String), status: 'booked' }]);
    expect(w).toMatchObject({ status: 'succeeded', pas_appointment_id: held[0].id });
  });
});

describe('a PAS answering 503 for longer than the queue retries (a restart)', () => {
  it('keeps the booking pending past the old retry budget, and books it once the PAS is back', async () => {
    config.PAS_WRITEBACK_GIVE_UP_MINUTES = 0.5;
    pas.set('RQM', { failNext: 1_000_000 });
    const { bookingId, writebackId } = await orderBooking();
    // Until the queues' own retries (JOB_DEFAULTS: 8 attempts) are spent, however slowly a busy
    // machine makes them (budgetMs is the longest their back-off could take; each try adds a round
    // trip), then a second more, in which the old budget would have failed it for good.
    const budgetMs = Array.from({ length: JOB_DEFAULTS.attempts! }, (_, i) => FAST_BACKOFF_MS * 2 ** i).reduce((a, b) => a + b, 0);
    await until('the old retry budget to be spent', async () => (await writeback(writebackId)).attempts >= JOB_DEFAULTS.attempts!, budgetMs + 15_000, 100);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(pas.seen('RQM').failed).toBeGreaterThan(0);
    const during = await writeback(writebackId);
    expect(during).toMatchObject({ status: 'pending', last_error: expect.stringMatching(/503|circuit/i) });
    expect(during.attempts).toBeGreaterThanOrEqual(JOB_DEFAULTS.attempts!);
    pas.clear();
    const w = await settled(writebackId);
    const held = await inPas(bookingId);
    expect(held).toEqual([{ id: expect.any(String), status: 'booked' }]);
    expect(w).toMatchObject({ status: 'succeeded', pas_appointment_id: held[0].id });
  });

  it('fails it for good once the give-up limit has passed, and the PAS holds nothing for it', async () => {
    // 6 s, not GIVE_UP_MINUTES: longer than the queues' own retries take, so a write-back given up
    // with them instead of at its limit is seen here.
    config.PAS_WRITEBACK_GIVE_UP_MINUTES = 0.1;
    pas.set('RQM', { failNext: 1_000_000 });
    const started = Date.now();
    const { bookingId, writebackId } = await orderBooking();
    const w = await settled(writebackId);
    expect(Date.now() - started).toBeGreaterThanOrEqual(0.1 * 60_000 - 500);
    expect(w).toMatchObject({ status: 'failed', last_error: expect.stringMatching(/503|circuit/i) });
    expect(await inPas(bookingId)).toEqual([]);
  });
});

describe('after every fault above (last in this file: it reads what they left)', () => {
  it("no NHS number or mobile of any patient appears in the apps' log lines or anywhere in Redis (job ids, data, failure reasons, events)", async () => {
    await expectNoPersonalData(logs, stores.redisUrl, await storedPatients(pg));
  });
});
