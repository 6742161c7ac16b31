/**
 * Crashes of the processes other than booking, and a Redis wiped under the matching engine,
 * against built processes (the exchange and the adapters only: nothing here needs the rest), real
 * sockets, real Postgres and the fault world's own Redis (harness.ts):
 * - `kill -9` of the slot exchange part-way through a burst of first-wave batches, then a restart;
 * - `kill -9` of a trust adapter after it ACKed S15s AA but before it could forward them (the
 *   exchange unreachable through a TCP proxy), then the exchange back and the adapter restarted;
 * - FLUSHDB of the world's Redis while first waves are being made;
 * - `kill -9` of the slot exchange while a slot's first match waits on its row, the job then
 *   failed for good by BullMQ (stalled once too often): the restarted exchange's matching sweep,
 *   its grace shortened by MATCHING_SWEEP_GRACE_MS, orders the match again.
 * After each (DESIGN "Invariants"): every freed slot reached the exchange exactly once and ends
 * offered (a live wave) or closed with its reason, no slot has two first waves, no patient two
 * live offers, and no slot is left without the job that moves it on (`strandedSlots`).
 */
import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import { Client } from 'pg';
import { QueueName } from '@app/contracts';
import { FIRST_WAVE_LOCK } from '../../apps/slot-exchange/src/matching.worker';
import {
  FaultWorld, FreedSlotMessage, OFFSET, freeSlots, killHard, startProcess, startWorld, stopWorld, strandedSlots, until, uploadPatients,
} from './harness';
import { TcpProxy, startTcpProxy } from '../../tools/stack/tcp-proxy';

jest.setTimeout(90_000);

let w: FaultWorld;

beforeAll(async () => {
  // The sweep looks every second (its grace stays production's: these scenarios must recover
  // without it, all but the last, which restarts the exchange with a shorter one). The RAS adapter is started by its own scenario, in front of a proxy.
  w = await startWorld('sx_crash_faults', { apps: ['slot-exchange', 'trust-adapter-RQM'], env: { MATCHING_SWEEP_MS: '1000' } });
}, 120_000);

afterAll(async () => {
  await stopWorld(w);
}, 60_000);

const WAVE = 3;

interface SlotEnd { id: string; filler_appointment_id: string; status: string; closed_reason: string | null; live_waves: number; first_waves: number }

/** Each freed slot's row(s) at the exchange: its state, live waves and round-1 waves. */
async function slotsOf(freed: FreedSlotMessage[]): Promise<SlotEnd[]> {
  return (await w.pg.query(
    `SELECT s.id, s.filler_appointment_id, s.status, s.closed_reason,
            (SELECT count(*)::int FROM offer_wave v WHERE v.slot_id = s.id AND v.status = 'live') AS live_waves,
            (SELECT count(*)::int FROM offer_wave v WHERE v.slot_id = s.id AND v.round = 1) AS first_waves
       FROM slot s WHERE s.filler_appointment_id = ANY ($1::text[])`,
    [freed.map((f) => f.fillerId)],
  )).rows;
}

/** Every freed slot at the exchange, and each offered (a live wave) or closed with a reason. */
const allEnded = async (freed: FreedSlotMessage[]) => {
  const slots = await slotsOf(freed);
  return slots.length >= freed.length && slots.every((s) => s.live_waves > 0 || (s.status !== 'open' && s.status !== 'offering' && s.closed_reason)) ? slots : undefined;
};

/**
 * The invariants after the fault: each message's slot at the exchange exactly once (one slot, one
 * slot event), offered or closed with its reason, one first wave at most and one live wave at
 * most, no patient holding two live offers, and nothing stranded.
 */
async function expectEveryFreedSlotEnded(freed: FreedSlotMessage[], ms = 60_000): Promise<SlotEnd[]> {
  await until('every freed slot offered or closed', () => allEnded(freed), ms, 250);
  const slots = await slotsOf(freed);
  expect(slots.map((s) => s.filler_appointment_id).sort()).toEqual(freed.map((f) => f.fillerId).sort());
  const events = (await w.pg.query(`SELECT control_id, count(*)::int AS n FROM slot_event WHERE control_id = ANY ($1::text[]) GROUP BY control_id`, [freed.map((f) => f.controlId)])).rows;
  expect(events.filter((e) => e.n !== 1)).toEqual([]);
  expect(events).toHaveLength(freed.length);
  for (const s of slots) {
    expect(s.first_waves).toBeLessThanOrEqual(1);
    expect(s.live_waves).toBeLessThanOrEqual(1);
    if (s.live_waves === 0) expect(s).toMatchObject({ status: expect.not.stringMatching(/^(open|offering)$/), closed_reason: expect.any(String) });
  }
  expect((await w.pg.query(`SELECT patient_id FROM offer WHERE status = 'live' GROUP BY patient_id HAVING count(*) > 1`)).rows).toEqual([]);
  expect(await strandedSlots(w)).toEqual([]);
  return slots;
}

