/**
 * The matching engine's offer lifecycle on real Postgres (real migrations) and, for the timed
 * parts, real Redis/BullMQ: waves expire by delayed jobs and the next wave goes out, the slot
 * closes at its cut-off with a reason, quiet hours move the wave to their end (TTL from sending),
 * STOP and undeliverable numbers move straight on, declining never lowers a place, the policy in
 * force is a recorded version (with per-specialty overrides) on every offer, travel distance
 * counts only when it is known, offer SMS carry their slot's cut-off as queue priority, and a
 * booking's freed appointment at the home trust enters matching in turn (the chain); no booking
 * is written or confirmed inside the notice (nor confirmed after the slot started), and a claimed
 * slot the PAS deleted is listed, and withdrawn rather than reopened when its booking fails.
 */
import type { Job } from 'bullmq';
import { queueFor } from '@app/contracts';
import { DEFAULT_POLICY, FixedClock, MatchingPolicy, PostcodeCentroids, syntheticNhsNumber, zonedTimeToUtc } from '@app/domain';
import { OutboxRelay, createTestDatabase, currentPolicy, dataSourceOptions, listenToOutbox, policyHistory, recordPolicy, TestDatabase } from '@app/persistence';
import { IcsDirectory, loadIcsDirectory, MetricsService, QueueService, SystemClock } from '@app/platform';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { RepliesWorker } from '../../apps/booking/src/replies.worker';
import { WritebackOutcomesWorker } from '../../apps/booking/src/writeback-outcomes.worker';
import { ExchangeConfig } from '../../apps/slot-exchange/src/config';
import { BATCH_MAX_SLOTS, MatchingWorker } from '../../apps/slot-exchange/src/matching.worker';
import { PolicyService, exchangePolicy } from '../../apps/slot-exchange/src/policy.service';
import { SlotEventsService } from '../../apps/slot-exchange/src/slot-events.service';
import { TravelDistances } from '../../apps/slot-exchange/src/travel-distance';
import { WaitingListService } from '../../apps/slot-exchange/src/waiting-list.service';
import { WritebacksService } from '../../apps/slot-exchange/src/writebacks.service';
import { FailuresService } from '../../apps/dashboard/src/failures.service';
import { backendPid, withoutWaitingOn } from '../support/locks';

const HOUR = 3_600_000;
const basePolicy: MatchingPolicy = { ...DEFAULT_POLICY, quietHours: null, waveSize: 3 };
const metrics = new MetricsService('test');
const noQueues = undefined as never; // driven directly: jobs are observed as outbox rows
const config = Object.assign(new ExchangeConfig(), { OFFER_PAGE_BASE_URL: 'http://offers.test' });

let db: TestDatabase;
let ds: DataSource;
let ics: IcsDirectory;

beforeAll(async () => {
  db = await createTestDatabase('sx_match');
  ds = await new DataSource(dataSourceOptions(db.url, 20)).initialize();
  ics = loadIcsDirectory();
});
afterAll(async () => {
  await ds?.destroy();
  await db?.drop();
});

let seq = 0;
function entry(over: Record<string, unknown> = {}) {
  seq++;
  return {
    rowNumber: seq, pathwayId: `PW-M-${seq}`, nhsNumber: syntheticNhsNumber(600_000 + seq * 3), birthDate: '1970-01-01', tfc: '330',
    appointmentType: 'NEW' as const, rttStart: '2026-03-01', priority: 'P3' as const, mobile: `+447700900${String(seq % 1000).padStart(3, '0')}`,
    offerConsent: true, icsWideConsent: true, acceptableSites: ['ANY'], unavailable: [], ...over,
  };
}

let slotSeq = 0;
async function release(events: SlotEventsService, now: Date, startsInMs: number, over: { tfc?: string; trust?: string; site?: string; filler?: string } = {}): Promise<string> {
  slotSeq++;
  const tfc = over.tfc ?? '330';
  const r = await events.handle(over.trust ?? 'RQM', {
    eventId: `mev-${slotSeq}-${Date.now()}`, kind: 'slot-released', controlId: `MC${slotSeq}`, siteOds: over.site ?? 'RQM01', clinicCode: `${tfc}-NEW`, tfc,
    appointmentType: 'NEW', start: new Date(now.getTime() + startsInMs).toISOString(), durationMinutes: 20, fillerAppointmentId: over.filler ?? `MF${slotSeq}-${Date.now()}`,
  });
  if (!r.slotId) throw new Error(`slot not created: ${r.outcome}`);
  return r.slotId;
}

function rig(clock: FixedClock | SystemClock, policy: MatchingPolicy = basePolicy, queues: QueueService = noQueues, distances?: TravelDistances) {
  const replies = new RepliesWorker(ds, clock, policy, ics, queues, metrics);
  return {
    events: new SlotEventsService(ds, clock, policy, ics, metrics),
    list: new WaitingListService(ds),
    matcher: new MatchingWorker(ds, clock, policy, ics, queues, metrics, config, distances),
    replies,
    outcomes: new WritebackOutcomesWorker(ds, clock, policy, ics, queues, metrics, replies),
  };
}

async function liveOffers(slotId: string): Promise<Array<{ id: string; patient_id: string; code: string; nhs: string; rank: number; policy_version: number; explanation: Record<string, unknown> }>> {
  return ds.query(
    `SELECT o.id, o.patient_id, o.code, p.nhs_number AS nhs, o.rank, o.policy_version, o.explanation
       FROM offer o JOIN patient p ON p.id = o.patient_id WHERE o.slot_id = $1 AND o.status = 'live' ORDER BY o.rank`,
    [slotId],
  );
}

async function reply(patientId: string, intent: 'yes' | 'no' | 'stop', code: string | null, replies: RepliesWorker) {
  const [r] = await ds.query(`INSERT INTO patient_reply (channel, external_id, patient_id, intent, code) VALUES ('sms', $1, $2, $3, $4) RETURNING id`, [`m-${Math.random()}`, patientId, intent, code]);
  return replies.process({ replyId: r.id });
}

