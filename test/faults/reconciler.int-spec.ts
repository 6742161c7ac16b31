/**
 * The booking reconciler re-drives what a crash or a lost queue left half done, and only that:
 * a stuck outbox row is published, a pending write-back with no job left is ordered again, a
 * decided write-back whose booking is still pending gets its outcome job again — and a second
 * pass while those jobs wait in BullMQ orders nothing more. A reply whose job is gone is processed again.
 * A booking whose PAS never answers is failed at its slot's cut-off, and a failed cancel whose
 * outcome was lost is listed as double-held.
 * Also here: graceful shutdown lets an in-flight job finish.
 */
import { FixedClock, DEFAULT_POLICY, MatchingPolicy } from '@app/domain';
import { OutboxRelay, QUEUE_EPOCH_KEY, republishIfQueuesLost, storeReceivedTexts } from '@app/persistence';
import { checkEvictionPolicy, IcsDirectory, MetricsService, QueueService } from '@app/platform';
import { Job } from 'bullmq';
import IORedis from 'ioredis';
import { DataSource } from 'typeorm';
import { Reconciler } from '../../apps/booking/src/reconciler';
import { WritebacksService } from '../../apps/slot-exchange/src/writebacks.service';
import { WritebackOutcomesWorker } from '../../apps/booking/src/writeback-outcomes.worker';
import { QueueWorld, startQueueWorld, stopQueueWorld } from './harness';
import { claimedBooking as claimBooking } from '../support/claimed-booking';
import { FreshStores } from '../../tools/stack/fresh-stack';

const HOUR = 3_600_000;
const policy: MatchingPolicy = { ...DEFAULT_POLICY, quietHours: null, waveSize: 1 };
const clock = new FixedClock(new Date(Date.now()));
const metrics = new MetricsService('test');

let world: QueueWorld;
let stores: FreshStores;
let ds: DataSource;
let ics: IcsDirectory;
let queues: QueueService;
let relay: OutboxRelay;

beforeAll(async () => {
  world = await startQueueWorld('sx_reconcile', metrics);
  ({ stores, ds, ics, queues, relay } = world);
});
afterAll(() => stopQueueWorld(world));

let seq = 0;
/** A claimed booking, made by the production services (PTL row → slot → offer → YES). */
async function claimedBooking(): Promise<{ bookingId: string; writebackId: string }> {
  return claimBooking({ ds, clock, policy, ics, metrics }, ++seq);
}