/**
 * A burst of first waves at RQM: `perTfc` slots of each of two specialties freed at once (SIU^S15
 * over MLLP, two streams), with patients enough to fill every wave. The second specialty's first
 * waves wait behind its batch lock, held here, so that `fault` strikes once some slots are offered
 * and before all are; the lock is let go after the fault. Returns the messages and how many slots
 * were offered when the fault struck.
 */
async function firstWaveBurst(tfcs: [string, string], seed: number, perTfc: number, fault: () => Promise<void>): Promise<{ freed: FreedSlotMessage[]; offeredAtFault: number }> {
  await uploadPatients('RQM', tfcs[0], seed, perTfc * WAVE);
  await uploadPatients('RQM', tfcs[1], seed + 500, perTfc * WAVE);
  const holder = new Client({ connectionString: w.db.url });
  await holder.connect();
  try {
    await holder.query('BEGIN');
    await holder.query(`SELECT pg_advisory_xact_lock($1, hashtext($2))`, [FIRST_WAVE_LOCK, `${tfcs[1]}/NEW`]);
    const sending = Promise.all(tfcs.map((tfc) => freeSlots('RQM', tfc, perTfc)));
    sending.catch(() => undefined); // awaited below; a failure meanwhile must not go unhandled
    const offered = async () => (await w.pg.query(`SELECT count(*)::int AS n FROM slot WHERE trust_ods = 'RQM' AND tfc = ANY ($1) AND match_round >= 1`, [tfcs])).rows[0].n as number;
    await until('the first batch of first waves', async () => (await offered()) > 0, 30_000, 5);
    await fault();
    const offeredAtFault = await offered();
    await holder.query('COMMIT');
    const freed = (await sending).flat();
    return { freed, offeredAtFault };
  } finally {
    await holder.end();
  }
}

describe('kill -9 of the slot exchange part-way through a burst of first-wave batches (RQM)', () => {
  it('after a restart every freed slot is offered once: one first wave each, no patient two live offers, nothing stranded', async () => {
    const PER_TFC = 30;
    const { freed, offeredAtFault } = await firstWaveBurst(['100', '101'], 1000, PER_TFC, async () => {
      await killHard(w, 'slot-exchange');
    });
    // The kill came part-way: some first waves made, the rest of the burst (and the adapter's
    // forwards of what it ACKed meanwhile) still to come.
    expect(offeredAtFault).toBeGreaterThan(0);
    expect(offeredAtFault).toBeLessThan(2 * PER_TFC);
    await startProcess(w, 'slot-exchange');
    const slots = await expectEveryFreedSlotEnded(freed);
    // Patients enough for every wave: every slot offered, none closed.
    expect(slots.filter((s) => s.status === 'offering')).toHaveLength(2 * PER_TFC);
  });
});

describe('kill -9 of a trust adapter between its AA and the forward to the exchange (RAS)', () => {
  let proxy: TcpProxy | undefined;
  afterAll(async () => {
    proxy?.cut(false);
    await proxy?.close();
  });

  it('every S15 it ACKed reaches the exchange exactly once after the exchange is back and the adapter restarted', async () => {
    proxy = await startTcpProxy(3000 + OFFSET);
    const viaProxy = { EXCHANGE_URL: `http://127.0.0.1:${proxy.port}` };
    await startProcess(w, 'trust-adapter-RAS', viaProxy);
    const SLOTS = 5;
    await uploadPatients('RAS', '120', 3000, SLOTS * WAVE);
    proxy.cut(true);
    const freed = await freeSlots('RAS', '120', SLOTS);
    // ACKed AA and stored; the forwards meet an exchange that is not there.
    await until('the forwards to meet the unreachable exchange', async () => proxy!.cuts >= SLOTS, 15_000, 20);
    expect(await slotsOf(freed)).toEqual([]);
    await killHard(w, 'trust-adapter-RAS');
    proxy.cut(false);
    await startProcess(w, 'trust-adapter-RAS', viaProxy);
    const slots = await expectEveryFreedSlotEnded(freed);
    expect(slots.filter((s) => s.status === 'offering')).toHaveLength(SLOTS);
    const forwarded = (await w.pg.query(
      `SELECT forwarded_at IS NOT NULL AS forwarded, forward_outcome FROM hl7_message WHERE trust_ods = 'RAS' AND control_id = ANY ($1::text[])`,
      [freed.map((f) => f.controlId)],
    )).rows;
    expect(forwarded).toEqual(freed.map(() => ({ forwarded: true, forward_outcome: 'slot-created' })));
  });
});