async function until<T>(what: string, f: () => Promise<T | undefined | null | false>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('through real BullMQ: expiry, next wave, cut-off', () => {
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

  it('expires each unanswered wave by its delayed job, offers the next patient, and closes the slot unfilled at the cut-off', async () => {
    const queues = new QueueService(redisUrl);
    const relay = new OutboxRelay(ds, queues, metrics);
    try {
    // Seconds instead of hours: a wave lives 1.8 s, the cut-off is 1 hour before the start.
    const fast: MatchingPolicy = { ...basePolicy, waveSize: 1, offerTtlMinutes: 0.03, minOfferTtlMinutes: 0.01, minNoticeHours: 1 };
    const clock = new SystemClock();
    const w = rig(clock, fast, queues);
    const rows = [entry({ tfc: '502', priority: 'P2' }), entry({ tfc: '502', priority: 'P3' }), entry({ tfc: '502', priority: 'P4' })];
    await w.list.applyBatch('RAS', { mode: 'delta', rows });
    w.matcher.onApplicationBootstrap();
    await relay.onApplicationBootstrap();
    const slotId = await release(w.events, clock.now(), HOUR + 9_000, { tfc: '502' });

    const seen: string[] = [];
    await until('three waves, one patient each, in rank order', async () => {
      const offers: Array<{ nhs: string; round: number }> = await ds.query(
        `SELECT p.nhs_number AS nhs, wv.round FROM offer o JOIN offer_wave wv ON wv.id = o.wave_id JOIN patient p ON p.id = o.patient_id WHERE o.slot_id = $1 ORDER BY wv.round`, [slotId]);
      seen.splice(0, seen.length, ...offers.map((o) => o.nhs));
      return offers.length >= 3;
    });
    expect(seen).toEqual(rows.map((r) => r.nhsNumber));
    const waves = await ds.query(`SELECT round, ended_reason, (expires_at - send_at) AS ttl FROM offer_wave WHERE slot_id = $1 ORDER BY round`, [slotId]);
    expect(waves.slice(0, 2).map((x: { ended_reason: string }) => x.ended_reason)).toEqual(['time-to-live reached', 'time-to-live reached']);
    // Every patient whose offer lapsed is told it expired.
    const expired = await ds.query(`SELECT count(*)::int AS n FROM sms_message m JOIN offer o ON o.id = m.offer_id WHERE o.slot_id = $1 AND m.kind = 'expired'`, [slotId]);
    expect(expired[0].n).toBeGreaterThanOrEqual(2);

    const slot = await until('the cut-off close', async () => {
      const [s] = await ds.query(`SELECT status, closed_reason FROM slot WHERE id = $1`, [slotId]);
      return s.status === 'unfilled' ? s : null;
    });
    expect(slot.closed_reason).toBe('cut-off reached before anyone accepted');
    expect(await ds.query(`SELECT 1 FROM offer WHERE slot_id = $1 AND status = 'live'`, [slotId])).toHaveLength(0);
    // Nothing was offered at or after the cut-off.
    const late = await ds.query(`SELECT 1 FROM offer o JOIN slot s ON s.id = o.slot_id WHERE o.slot_id = $1 AND o.created_at >= s.cutoff_at`, [slotId]);
    expect(late).toHaveLength(0);
    } finally {
      await relay.onApplicationShutdown();
      for (const q of ['slot-matching', 'sms-outbound']) await queues.queue(q).obliterate({ force: true }).catch(() => undefined);
      await queues.onApplicationShutdown();
    }
  }, 30_000);

  it('hands offer SMS to BullMQ with their slot\'s cut-off as priority: nearer cut-off, served first', async () => {
    const clock = new FixedClock(new Date('2026-11-23T10:00:00Z'));
    const w = rig(clock, { ...basePolicy, waveSize: 1 });
    await w.list.applyBatch('RQM', { mode: 'delta', rows: [entry({ tfc: '320' }), entry({ tfc: '320' })] });
    const far = await release(w.events, clock.now(), 96 * HOUR, { tfc: '320' });
    const near = await release(w.events, clock.now(), 30 * HOUR, { tfc: '320' });
    await w.matcher.match({ slotId: far, round: 1 });
    await w.matcher.match({ slotId: near, round: 1 });
    const rows: Array<{ slot_id: string; priority: number; kept: number; job_id: string }> = await ds.query(
      `SELECT o.slot_id, x.priority, m.priority AS kept, x.job_id FROM outbox x JOIN sms_message m ON x.job_id = 'sms-' || m.id JOIN offer o ON o.id = m.offer_id WHERE o.slot_id = ANY($1::uuid[])`, [[far, near]]);
    const byslot = (id: string) => rows.find((r) => r.slot_id === id)!;
    expect(byslot(near).priority).toBe(6 * 60); // 30 h to the start, 24 h notice: 6 hours left
    expect(byslot(far).priority).toBe(72 * 60);
    // The message keeps it, for a send ordered again (the send sweep, a resend).
    expect(rows.map((r) => r.kept)).toEqual(rows.map((r) => r.priority));
    // The relay carries the priority to BullMQ (no worker runs here: the jobs are only inspected).
    const queues = new QueueService(redisUrl);
    try {
      await new OutboxRelay(ds, queues, metrics).drain();
      const job = await queues.queue('sms-outbound').getJob(byslot(near).job_id);
      expect(job?.opts.priority).toBe(6 * 60);
    } finally {
      for (const q of ['slot-matching', 'sms-outbound']) await queues.queue(q).obliterate({ force: true }).catch(() => undefined);
      await queues.onApplicationShutdown();
    }
  });
});

describe('quiet hours', () => {
  // 23:00 on a November evening in London (GMT).
  const night = new Date('2026-11-23T23:00:00Z');

  it('matches when quiet hours end, and the wave lives its TTL from sending', async () => {
    const clock = new FixedClock(night);
    const p = { ...DEFAULT_POLICY, waveSize: 2 };
    const w = rig(clock, p);
    await w.list.applyBatch('RYJ', { mode: 'delta', rows: [entry({ tfc: '100' }), entry({ tfc: '100' })] });
    const slotId = await release(w.events, clock.now(), 72 * HOUR, { tfc: '100' });
    const first = await w.matcher.match({ slotId, round: 1 });
    expect(first.reason).toBe('quiet hours: matched when they end');
    expect(await ds.query(`SELECT 1 FROM offer WHERE slot_id = $1`, [slotId])).toHaveLength(0);
    const eight = zonedTimeToUtc({ year: 2026, month: 11, day: 24, hour: 8, minute: 0 }, 'Europe/London');
    const deferred = await ds.query(`SELECT run_at FROM outbox WHERE job_id = $1`, [`match-${slotId}-1-at-${eight.getTime()}`]);
    expect(deferred).toHaveLength(1);
    expect(new Date(deferred[0].run_at).toISOString()).toBe('2026-11-24T08:00:00.000Z');

    clock.set(eight);
    await w.matcher.match({ slotId, round: 1 });
    const [wave] = await ds.query(`SELECT send_at, expires_at FROM offer_wave WHERE slot_id = $1`, [slotId]);
    expect(new Date(wave.send_at).toISOString()).toBe('2026-11-24T08:00:00.000Z');
    expect(new Date(wave.expires_at).toISOString()).toBe('2026-11-24T10:00:00.000Z');
    expect(await liveOffers(slotId)).toHaveLength(2);
  });

  it('closes a slot whose cut-off comes before quiet hours end, with that reason', async () => {
    const clock = new FixedClock(night);
    const w = rig(clock, DEFAULT_POLICY);
    await w.list.applyBatch('RYJ', { mode: 'delta', rows: [entry({ tfc: '101' })] });
    // Starts at 06:00 the day after tomorrow; cut-off 06:00 tomorrow, before 08:00.
    const slotId = await release(w.events, clock.now(), 31 * HOUR, { tfc: '101' });
    await w.matcher.match({ slotId, round: 1 });
    const [slot] = await ds.query(`SELECT status, closed_reason FROM slot WHERE id = $1`, [slotId]);
    expect(slot).toEqual({ status: 'unfilled', closed_reason: 'quiet hours last until the cut-off' });
  });
});

describe('replies move the slot on', () => {
  const clock = new FixedClock(new Date('2026-11-23T10:00:00Z'));
  const sequential: MatchingPolicy = { ...basePolicy, strategy: 'sequential' };

  it('NO goes straight to the next candidate, and declining never lowers the patient\'s place for the next slot', async () => {
    const w = rig(clock, sequential);
    const rows = [entry({ tfc: '110', priority: 'P2' }), entry({ tfc: '110', priority: 'P3' }), entry({ tfc: '110', priority: 'P4' })];
    await w.list.applyBatch('RQM', { mode: 'delta', rows });
    const a = await release(w.events, clock.now(), 72 * HOUR, { tfc: '110' });
    await w.matcher.match({ slotId: a, round: 1 });
    const [first] = await liveOffers(a);
    expect(first.nhs).toBe(rows[0].nhsNumber);
    expect((await reply(first.patient_id, 'no', first.code, w.replies)).reason).toBe('declined');
    await w.matcher.match({ slotId: a, round: 2 });
    const [second] = await liveOffers(a);
    expect(second.nhs).toBe(rows[1].nhsNumber);

    const b = await release(w.events, clock.now(), 80 * HOUR, { tfc: '110' });
    await w.matcher.match({ slotId: b, round: 1 });
    const [forB] = await liveOffers(b);
    expect(forB.nhs).toBe(rows[0].nhsNumber); // first again, despite the NO
    expect(forB.rank).toBe(1);
  });

  it('an undeliverable SMS goes straight to the next candidate', async () => {
    const w = rig(clock, sequential);
    const rows = [entry({ tfc: '120', priority: 'P2' }), entry({ tfc: '120', priority: 'P3' })];
    await w.list.applyBatch('RQM', { mode: 'delta', rows });
    const slotId = await release(w.events, clock.now(), 72 * HOUR, { tfc: '120' });
    await w.matcher.match({ slotId, round: 1 });
    const [first] = await liveOffers(slotId);
    await w.replies.undeliverable({ offerId: first.id });
    expect(await ds.query(`SELECT 1 FROM outbox WHERE job_id = $1`, [`match-${slotId}-2`])).toHaveLength(1);
    await w.matcher.match({ slotId, round: 2 });
    expect((await liveOffers(slotId)).map((o) => o.nhs)).toEqual([rows[1].nhsNumber]);
  });

  it('STOP ends the live offer, moves the slot on, and the patient is never offered again', async () => {
    const w = rig(clock, sequential);
    const rows = [entry({ tfc: '130', priority: 'P1b' }), entry({ tfc: '130', priority: 'P4' })];
    await w.list.applyBatch('RQM', { mode: 'delta', rows });
    const slotId = await release(w.events, clock.now(), 72 * HOUR, { tfc: '130' });
    await w.matcher.match({ slotId, round: 1 });
    const [first] = await liveOffers(slotId);
    expect(first.nhs).toBe(rows[0].nhsNumber);
    expect((await reply(first.patient_id, 'stop', null, w.replies)).reason).toBe('stopped');
    expect((await ds.query(`SELECT status FROM offer WHERE id = $1`, [first.id]))[0].status).not.toBe('live');
    await w.matcher.match({ slotId, round: 2 });
    expect((await liveOffers(slotId)).map((o) => o.nhs)).toEqual([rows[1].nhsNumber]);
    // A new slot, for which the stopped patient would rank first: not offered.
    const other = await release(w.events, clock.now(), 90 * HOUR, { tfc: '130' });
    await w.matcher.match({ slotId: other, round: 1 });
    expect((await ds.query(`SELECT 1 FROM offer WHERE slot_id = $1 AND patient_id = $2`, [other, first.patient_id]))).toHaveLength(0);
  });
});

describe('one live offer per patient, ICS-wide', () => {
  it('holds when many slots of several trusts are matched at the same moment', async () => {
    const clock = new FixedClock(new Date('2026-11-23T10:00:00Z'));
    const w = rig(clock);
    // The same 6 people on two trusts' lists each (12 pathways), 10 slots at once.
    const people = Array.from({ length: 6 }, () => entry({ tfc: '300' }));
    await w.list.applyBatch('RQM', { mode: 'delta', rows: people });
    await w.list.applyBatch('RAS', { mode: 'delta', rows: people.map((p) => ({ ...p, pathwayId: `${p.pathwayId}-RAS`, priority: 'P2' as const })) });
    const slots = [];
    for (let i = 0; i < 10; i++) slots.push(await release(w.events, clock.now(), (48 + i) * HOUR, i % 2 ? { tfc: '300' } : { tfc: '300', trust: 'RAS', site: 'RAS01' }));
    await Promise.all(slots.map((slotId) => w.matcher.match({ slotId, round: 1 })));
    const live: Array<{ patient_id: string }> = await ds.query(`SELECT patient_id FROM offer WHERE slot_id = ANY($1::uuid[]) AND status = 'live'`, [slots]);
    expect(live).toHaveLength(6);
    expect(new Set(live.map((o) => o.patient_id)).size).toBe(6);
    // The database refuses a second live offer whatever the code does.
    const [o] = await ds.query(`SELECT * FROM offer WHERE slot_id = ANY($1::uuid[]) AND status = 'live' LIMIT 1`, [slots]);
    const spare = slots.find((s) => s !== o.slot_id);
    const [wave] = await ds.query(`SELECT id FROM offer_wave WHERE slot_id = $1`, [spare]);
    await expect(ds.query(
      `INSERT INTO offer (slot_id, wave_id, entry_id, patient_id, rank, explanation, policy_version, code, token, status, expires_at) VALUES ($1, $2, $3, $4, 9, '{}', 1, '1234', 'tok-dup', 'live', now())`,
      [spare, wave?.id ?? o.wave_id, o.entry_id, o.patient_id],
    )).rejects.toMatchObject({ code: '23505' });
  });
});

describe('first waves of a busy specialty', () => {
  /** Holds the specialty's first-wave lock on its own connection, as a batch in flight does. */
  async function holdFirstWaveLock(tfc: string): Promise<() => Promise<void>> {
    const runner = ds.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    await runner.query(`SELECT pg_advisory_xact_lock($1, hashtext($2))`, [0x5157, `${tfc}/NEW`]);
    return async () => {
      await runner.commitTransaction();
      await runner.release();
    };
  }

  it('waits for the batch in flight and then makes the first wave itself, instead of being sent away to try again later', async () => {
    const clock = new FixedClock(new Date('2026-11-23T10:00:00Z'));
    const w = rig(clock);
    await w.list.applyBatch('RQM', { mode: 'delta', rows: Array.from({ length: 3 }, () => entry({ tfc: '101' })) });
    const slotId = await release(w.events, clock.now(), 50 * HOUR, { tfc: '101' });
    const release1 = await holdFirstWaveLock('101');
    const job = w.matcher.match({ slotId, round: 1 });
    await new Promise((r) => setTimeout(r, 300));
    await release1();
    const outcome = await job;
    expect(outcome.status).toBe('done');
    expect(await liveOffers(slotId)).toHaveLength(3);
  });

  it('skips at once after the wait when the batch it waited for gave its slot the first wave', async () => {
    const clock = new FixedClock(new Date('2026-11-23T10:00:00Z'));
    const w = rig(clock);
    await w.list.applyBatch('RQM', { mode: 'delta', rows: Array.from({ length: 6 }, () => entry({ tfc: '120' })) });
    const a = await release(w.events, clock.now(), 50 * HOUR, { tfc: '120' });
    const b = await release(w.events, clock.now(), 51 * HOUR, { tfc: '120' });
    const c = await release(w.events, clock.now(), 52 * HOUR, { tfc: '120' });
    // Both jobs find a batch in flight and wait for it together; when it ends, one of them batches
    // all three slots and the other finds its slot done (neither is sent away to retry).
    const release1 = await holdFirstWaveLock('120');
    const jobs = Promise.all([w.matcher.match({ slotId: a, round: 1 }), w.matcher.match({ slotId: b, round: 1 })]);
    await new Promise((r) => setTimeout(r, 200));
    await release1();
    const [first, second] = await jobs;
    expect([first.status, second.status].sort()).toEqual(['done', 'skipped']);
    const [slotC] = await ds.query(`SELECT match_round FROM slot WHERE id = $1`, [c]);
    expect(slotC.match_round).toBe(1); // in the same batch, though no job of its own ran
    expect(await liveOffers(a)).toHaveLength(3);
    expect(await liveOffers(b)).toHaveLength(3);
  });

  it('skips a slot that already has its first wave without waiting for its row lock', async () => {
    const clock = new FixedClock(new Date('2026-11-23T10:00:00Z'));
    const w = rig(clock);
    await w.list.applyBatch('RQM', { mode: 'delta', rows: Array.from({ length: 3 }, () => entry({ tfc: '300' })) });
    const slotId = await release(w.events, clock.now(), 50 * HOUR, { tfc: '300' });
    expect((await w.matcher.match({ slotId, round: 1 })).status).toBe('done');
    // Another transaction holds the slot's row (a reply being decided): the repeat job does not queue behind it.
    const runner = ds.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    try {
      await runner.query(`SELECT 1 FROM slot WHERE id = $1 FOR UPDATE`, [slotId]);
      // Postgres shows nobody queued behind the holder, and the holder's transaction still open, when the job returned.
      const outcome = await withoutWaitingOn(ds, await backendPid(runner), w.matcher.match({ slotId, round: 1 }));
      expect(outcome).toMatchObject({ status: 'skipped' });
    } finally {
      await runner.commitTransaction();
      await runner.release();
    }
  });

  it('gives up after a bounded wait (a stuck batch), leaving nothing written and the connection usable', async () => {
    const clock = new FixedClock(new Date('2026-11-23T10:00:00Z'));
    const w = rig(clock);
    await w.list.applyBatch('RQM', { mode: 'delta', rows: [entry({ tfc: '130' })] });
    const slotId = await release(w.events, clock.now(), 50 * HOUR, { tfc: '130' });
    const release1 = await holdFirstWaveLock('130');
    try {
      const outcome = await w.matcher.match({ slotId, round: 1 });
      expect(outcome.status).toBe('retry');
    } finally {
      await release1();
    }
    const [slot] = await ds.query(`SELECT match_round, status FROM slot WHERE id = $1`, [slotId]);
    expect(slot).toMatchObject({ match_round: 0, status: 'open' });
    expect((await w.matcher.match({ slotId, round: 1 })).status).toBe('done');
  });

  it('a job that made a batch goes on with the specialty\'s slots still waiting, batch after batch, nobody offered twice', async () => {
    const clock = new FixedClock(new Date('2026-11-23T10:00:00Z'));
    const w = rig(clock);
    const slots = BATCH_MAX_SLOTS + 8;
    await w.list.applyBatch('RQM', { mode: 'delta', rows: Array.from({ length: slots * 3 }, () => entry({ tfc: '303' })) });
    const ids: string[] = [];
    for (let i = 0; i < slots; i++) ids.push(await release(w.events, clock.now(), (50 + i) * HOUR, { tfc: '303' }));
    // One job: its batch takes BATCH_MAX_SLOTS slots, and it goes on with the rest rather than
    // leaving them to jobs at the back of the queue.
    expect((await w.matcher.match({ slotId: ids[0], round: 1 })).status).toBe('done');
    const rounds: Array<{ match_round: number; n: number }> = await ds.query(
      `SELECT s.match_round, count(o.id)::int AS n FROM slot s LEFT JOIN offer o ON o.slot_id = s.id AND o.status = 'live' WHERE s.id = ANY ($1::uuid[]) GROUP BY s.id`,
      [ids],
    );
    expect(rounds).toHaveLength(slots);
    expect(rounds.every((r) => r.match_round === 1 && r.n === 3)).toBe(true);
    const [{ twice }] = await ds.query(
      `SELECT count(*)::int AS twice FROM (SELECT patient_id FROM offer WHERE slot_id = ANY ($1::uuid[]) AND status = 'live' GROUP BY 1 HAVING count(*) > 1) x`,
      [ids],
    );
    expect(twice).toBe(0);
    // The other slots' own jobs then find their work done.
    expect((await w.matcher.match({ slotId: ids[slots - 1], round: 1 })).status).toBe('skipped');
  });

  it('a job that gave up is never completed as done: without a BullMQ token to delay it, it fails (and is retried)', async () => {
    const clock = new FixedClock(new Date('2026-11-23T10:00:00Z'));
    const w = rig(clock);
    await w.list.applyBatch('RQM', { mode: 'delta', rows: [entry({ tfc: '361' })] });
    const slotId = await release(w.events, clock.now(), 50 * HOUR, { tfc: '361' });
    // A specialty of its own: the slot left open here must not join another test's batch.
    const release1 = await holdFirstWaveLock('361');
    try {
      await expect(w.matcher.process({ name: 'match-slot', data: { slotId, round: 1 } } as Job)).rejects.toThrow(/match-slot not done/);
    } finally {
      await release1();
    }
  });
});

describe('policy as data', () => {
  it('records the configured policy once, keeps an administrator\'s change across restarts, and stamps every offer with its version', async () => {
    const clock = new FixedClock(new Date('2026-11-23T10:00:00Z'));
    const configured = exchangePolicy(Object.assign(new ExchangeConfig(), { QUIET_HOURS: '', TFC_POLICY_OVERRIDES: '{"320":{"waveSize":1}}' }));
    await new PolicyService(ds, configured).onModuleInit();
    await new PolicyService(ds, configured).onModuleInit(); // a restart with the same configuration
    expect((await policyHistory(ds)).map((v) => [v.version, v.source])).toEqual([[1, 'config']]);

    const w = rig(clock, configured);
    await w.list.applyBatch('RQM', { mode: 'delta', rows: Array.from({ length: 8 }, () => entry({ tfc: '301' })).concat(Array.from({ length: 3 }, () => entry({ tfc: '320', priority: 'P1a' }))) });
    const dermatologyLike = await release(w.events, clock.now(), 72 * HOUR, { tfc: '301' });
    const overridden = await release(w.events, clock.now(), 72 * HOUR, { tfc: '320' });
    await w.matcher.match({ slotId: dermatologyLike, round: 1 });
    await w.matcher.match({ slotId: overridden, round: 1 });
    expect((await liveOffers(dermatologyLike)).map((o) => o.policy_version)).toEqual([1, 1, 1]);
    expect(await liveOffers(overridden)).toHaveLength(1); // TFC 320 offers one at a time

    // An administrator widens waves; the next wave uses version 2 and says so.
    await ds.transaction((tx) => recordPolicy(tx, { ...configured, waveSize: 4 }, { source: 'admin', changedBy: 'ops-admin', reason: 'more patients per wave' }));
    await new PolicyService(ds, configured).onModuleInit(); // restart: the change stands
    expect((await currentPolicy(ds))!.version).toBe(2);
    const next = await release(w.events, clock.now(), 80 * HOUR, { tfc: '301' });
    await w.matcher.match({ slotId: next, round: 1 });
    const offers = await liveOffers(next);
    expect(offers).toHaveLength(4);
    expect(offers.every((o) => o.policy_version === 2 && o.explanation.policyVersion === 2)).toBe(true);
    expect(offers[0].explanation).toMatchObject({ rank: 1, priority: 'P3', sameTrust: true });
    const [wave] = await ds.query(`SELECT policy_version FROM offer_wave WHERE slot_id = $1`, [next]);
    expect(wave.policy_version).toBe(2);

    // A deploy that changes the configuration is a new version too.
    await new PolicyService(ds, { ...configured, offerTtlMinutes: 60 }).onModuleInit();
    expect((await policyHistory(ds)).map((v) => [v.version, v.source])).toEqual([[3, 'config'], [2, 'admin'], [1, 'config']]);
    // An invalid change is refused and changes nothing.
    await expect(ds.transaction((tx) => recordPolicy(tx, { ...configured, waveSize: 0 }, { source: 'admin' }))).rejects.toThrow(/waveSize/);
    expect((await currentPolicy(ds))!.version).toBe(3);
    await ds.query(`DELETE FROM matching_policy`); // later suites here use the policy they pass in
  });
});

describe('travel distance', () => {
  it('admits another trust\'s patient by MAX_TRAVEL_KM only when both postcodes are placed', async () => {
    const clock = new FixedClock(new Date('2026-11-23T10:00:00Z'));
    const dir = mkdtempSync(join(tmpdir(), 'centroids-'));
    // Synthetic centroids: the slot's site (RQM01, SW10 9NH) at the origin, two districts 5 and 20 km north.
    writeFileSync(join(dir, 'c.csv'), 'postcode,latitude,longitude\nSW10,51.0,0\nAA1,51.045,0\nBB2,51.18,0\n');
    const distances = TravelDistances.load(join(dir, 'c.csv'), ics);
    expect(distances.km('AA1 1AA', 'RQM01')).toBeCloseTo(5, 0);
    const w = rig(clock, basePolicy, noQueues, distances);
    const base = { tfc: '140', acceptableSites: [], maxTravelKm: 10 };
    const near = entry({ ...base, postcode: 'AA1 1AA', priority: 'P2' });
    const far = entry({ ...base, postcode: 'BB2 1AA', priority: 'P2' });
    const unplaced = entry({ ...base, postcode: 'CC3 1AA', priority: 'P2' });
    const named = entry({ tfc: '140', acceptableSites: ['RQM01'], priority: 'P4' });
    await w.list.applyBatch('RYJ', { mode: 'delta', rows: [near, far, unplaced, named] });
    const slotId = await release(w.events, clock.now(), 72 * HOUR, { tfc: '140' });
    await w.matcher.match({ slotId, round: 1 });
    expect((await liveOffers(slotId)).map((o) => o.nhs).sort()).toEqual([near.nhsNumber, named.nhsNumber].sort());
    // Without a centroid table no distance is known: only the patient who named the site.
    const w2 = rig(clock, basePolicy, noQueues, new TravelDistances(new PostcodeCentroids(), ics));
    const again = await release(w2.events, clock.now(), 96 * HOUR, { tfc: '140' });
    await ds.query(`UPDATE offer SET status = 'expired' WHERE slot_id = $1`, [slotId]);
    await w2.matcher.match({ slotId: again, round: 1 });
    expect((await liveOffers(again)).map((o) => o.nhs)).toEqual([named.nhsNumber]);
  });
});

describe('chain redistribution', () => {
  it('books a RAS patient into an RQM slot, cancels their RAS appointment, and that freed RAS slot is matched in turn', async () => {
    const clock = new FixedClock(new Date('2026-11-23T10:00:00Z'));
    const w = rig(clock, { ...basePolicy, waveSize: 1 });
    const oldStart = new Date(clock.now().getTime() + 30 * 24 * HOUR);
    const mover = entry({ tfc: '150', priority: 'P2', currentAppointmentStart: oldStart.toISOString(), currentAppointmentId: 'RAS-OLD-1' });
    const next = entry({ tfc: '150', priority: 'P3' });
    await w.list.applyBatch('RAS', { mode: 'delta', rows: [mover, next] });
    const rqmSlot = await release(w.events, clock.now(), 72 * HOUR, { tfc: '150' });
    await w.matcher.match({ slotId: rqmSlot, round: 1 });
    const [offer] = await liveOffers(rqmSlot);
    expect(offer.nhs).toBe(mover.nhsNumber);
    expect((await reply(offer.patient_id, 'yes', offer.code, w.replies)).reason).toBe('claimed');
    // RQM's PAS confirms the booking (as the adapter reports it) …
    const [book] = await ds.query(`SELECT w.id FROM writeback w JOIN booking b ON b.id = w.booking_id WHERE b.slot_id = $1 AND w.kind = 'book'`, [rqmSlot]);
    await ds.query(`UPDATE writeback SET status = 'succeeded', pas_appointment_id = 'RQM-NEW-1', completed_at = now() WHERE id = $1`, [book.id]);
    await w.outcomes.process({ writebackId: book.id });
    // … so the old appointment is cancelled at the home trust, RAS.
    const [cancel] = await ds.query(`SELECT w.trust_ods, b.previous_appointment_id FROM writeback w JOIN booking b ON b.id = w.booking_id WHERE b.slot_id = $1 AND w.kind = 'cancel'`, [rqmSlot]);
    expect(cancel).toEqual({ trust_ods: 'RAS', previous_appointment_id: 'RAS-OLD-1' });
    // RAS's PAS sends its own SIU^S15 for that appointment: a freed slot like any other.
    const rasSlot = await release(w.events, clock.now(), oldStart.getTime() - clock.now().getTime(), { tfc: '150', trust: 'RAS', site: 'RAS01', filler: 'RAS-OLD-1' });
    await w.matcher.match({ slotId: rasSlot, round: 1 });
    expect((await liveOffers(rasSlot)).map((o) => o.nhs)).toEqual([next.nhsNumber]);
  });
});

describe('a write-back outcome', () => {
  it("is handed on, and the patient's confirmation and the old appointment's cancel ordered, without a NOTIFY: each process's own relay is woken instead", async () => {
    const clock = new FixedClock(new Date('2026-11-23T10:00:00Z'));
    const w = rig(clock, { ...basePolicy, waveSize: 1 });
    const mover = entry({ tfc: '160', priority: 'P2', currentAppointmentStart: new Date(clock.now().getTime() + 30 * 24 * HOUR).toISOString(), currentAppointmentId: 'RAS-OLD-Q' });
    await w.list.applyBatch('RAS', { mode: 'delta', rows: [mover] });
    const slotId = await release(w.events, clock.now(), 72 * HOUR, { tfc: '160' });
    await w.matcher.match({ slotId, round: 1 });
    const [offer] = await liveOffers(slotId);
    expect((await reply(offer.patient_id, 'yes', offer.code, w.replies)).reason).toBe('claimed');
    const [book] = await ds.query(`SELECT w.id FROM writeback w JOIN booking b ON b.id = w.booking_id WHERE b.slot_id = $1 AND w.kind = 'book'`, [slotId]);
    const exchangeWake = jest.fn();
    const bookingWake = jest.fn();
    const outcomes = new WritebackOutcomesWorker(ds, clock, basePolicy, ics, noQueues, metrics, w.replies, { wake: bookingWake } as never);
    const listener = await listenToOutbox(db.url);
    try {
      // RQM's adapter reports the PAS's answer to the exchange …
      expect(await new WritebacksService(ds, clock, basePolicy, { wake: exchangeWake } as never).outcome('RQM', book.id, { outcome: 'succeeded', pasAppointmentId: 'RQM-Q-1' } as never)).toEqual({ status: 'succeeded' });
      // … and the booking service confirms.
      expect(await outcomes.process({ writebackId: book.id })).toEqual({ status: 'done', reason: 'confirmed' });
      await new Promise((r) => setTimeout(r, 300));
      expect(listener.heard).toEqual([]);
    } finally {
      await listener.end();
    }
    expect(exchangeWake.mock.calls).toEqual([[[queueFor('writeback-outcome')]]]);
    expect(bookingWake).toHaveBeenCalledTimes(1);
    expect(bookingWake.mock.calls[0][0].sort()).toEqual([queueFor('send-sms'), queueFor('write-back', 'RAS')].sort());
    // The jobs are in the outbox all the same, for the relays to move.
    const [cancel] = await ds.query(`SELECT w.id FROM writeback w JOIN booking b ON b.id = w.booking_id WHERE b.slot_id = $1 AND w.kind = 'cancel'`, [slotId]);
    const jobs = await ds.query(`SELECT job_name, queue FROM outbox WHERE job_id IN ($1, $2) ORDER BY job_name`, [`wb-outcome-${book.id}`, `writeback-${cancel.id}`]);
    expect(jobs).toEqual([{ job_name: 'write-back', queue: queueFor('write-back', 'RAS') }, { job_name: 'writeback-outcome', queue: queueFor('writeback-outcome') }]);
  });
});

describe('the minimum notice an administrator recorded holds after the offer went out', () => {
  const clock = new FixedClock(new Date('2026-11-23T10:00:00Z'));
  const longerNotice = () => ds.transaction((tx) => recordPolicy(tx, { ...basePolicy, minNoticeHours: 72 }, { source: 'admin', changedBy: 'ops-admin', reason: 'longer notice' }));
  afterEach(async () => {
    await ds.query(`DELETE FROM matching_policy`); // later suites here use the policy they pass in
  });

  it('a YES for a slot now inside it is not booked, with its code (decided in a batch) or without (decided alone)', async () => {
    const w = rig(clock, { ...basePolicy, waveSize: 2 });
    await w.list.applyBatch('RQM', { mode: 'delta', rows: [entry({ tfc: '170', priority: 'P2' }), entry({ tfc: '170', priority: 'P3' })] });
    const slotId = await release(w.events, clock.now(), 48 * HOUR, { tfc: '170' });
    await w.matcher.match({ slotId, round: 1 });
    const [first, second] = await liveOffers(slotId);
    await longerNotice();
    expect((await reply(first.patient_id, 'yes', first.code, w.replies)).reason).toBe('too-late');
    expect((await reply(second.patient_id, 'yes', null, w.replies)).reason).toBe('too-late');
    expect(await ds.query(`SELECT 1 FROM booking WHERE slot_id = $1`, [slotId])).toHaveLength(0);
    expect((await ds.query(`SELECT status FROM slot WHERE id = $1`, [slotId]))[0].status).not.toBe('booked');
  });

  it('a booking the PAS refused is not offered again once its slot is inside it', async () => {
    const w = rig(clock, { ...basePolicy, waveSize: 1 });
    await w.list.applyBatch('RQM', { mode: 'delta', rows: [entry({ tfc: '171', priority: 'P2' })] });
    const slotId = await release(w.events, clock.now(), 48 * HOUR, { tfc: '171' });
    await w.matcher.match({ slotId, round: 1 });
    const [offer] = await liveOffers(slotId);
    expect((await reply(offer.patient_id, 'yes', offer.code, w.replies)).reason).toBe('claimed');
    await longerNotice();
    const [book] = await ds.query(`SELECT w.id FROM writeback w JOIN booking b ON b.id = w.booking_id WHERE b.slot_id = $1 AND w.kind = 'book'`, [slotId]);
    await ds.query(`UPDATE writeback SET status = 'failed', last_error = 'refused', completed_at = now() WHERE id = $1`, [book.id]);
    expect(await w.outcomes.process({ writebackId: book.id })).toEqual({ status: 'done', reason: 'failed' });
    expect((await ds.query(`SELECT status FROM slot WHERE id = $1`, [slotId]))[0].status).toBe('unfilled');
    expect(await ds.query(`SELECT 1 FROM outbox WHERE job_id = $1`, [`match-${slotId}-2`])).toHaveLength(0);
  });
});

describe("a slot's close-slot follows the minimum notice in force, not the one at its release", () => {
  const released = new Date('2026-11-23T10:00:00Z');
  const notice = (minNoticeHours: number) => ds.transaction((tx) => recordPolicy(tx, { ...basePolicy, minNoticeHours }, { source: 'admin', changedBy: 'ops-admin', reason: `${minNoticeHours}-hour notice` }));
  afterEach(async () => {
    await ds.query(`DELETE FROM matching_policy`);
  });

  /** A slot 72 hours ahead (cut-off 24 hours before it, at release) with a live wave; its start and recorded cut-off. */
  async function offered(clock: FixedClock, tfc: string) {
    const w = rig(clock, { ...basePolicy, waveSize: 1 });
    await w.list.applyBatch('RQM', { mode: 'delta', rows: [entry({ tfc, priority: 'P2' })] });
    const slotId = await release(w.events, clock.now(), 72 * HOUR, { tfc });
    await w.matcher.match({ slotId, round: 1 });
    const [slot] = await ds.query(`SELECT start_at, cutoff_at, status FROM slot WHERE id = $1`, [slotId]);
    expect(slot.status).toBe('offering');
    expect(slot.cutoff_at).toEqual(new Date(released.getTime() + 48 * HOUR));
    return { w, slotId, start: new Date(slot.start_at) };
  }
  const state = async (slotId: string) => (await ds.query(`SELECT status, closed_reason, cutoff_at FROM slot WHERE id = $1`, [slotId]))[0];
  const closeJobs = async (slotId: string) => ds.query(`SELECT job_id, run_at FROM outbox WHERE job_name = 'close-slot' AND payload->>'slotId' = $1 ORDER BY created_at, id`, [slotId]);

  it('shortened since: at the old cut-off the slot stays offered, its cut-off moves, and it closes at the new one', async () => {
    const clock = new FixedClock(released);
    const { w, slotId, start } = await offered(clock, '172');
    const later = new Date(start.getTime() - 12 * HOUR);
    await notice(12);
    clock.set(new Date(start.getTime() - 24 * HOUR)); // the job's time: the cut-off recorded at release

    expect(await w.matcher.closeSlot({ slotId })).toMatchObject({ status: 'done', reason: expect.stringMatching(/not reached under the 12-hour notice/) });
    // Still offered (its wave live), with the cut-off everything else reads moved, and one job for then.
    expect(await state(slotId)).toEqual({ status: 'offering', closed_reason: null, cutoff_at: later });
    expect(await liveOffers(slotId)).toHaveLength(1);
    const moved = { job_id: `close-${slotId}-at-${later.getTime()}`, run_at: later };
    expect((await closeJobs(slotId)).slice(1)).toEqual([moved]);
    // The superseded job delivered again orders the same job, and does not close the slot early.
    await w.matcher.closeSlot({ slotId });
    expect((await state(slotId)).status).toBe('offering');
    expect(new Set((await closeJobs(slotId)).slice(1).map((j: { job_id: string }) => j.job_id))).toEqual(new Set([moved.job_id]));
    // The moved job itself, started a minute early by this clock (Redis's ahead): it waits for its
    // time rather than order its own id again, which BullMQ would ignore while it runs.
    clock.set(new Date(later.getTime() - 60_000));
    const jobsBefore = (await closeJobs(slotId)).length;
    expect(await w.matcher.closeSlot({ slotId }, moved.job_id)).toMatchObject({ status: 'retry', retryAt: later });
    expect((await state(slotId)).status).toBe('offering');
    expect(await closeJobs(slotId)).toHaveLength(jobsBefore);

    clock.set(later);
    expect(await w.matcher.closeSlot({ slotId })).toEqual({ status: 'done' });
    expect(await state(slotId)).toMatchObject({ status: 'unfilled', closed_reason: 'cut-off reached before anyone accepted' });
    expect(await liveOffers(slotId)).toHaveLength(0);
  });

  it('shortened since: a booking that fails after the old cut-off reopens the slot with the cut-off in force and a close-slot for it', async () => {
    const clock = new FixedClock(released);
    const { w, slotId, start } = await offered(clock, '176');
    const [offer] = await liveOffers(slotId);
    expect((await reply(offer.patient_id, 'yes', offer.code, w.replies)).reason).toBe('claimed');
    await notice(12);
    // Past the cut-off recorded at release (its close-slot found the slot booked), before the new one.
    clock.set(new Date(start.getTime() - 20 * HOUR));
    const [book] = await ds.query(`SELECT w.id FROM writeback w JOIN booking b ON b.id = w.booking_id WHERE b.slot_id = $1 AND w.kind = 'book'`, [slotId]);
    expect(await new WritebacksService(ds, clock, basePolicy).outcome('RQM', book.id, { outcome: 'failed', permanent: true, reason: 'PAS: no such slot' })).toEqual({ status: 'failed' });
    expect(await w.outcomes.process({ writebackId: book.id })).toEqual({ status: 'done', reason: 'failed' });
    const inForce = new Date(start.getTime() - 12 * HOUR);
    // Open again, with the cut-off the sweep and batches read moved, and a close-slot for it.
    expect(await state(slotId)).toEqual({ status: 'open', closed_reason: null, cutoff_at: inForce });
    expect((await closeJobs(slotId)).slice(1)).toEqual([{ job_id: `close-${slotId}-at-${inForce.getTime()}`, run_at: inForce }]);
  });

  it('lengthened since: the slot closes once past the new, earlier cut-off, by its next match or by its close-slot', async () => {
    const clock = new FixedClock(released);
    const byMatch = await offered(clock, '173');
    const byClose = await offered(clock, '174');
    await notice(48);
    // Past the new cut-off (48 hours before the start), before the one recorded at release.
    clock.set(new Date(byMatch.start.getTime() - 40 * HOUR));
    await ds.query(`UPDATE offer_wave SET status = 'ended', ended_at = now() WHERE slot_id = $1`, [byMatch.slotId]);
    expect(await byMatch.w.matcher.match({ slotId: byMatch.slotId, round: 2 })).toEqual({ status: 'done', reason: 'closed at cut-off' });
    expect((await state(byMatch.slotId)).status).toBe('unfilled');
    // At the recorded cut-off, its close-slot closes it.
    clock.set(new Date(byClose.start.getTime() - 24 * HOUR));
    const jobs = (await closeJobs(byClose.slotId)).length;
    expect(await byClose.w.matcher.closeSlot({ slotId: byClose.slotId })).toEqual({ status: 'done' });
    expect(await state(byClose.slotId)).toMatchObject({ status: 'unfilled', closed_reason: 'cut-off reached before anyone accepted' });
    expect(await closeJobs(byClose.slotId)).toHaveLength(jobs);
  });
});

describe('a booking is never made, nor confirmed, inside the notice', () => {
  const clock = new FixedClock(new Date('2026-11-23T10:00:00Z'));
  afterEach(async () => {
    await ds.query(`DELETE FROM matching_policy`);
  });

  /** A claimed booking of a fresh slot `startsInMs` ahead, with its book write-back. */
  async function claimed(w: ReturnType<typeof rig>, tfc: string, startsInMs: number) {
    await w.list.applyBatch('RQM', { mode: 'delta', rows: [entry({ tfc, priority: 'P2' })] });
    const slotId = await release(w.events, clock.now(), startsInMs, { tfc });
    await w.matcher.match({ slotId, round: 1 });
    const [offer] = await liveOffers(slotId);
    expect((await reply(offer.patient_id, 'yes', offer.code, w.replies)).reason).toBe('claimed');
    const [book] = await ds.query(`SELECT w.id, w.booking_id FROM writeback w JOIN booking b ON b.id = w.booking_id WHERE b.slot_id = $1 AND w.kind = 'book'`, [slotId]);
    return { slotId, writebackId: book.id as string, bookingId: book.booking_id as string };
  }
  const sent = async (bookingId: string) => (await ds.query(
    `SELECT m.kind FROM sms_message m JOIN booking b ON b.patient_id = m.patient_id WHERE b.id = $1 AND m.kind IN ('confirmed', 'booking_failed')`, [bookingId],
  )).map((r: { kind: string }) => r.kind);

  it('the write-back order of a slot now inside the notice in force is not pending: failed, and the booking undone', async () => {
    const w = rig(clock, { ...basePolicy, waveSize: 1 });
    const b = await claimed(w, '172', 48 * HOUR);
    const exchange = new WritebacksService(ds, clock, basePolicy);
    expect((await exchange.order('RQM', b.writebackId)).status).toBe('pending');
    // An administrator lengthens the notice to 72 hours: the slot, 48 hours away, is now inside it.
    await ds.transaction((tx) => recordPolicy(tx, { ...basePolicy, minNoticeHours: 72 }, { source: 'admin', changedBy: 'ops-admin', reason: 'longer notice' }));
    const order = await exchange.order('RQM', b.writebackId);
    expect(order.status).toBe('failed');
    expect((await ds.query(`SELECT last_error FROM writeback WHERE id = $1`, [b.writebackId]))[0].last_error).toMatch(/72-hour minimum notice; not written to the PAS/);
    expect(await ds.query(`SELECT 1 FROM outbox WHERE job_name = 'writeback-outcome' AND payload->>'writebackId' = $1`, [b.writebackId])).toHaveLength(1);
    expect(await w.outcomes.process({ writebackId: b.writebackId })).toEqual({ status: 'done', reason: 'failed' });
    expect((await ds.query(`SELECT status FROM slot WHERE id = $1`, [b.slotId]))[0].status).toBe('unfilled');
    expect(await sent(b.bookingId)).toEqual(['booking_failed']);
  });

  it("a success the PAS reports only inside the notice is answered 'failed' and the patient never told 'confirmed'", async () => {
    const w = rig(clock, { ...basePolicy, waveSize: 1 });
    const b = await claimed(w, '173', 30 * HOUR);
    const late = new FixedClock(new Date(clock.now().getTime() + 7 * HOUR)); // 23 hours before the start
    expect(await new WritebacksService(ds, late, basePolicy).outcome('RQM', b.writebackId, { outcome: 'succeeded', pasAppointmentId: 'RQM-LATE-7' })).toEqual({ status: 'failed' });
    expect((await ds.query(`SELECT pas_appointment_id, last_error FROM writeback WHERE id = $1`, [b.writebackId]))[0])
      .toEqual({ pas_appointment_id: 'RQM-LATE-7', last_error: expect.stringMatching(/RQM-LATE-7 only inside the 24-hour minimum notice/) });
    expect(await w.outcomes.process({ writebackId: b.writebackId })).toEqual({ status: 'done', reason: 'failed' });
    expect(await sent(b.bookingId)).toEqual(['booking_failed']);
  });

  it("a PAS success whose outcome is acted on only after the slot started is not 'confirmed': failed, told, listed to cancel in the PAS", async () => {
    const w = rig(clock, { ...basePolicy, waveSize: 1 });
    const b = await claimed(w, '174', 30 * HOUR);
    expect(await new WritebacksService(ds, clock, basePolicy).outcome('RQM', b.writebackId, { outcome: 'succeeded', pasAppointmentId: 'RQM-OK-8' })).toEqual({ status: 'succeeded' });
    // The booking service was down until after the slot's start.
    const afterStart = new FixedClock(new Date(clock.now().getTime() + 31 * HOUR));
    const outcomes = new WritebackOutcomesWorker(ds, afterStart, basePolicy, ics, noQueues, metrics, w.replies);
    expect(await outcomes.process({ writebackId: b.writebackId })).toEqual({ status: 'done', reason: 'failed' });
    expect((await ds.query(`SELECT status FROM booking WHERE id = $1`, [b.bookingId]))[0].status).toBe('failed');
    expect(await sent(b.bookingId)).toEqual(['booking_failed']);
    expect(await ds.query(`SELECT kind, reason FROM booking_failure WHERE booking_id = $1`, [b.bookingId]))
      .toEqual([{ kind: 'writeback-failed', reason: expect.stringMatching(/RQM-OK-8.*after the slot had started: cancel it in the PAS/) }]);
  });
});

describe('a claimed slot the PAS deleted (S17)', () => {
  it('is listed on the failures page, and when its booking then fails for good it is withdrawn, not offered again', async () => {
    const clock = new FixedClock(new Date('2026-11-23T10:00:00Z'));
    const w = rig(clock, { ...basePolicy, waveSize: 1 });
    await w.list.applyBatch('RQM', { mode: 'delta', rows: [entry({ tfc: '175', priority: 'P2' }), entry({ tfc: '175', priority: 'P3' })] });
    const slotId = await release(w.events, clock.now(), 72 * HOUR, { tfc: '175' });
    await w.matcher.match({ slotId, round: 1 });
    const [offer] = await liveOffers(slotId);
    expect((await reply(offer.patient_id, 'yes', offer.code, w.replies)).reason).toBe('claimed');
    const [slot] = await ds.query(`SELECT filler_appointment_id, start_at FROM slot WHERE id = $1`, [slotId]);
    const deleted = await w.events.handle('RQM', {
      eventId: `s17-${slotId}`, kind: 'slot-withdrawn', controlId: 'S17-175', siteOds: 'RQM01', clinicCode: '175-NEW', tfc: '175', appointmentType: 'NEW',
      start: new Date(slot.start_at).toISOString(), durationMinutes: 20, fillerAppointmentId: slot.filler_appointment_id,
    });
    expect(deleted.outcome).toBe('ignored');
    const page = new FailuresService(ds, undefined as never, undefined as never, ics);
    const listed = async () => (await page.list({ includeResolved: false, kind: 'booking', trust: 'RQM' })).filter((f) => f.slot_id === slotId).map((f) => f.summary);
    expect(await listed()).toEqual([expect.stringMatching(/deleted the slot after a patient claimed it \(SIU\^S17\)/)]);

    const [book] = await ds.query(`SELECT w.id FROM writeback w JOIN booking b ON b.id = w.booking_id WHERE b.slot_id = $1 AND w.kind = 'book'`, [slotId]);
    expect(await new WritebacksService(ds, clock, basePolicy).outcome('RQM', book.id, { outcome: 'failed', permanent: true, reason: 'PAS: no such slot' })).toEqual({ status: 'failed' });
    expect(await w.outcomes.process({ writebackId: book.id })).toEqual({ status: 'done', reason: 'failed' });
    expect(await ds.query(`SELECT status, closed_reason FROM slot WHERE id = $1`, [slotId])).toEqual([{ status: 'withdrawn', closed_reason: 'deleted in the PAS (SIU^S17)' }]);
    expect(await ds.query(`SELECT 1 FROM outbox WHERE job_name = 'match-slot' AND payload->>'slotId' = $1 AND (payload->>'round')::int > 1`, [slotId])).toHaveLength(0);
    expect(await listed()).toHaveLength(2); // the deletion, and the failed booking
  });
});

describe('a patient on two lists', () => {
  it('who declined a slot is not offered it again through their other pathway', async () => {
    const clock = new FixedClock(new Date('2026-11-23T10:00:00Z'));
    const w = rig(clock, { ...basePolicy, strategy: 'sequential' });
    const twice = entry({ tfc: '190', priority: 'P2' });
    const other = entry({ tfc: '190', priority: 'P4' });
    await w.list.applyBatch('RQM', { mode: 'delta', rows: [twice, other] });
    await w.list.applyBatch('RAS', { mode: 'delta', rows: [{ ...twice, pathwayId: `${twice.pathwayId}-RAS` }] });
    const slotId = await release(w.events, clock.now(), 72 * HOUR, { tfc: '190' });
    await w.matcher.match({ slotId, round: 1 });
    const [first] = await liveOffers(slotId);
    expect(first.nhs).toBe(twice.nhsNumber);
    expect((await reply(first.patient_id, 'no', first.code, w.replies)).reason).toBe('declined');
    await w.matcher.match({ slotId, round: 2 });
    expect((await liveOffers(slotId)).map((o) => o.nhs)).toEqual([other.nhsNumber]);
  });
});