describe('Reconciler', () => {
  it('re-drives stuck rows once, and leaves alone what is on its way', async () => {
    const lost = await claimedBooking(); // its write-back job vanished (Redis lost it)
    const decided = await claimedBooking(); // the PAS answered but the outcome job vanished
    const fresh = await claimedBooking(); // ordinary work in progress: not stuck
    // Everything the claims wrote is published, then the queue is emptied, as after a Redis loss.
    await ds.query(`UPDATE outbox SET published_at = now() WHERE published_at IS NULL`);
    await ds.query(`UPDATE writeback SET created_at = now() - interval '10 minutes' WHERE id = ANY($1::uuid[])`, [[lost.writebackId, decided.writebackId]]);
    await ds.query(`UPDATE writeback SET status = 'succeeded', pas_appointment_id = 'PAS-1', completed_at = now() - interval '2 minutes' WHERE id = $1`, [decided.writebackId]);
    // A reply stored minutes ago whose job is gone (failed for good during an outage).
    const [stuckReply] = await ds.query(
      `INSERT INTO patient_reply (channel, external_id, patient_id, intent, code, received_at) VALUES ('sms', 'rec-stuck-reply', NULL, 'unknown', NULL, now() - interval '5 minutes') RETURNING id`,
    );
    // A row committed long ago and never published (its relay died with its process).
    await ds.query(`INSERT INTO outbox (queue, job_name, job_id, payload, created_at) VALUES ('slot-matching', 'match-slot', 'rec-stuck-row', '{"slotId":"00000000-0000-0000-0000-000000000000","round":1}', now() - interval '2 minutes')`);

    const reconciler = new Reconciler(ds, relay, queues, metrics, clock, policy, ics);
    const first = await reconciler.reconcile();
    expect(first).toEqual({ outboxStuck: 1, repliesRedriven: 1, unansweredFailed: 0, writebacksRedriven: 1, outcomesRedriven: 1 });
    expect((await ds.query(`SELECT published_at FROM outbox WHERE job_id = 'rec-stuck-row'`))[0].published_at).not.toBeNull();
    const redriven = await ds.query(`SELECT queue, job_id FROM outbox WHERE job_id LIKE '%-r%' AND job_id <> 'rec-stuck-row' ORDER BY queue`);
    expect(redriven).toEqual([
      { queue: 'booking-events', job_id: expect.stringMatching(new RegExp(`^wb-outcome-${decided.writebackId}-r\\d+$`)) },
      { queue: 'offer-replies', job_id: expect.stringMatching(new RegExp(`^reply-${stuckReply.id}-r\\d+$`)) },
      { queue: 'trust-writeback-RQM', job_id: expect.stringMatching(new RegExp(`^writeback-${lost.writebackId}-r\\d+$`)) },
    ]);
    expect(redriven.some((r: { job_id: string }) => r.job_id.includes(fresh.writebackId))).toBe(false);

    // Before the relay has moved them, and after, the re-driven jobs count as on their way.
    expect(await reconciler.reconcile()).toEqual({ outboxStuck: 0, repliesRedriven: 0, unansweredFailed: 0, writebacksRedriven: 0, outcomesRedriven: 0 });
    await relay.drain();
    for (const r of redriven) expect(await queues.queue(r.queue).getJobState(r.job_id)).toBe('waiting');
    expect(await reconciler.reconcile()).toEqual({ outboxStuck: 0, repliesRedriven: 0, unansweredFailed: 0, writebacksRedriven: 0, outcomesRedriven: 0 });

    // Once the booking is settled and the reply processed, nothing about them is stuck any more.
    await ds.query(`UPDATE booking SET status = 'confirmed' WHERE id = ANY($1::uuid[])`, [[lost.bookingId, decided.bookingId]]);
    await ds.query(`UPDATE patient_reply SET processed_at = now() WHERE id = $1`, [stuckReply.id]);
    await queues.queue('offer-replies').obliterate({ force: true });
    await queues.queue('booking-events').obliterate({ force: true });
    await queues.queue('trust-writeback-RQM').obliterate({ force: true });
    expect(await reconciler.reconcile()).toEqual({ outboxStuck: 0, repliesRedriven: 0, unansweredFailed: 0, writebacksRedriven: 0, outcomesRedriven: 0 });
  });
});