describe('Redis wiped (FLUSHDB) while first waves are being made (RQM)', () => {
  it('the queues are rebuilt from Postgres and every freed slot is offered once, nothing stranded', async () => {
    const PER_TFC = 10;
    const tfcs: [string, string] = ['110', '130'];
    const { freed, offeredAtFault } = await firstWaveBurst(tfcs, 4000, PER_TFC, async () => {
      // Once every slot is at the exchange and its jobs are in Redis (cut-offs days away, the
      // first specialty's wave expiries), so that only the rebuild can bring them back.
      await until('every slot of the burst at the exchange, its jobs in Redis', async () => {
        const [r] = (await w.pg.query(
          `SELECT (SELECT count(*)::int FROM slot WHERE trust_ods = 'RQM' AND tfc = ANY ($1)) AS slots,
                  (SELECT count(*)::int FROM outbox WHERE published_at IS NULL) AS unpublished`, [tfcs],
        )).rows;
        return r.slots === 2 * PER_TFC && r.unpublished === 0;
      }, 30_000, 20);
      const redis = new IORedis(w.redisUrl);
      try {
        await redis.flushdb();
      } finally {
        redis.disconnect();
      }
    });
    expect(offeredAtFault).toBeGreaterThan(0);
    expect(offeredAtFault).toBeLessThan(2 * PER_TFC);
    // A relay notices within its sweep and publishes every kept row again (queue-rebuild.ts); the
    // end check then finds every wave's expiry and every slot's cut-off in Redis again.
    await until('a relay to rebuild the queues', async () => w.logs.some((l) => /Redis had lost its queues/.test(l))
      && (await w.pg.query(`SELECT 1 FROM outbox WHERE published_at IS NULL`)).rowCount === 0, 15_000, 100);
    const slots = await expectEveryFreedSlotEnded(freed);
    expect(slots.filter((s) => s.status === 'offering')).toHaveLength(2 * PER_TFC);
  });
});

/**
 * Last in the file: the exchange it restarts has the sweep's grace shortened, which the scenarios
 * above must do without.
 */
describe('kill -9 of the slot exchange mid-matching, its job then failed for good by BullMQ (RQM)', () => {
  it("the restarted exchange's matching sweep orders the stranded slot's match again: offered once, nothing stranded", async () => {
    const tfc = '300';
    await uploadPatients('RQM', tfc, 6000, WAVE);
    const lockHolder = new Client({ connectionString: w.db.url });
    const rowHolder = new Client({ connectionString: w.db.url });
    const connection = new IORedis(w.redisUrl, { maxRetriesPerRequest: 1 });
    const queue = new Queue(QueueName.slotMatching, { connection });
    try {
      await lockHolder.connect();
      await rowHolder.connect();
      // The specialty's first-wave lock held, the slot's first match can do nothing until the
      // slot's row is held too; then it takes the lock and waits on the row: mid-matching.
      await lockHolder.query('BEGIN');
      await lockHolder.query(`SELECT pg_advisory_xact_lock($1, hashtext($2))`, [FIRST_WAVE_LOCK, `${tfc}/NEW`]);
      const [freed] = await freeSlots('RQM', tfc, 1);
      const slotId: string = await until('the slot at the exchange', async () =>
        (await w.pg.query(`SELECT id FROM slot WHERE filler_appointment_id = $1`, [freed.fillerId])).rows[0]?.id, 15_000, 20);
      await rowHolder.query('BEGIN');
      await rowHolder.query(`SELECT 1 FROM slot WHERE id = $1 FOR UPDATE`, [slotId]);
      const rowHolderPid: number = (await rowHolder.query(`SELECT pg_backend_pid() AS pid`)).rows[0].pid;
      await lockHolder.query('COMMIT');
      const job = `match-${slotId}-1`;
      await until('the first match to wait on the slot\'s row, its job active', async () =>
        (await w.pg.query(`SELECT 1 FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))`, [rowHolderPid])).rowCount! > 0
          && (await queue.getJobState(job)) === 'active', 15_000, 20);
      // Three exchanges crashed under this job before (BullMQ's stall counter, as they would have
      // left it: maxStalledCount 3), so this kill is one too many: BullMQ fails it for good once a
      // worker finds it stalled, and only the matching sweep can order it again. (Four real kills
      // prove the same BullMQ rule at four times the wait.)
      await connection.hset(queue.toKey(job), 'stc', 3);
      await killHard(w, 'slot-exchange');
      await rowHolder.query('COMMIT');
      expect((await w.pg.query(`SELECT status, match_round FROM slot WHERE id = $1`, [slotId])).rows[0]).toEqual({ status: 'open', match_round: 0 });

      const since = w.logs.length;
      await startProcess(w, 'slot-exchange', { MATCHING_SWEEP_GRACE_MS: '1000' });
      // Offered within the wait, well before the production grace of two minutes since its release
      // would let any sweep touch it: the shortened grace is what brings it back.
      const offered = async () => (await slotsOf([freed])).find((s) => s.live_waves === 1 && s.status === 'offering');
      await until('the stranded slot offered again', offered, 50_000, 250);
      const redrives = w.logs.slice(since).filter((l) => /ordered \d+ match-slot job\(s\) again/.test(l));
      expect(redrives.length).toBeGreaterThan(0);
      // Stranded as meant: BullMQ gave the job up for good before the sweep ordered it again.
      expect(w.logs.slice(since).filter((l) => l.includes(`job ${QueueName.slotMatching}/${job} failed`) && /stalled more than allowable limit/.test(l))).toHaveLength(1);
      await expectEveryFreedSlotEnded([freed]);
    } finally {
      await lockHolder.end().catch(() => undefined);
      await rowHolder.end().catch(() => undefined);
      await queue.close();
      connection.disconnect();
    }
  }, 120_000);
});