describe('Reconciler and a PAS that never answers', () => {
  it("fails a booking still awaiting its PAS at the slot's cut-off: patient told, slot closed, listed, nothing more ordered; a late success is answered 'failed'", async () => {
    const stuck = await claimedBooking(); // the owning adapter is down: its job would sit waiting
    const [slot] = await ds.query(`SELECT s.id, s.start_at FROM slot s JOIN booking b ON b.slot_id = s.id WHERE b.id = $1`, [stuck.bookingId]);
    // Only this booking is in flight (earlier tests leave theirs pending).
    await ds.query(`UPDATE booking SET status = 'confirmed' WHERE status = 'pending' AND id <> $1`, [stuck.bookingId]);
    const orders = async () => (await ds.query(`SELECT count(*)::int AS n FROM outbox WHERE job_name = 'write-back' AND payload->>'writebackId' = $1`, [stuck.writebackId]))[0].n;
    const matches = async () => (await ds.query(`SELECT count(*)::int AS n FROM outbox WHERE job_name = 'match-slot' AND payload->>'slotId' = $1`, [slot.id]))[0].n;
    const [ordered, matched] = [await orders(), await matches()];

    // Well before the cut-off nothing is done; an hour past it (slot not yet started) it is failed.
    expect(await new Reconciler(ds, relay, queues, metrics, clock, policy, ics).reconcile()).toMatchObject({ unansweredFailed: 0 });
    const pastCutoff = new FixedClock(new Date(new Date(slot.start_at).getTime() - (policy.minNoticeHours - 1) * HOUR));
    const reconciler = new Reconciler(ds, relay, queues, metrics, pastCutoff, policy, ics);
    expect(await reconciler.reconcile()).toMatchObject({ unansweredFailed: 1, writebacksRedriven: 0 });

    const [booking] = await ds.query(`SELECT status, failure_reason FROM booking WHERE id = $1`, [stuck.bookingId]);
    expect(booking).toEqual({ status: 'failed', failure_reason: expect.stringMatching(/no answer from the PAS at RQM by the slot's cut-off/) });
    expect((await ds.query(`SELECT status FROM writeback WHERE id = $1`, [stuck.writebackId]))[0].status).toBe('failed');
    const texts = await ds.query(
      `SELECT m.kind FROM sms_message m JOIN booking b ON b.patient_id = m.patient_id JOIN outbox o ON o.job_name = 'send-sms' AND o.payload->>'smsId' = m.id::text
        WHERE b.id = $1 AND m.kind IN ('booking_failed', 'confirmed')`,
      [stuck.bookingId],
    );
    expect(texts).toEqual([{ kind: 'booking_failed' }]);
    expect(await ds.query(`SELECT status, closed_reason FROM slot WHERE id = $1`, [slot.id])).toEqual([{ status: 'unfilled', closed_reason: 'no answer from the PAS before the cut-off' }]);
    expect(await ds.query(`SELECT kind, trust_ods FROM booking_failure WHERE booking_id = $1`, [stuck.bookingId])).toEqual([{ kind: 'no-pas-answer', trust_ods: 'RQM' }]);
    expect(await orders()).toBe(ordered); // no PAS call ordered again
    expect(await matches()).toBe(matched); // and the slot not offered again
    expect(await reconciler.reconcile()).toMatchObject({ unansweredFailed: 0, writebacksRedriven: 0, outcomesRedriven: 0 });

    // The adapter, back, finds nothing to write; one that was writing all along is told 'failed'.
    const exchange = new WritebacksService(ds, pastCutoff, policy);
    expect((await exchange.order('RQM', stuck.writebackId)).status).toBe('failed');
    expect(await exchange.outcome('RQM', stuck.writebackId, { outcome: 'succeeded', pasAppointmentId: 'RQM-LATE-1' })).toEqual({ status: 'failed' });
    expect((await ds.query(`SELECT status FROM booking WHERE id = $1`, [stuck.bookingId]))[0].status).toBe('failed');
  });
});

describe('Reconciler and a lost "cancel failed" outcome', () => {
  it('re-drives the outcome of a failed cancel not yet listed as double-held, which then lists it even when the booking was flagged already', async () => {
    const moved = await claimedBooking();
    // Confirmed, its old appointment's cancel refused for good, and the outcome job lost; an S17
    // had already flagged the booking.
    await ds.query(`UPDATE booking SET status = 'confirmed', needs_attention = 'the PAS deleted the slot after it was booked (SIU^S17)' WHERE id = $1`, [moved.bookingId]);
    const [cancel] = await ds.query(
      `INSERT INTO writeback (booking_id, trust_ods, kind, status, last_error, completed_at) VALUES ($1, 'RQM', 'cancel', 'failed', 'PAS said 409', now() - interval '2 minutes') RETURNING id`,
      [moved.bookingId],
    );
    await ds.query(`UPDATE outbox SET published_at = now() WHERE published_at IS NULL`);
    const reconciler = new Reconciler(ds, relay, queues, metrics, clock, policy, ics);
    expect(await reconciler.reconcile()).toMatchObject({ outcomesRedriven: 1 });
    const [job] = await ds.query(`SELECT queue, payload FROM outbox WHERE job_name = 'writeback-outcome' AND payload->>'writebackId' = $1`, [cancel.id]);
    expect(job).toMatchObject({ queue: 'booking-events' });

    const outcomes = new WritebackOutcomesWorker(ds, clock, policy, ics, queues, metrics, undefined as never);
    expect(await outcomes.process({ writebackId: cancel.id })).toEqual({ status: 'done', reason: 'cancel failed' });
    expect(await ds.query(`SELECT kind, trust_ods, reason FROM booking_failure WHERE booking_id = $1`, [moved.bookingId]))
      .toEqual([{ kind: 'double-held', trust_ods: 'RQM', reason: expect.stringMatching(/409/) }]);
    // Listed, and marked so on the write-back: nothing more to re-drive, and no pass reads it again.
    expect((await ds.query(`SELECT listed_at FROM writeback WHERE id = $1`, [cancel.id]))[0].listed_at).not.toBeNull();
    await queues.queue('booking-events').obliterate({ force: true });
    expect(await reconciler.reconcile()).toMatchObject({ outcomesRedriven: 0 });
  });

  it('re-drives once a failed cancel listed but not marked (listed by a release before the mark), and not again once its outcome job has marked it', async () => {
    const moved = await claimedBooking();
    await ds.query(`UPDATE booking SET status = 'confirmed' WHERE id = $1`, [moved.bookingId]);
    const [cancel] = await ds.query(
      `INSERT INTO writeback (booking_id, trust_ods, kind, status, last_error, completed_at) VALUES ($1, 'RQM', 'cancel', 'failed', 'PAS said 409', now() - interval '2 minutes') RETURNING id`,
      [moved.bookingId],
    );
    await ds.query(
      `INSERT INTO booking_failure (booking_id, kind, trust_ods, slot_id, reason) SELECT id, 'double-held', home_trust_ods, slot_id, 'old appointment not cancelled' FROM booking WHERE id = $1`,
      [moved.bookingId],
    );
    await ds.query(`UPDATE outbox SET published_at = now() WHERE published_at IS NULL`);
    await queues.queue('booking-events').obliterate({ force: true });
    const reconciler = new Reconciler(ds, relay, queues, metrics, clock, policy, ics);
    expect(await reconciler.reconcile()).toMatchObject({ outcomesRedriven: 1 });
    const outcomes = new WritebackOutcomesWorker(ds, clock, policy, ics, queues, metrics, undefined as never);
    expect(await outcomes.process({ writebackId: cancel.id })).toEqual({ status: 'done', reason: 'cancel failed' });
    // Still one card on the failures list, and the write-back still failed (the dashboard's retry resets it).
    expect(await ds.query(`SELECT kind FROM booking_failure WHERE booking_id = $1`, [moved.bookingId])).toEqual([{ kind: 'double-held' }]);
    expect(await ds.query(`SELECT status, listed_at IS NOT NULL AS listed FROM writeback WHERE id = $1`, [cancel.id])).toEqual([{ status: 'failed', listed: true }]);
    await ds.query(`UPDATE outbox SET published_at = now() WHERE published_at IS NULL`);
    await queues.queue('booking-events').obliterate({ force: true });
    expect(await reconciler.reconcile()).toMatchObject({ outcomesRedriven: 0 });
  });
});

describe('Reconciler and a batch of received texts', () => {
  it("leaves alone a slow reply whose batch's job (process-replies) is still waiting, and re-drives it once that job is gone", async () => {
    const stamp = Date.now();
    await ds.transaction((tx) => storeReceivedTexts(tx, [0, 1].map((k) => ({ externalId: `rec-batch-${k}-${stamp}`, mobile: null, intent: 'unknown', code: null }))));
    const stored = await ds.query(`SELECT id FROM patient_reply WHERE external_id LIKE $1 ORDER BY received_at`, [`rec-batch-%-${stamp}`]);
    await ds.query(`UPDATE patient_reply SET received_at = now() - interval '5 minutes' WHERE id = ANY($1::uuid[])`, [stored.map((r: { id: string }) => r.id)]);
    await ds.query(`UPDATE outbox SET created_at = now() - interval '5 minutes' WHERE job_name = 'process-replies' AND payload->'replyIds' ? $1`, [stored[1].id]);
    await relay.drain();
    const reconciler = new Reconciler(ds, relay, queues, metrics, clock, policy, ics);
    // Its job waits in BullMQ (the booking service is slow, not broken): nothing to re-drive.
    expect(await reconciler.reconcile()).toMatchObject({ repliesRedriven: 0 });
    await queues.queue('offer-replies').obliterate({ force: true });
    expect(await reconciler.reconcile()).toMatchObject({ repliesRedriven: 2 });
    await ds.query(`UPDATE patient_reply SET processed_at = now() WHERE id = ANY($1::uuid[])`, [stored.map((r: { id: string }) => r.id)]);
    await queues.queue('offer-replies').obliterate({ force: true });
  });
});

describe('graceful shutdown', () => {
  it('lets a job in flight finish before the workers close', async () => {
    const q = new QueueService(stores.redisUrl);
    let finished = false;
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    q.worker('shutdown-test', async (_job: Job) => {
      started();
      await new Promise((r) => setTimeout(r, 1500));
      finished = true;
      return 'done';
    });
    const job = await q.add('shutdown-test', 'slow', {}, { jobId: `slow-${Date.now()}` });
    await running;
    await q.onApplicationShutdown(); // what Nest calls on SIGTERM
    expect(finished).toBe(true);
    const check = new QueueService(stores.redisUrl);
    try {
      expect(await check.queue('shutdown-test').getJobState(job.id!)).toBe('completed');
      await check.queue('shutdown-test').obliterate({ force: true });
    } finally {
      await check.onApplicationShutdown();
    }
  });
});

describe('Redis eviction policy at start-up', () => {
  it('refuses anything but noeviction in production and warns elsewhere', () => {
    const warnings: string[] = [];
    expect(() => checkEvictionPolicy('allkeys-lru', true, (m) => warnings.push(m))).toThrow(/noeviction.*Refusing to start/);
    checkEvictionPolicy('allkeys-lru', false, (m) => warnings.push(m));
    checkEvictionPolicy('noeviction', true, (m) => warnings.push(m));
    checkEvictionPolicy(null, true, (m) => warnings.push(m));
    expect(warnings).toEqual([expect.stringMatching(/allkeys-lru/), expect.stringMatching(/could not read/)]);
  });

  it('reads the policy from the running Redis', async () => {
    const q = new QueueService(stores.redisUrl, { requireNoEviction: true });
    try {
      const policy = await q.evictionPolicy();
      if (policy === 'noeviction') await expect(q.onModuleInit()).resolves.toBeUndefined();
      else await expect(q.onModuleInit()).rejects.toThrow(/Refusing to start/);
    } finally {
      await q.onApplicationShutdown();
    }
  });
});

describe('queues rebuilt after Redis lost its data', () => {
  it('publishes every kept outbox row again, once, with its own job id', async () => {
    await ds.query(`INSERT INTO outbox (queue, job_name, job_id, payload, published_at) VALUES ('rebuild-test', 'match-slot', 'rebuild-1', '{}', now())`);
    const redis = new IORedis(stores.redisUrl);
    try {
      expect(await republishIfQueuesLost(ds, redis)).toBe(0); // the marker is there: nothing was lost
      await redis.del(QUEUE_EPOCH_KEY); // as after a restart without persistence, or a FLUSHDB
      expect(await republishIfQueuesLost(ds, redis)).toBeGreaterThan(0);
      expect(await republishIfQueuesLost(ds, redis)).toBe(0);
      await relay.drain();
      expect(await queues.queue('rebuild-test').getJobState('rebuild-1')).toBe('waiting');
      expect((await ds.query(`SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL`))[0].n).toBe(0);
    } finally {
      await queues.queue('rebuild-test').obliterate({ force: true });
      await redis.quit();
    }
  });
});
