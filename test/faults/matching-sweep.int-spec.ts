/**
 * The exchange's matching sweep restarts what BullMQ gave up on, and only that, on real Postgres
 * and Redis: a wave whose `expire-wave` failed for good through a database outage ends and the next
 * wave goes out; a slot past its cut-off whose `close-slot` is gone (its outbox row cleaned up, then
 * Redis lost) closes unfilled with its reason, though not while the close-slot ordered for a moved
 * cut-off is still retrying; a slot waiting for a later look is left alone while
 * that look is queued, and given one again (once) when it is gone, though not in quiet hours, when
 * a match would only defer itself. Retries are shortened
 * (fast-retries.ts) so a job fails for good in seconds.
 */
import { restoreRetries } from '../support/fast-retries';
import { QueueName, closeSlotSuffix } from '@app/contracts';
import { DEFAULT_POLICY, FixedClock, MatchingPolicy } from '@app/domain';
import { OutboxRelay } from '@app/persistence';
import { MetricsService, QueueService, SystemClock } from '@app/platform';
import { DataSource } from 'typeorm';
import { ExchangeConfig } from '../../apps/slot-exchange/src/config';
import { MatchingSweep } from '../../apps/slot-exchange/src/matching-sweep';
import { MatchingWorker } from '../../apps/slot-exchange/src/matching.worker';
import { SlotEventsService } from '../../apps/slot-exchange/src/slot-events.service';
import { WaitingListService } from '../../apps/slot-exchange/src/waiting-list.service';
import { HOUR, QueueWorld, nhs, startQueueWorld, stopQueueWorld, until } from './harness';

const policy: MatchingPolicy = { ...DEFAULT_POLICY, quietHours: null, waveSize: 1 };
const clock = new SystemClock();
const metrics = new MetricsService('test');
const config = Object.assign(new ExchangeConfig(), { OFFER_PAGE_BASE_URL: 'http://offers.test' });

let world: QueueWorld;
let ds: DataSource;
let queues: QueueService;
let relay: OutboxRelay;
let matcher: MatchingWorker;
let sweep: MatchingSweep;
let events: SlotEventsService;

beforeAll(async () => {
  world = await startQueueWorld('sx_matching_sweep', metrics);
  ({ ds, queues, relay } = world);
  matcher = new MatchingWorker(ds, clock, policy, world.ics, queues, metrics, config);
  // A second's grace instead of two minutes: the rows below are made overdue by minutes.
  sweep = new MatchingSweep(ds, clock, policy, queues, metrics, config, { graceMs: 1_000 });
  sweep.onModuleInit(); // its gauge
  events = new SlotEventsService(ds, clock, policy, world.ics, metrics);
});
afterAll(async () => {
  await stopQueueWorld(world);
  restoreRetries();
});

let seq = 0;
async function release(tfc: string): Promise<string> {
  seq++;
  const r = await events.handle('RQM', {
    eventId: `sweep-${seq}-${Date.now()}`, kind: 'slot-released', controlId: `SW${seq}`, siteOds: 'RQM01', clinicCode: `${tfc}-NEW`, tfc,
    appointmentType: 'NEW', start: new Date(Date.now() + 72 * HOUR).toISOString(), durationMinutes: 20, fillerAppointmentId: `F-SW-${seq}-${Date.now()}`,
  });
  if (!r.slotId) throw new Error(`slot not created: ${r.outcome}`);
  return r.slotId;
}

const slotRow = async (slotId: string) => (await ds.query(`SELECT status, closed_reason, match_round FROM slot WHERE id = $1`, [slotId]))[0];
const jobState = (id: string) => queues.queue(QueueName.slotMatching).getJobState(id);

describe('a Postgres failover while a wave was due to expire', () => {
  it('its expire-wave job failed for good: the sweep ends the wave and the next patient is offered the slot', async () => {
    await new WaitingListService(ds).applyBatch('RQM', { mode: 'delta', rows: ['P2', 'P3'].map((priority, k) => ({
      rowNumber: k + 1, pathwayId: `PW-SW-${k}`, nhsNumber: nhs(810_000 + k * 7), birthDate: '1970-01-01', tfc: '330', appointmentType: 'NEW' as const,
      rttStart: '2026-03-01', priority: priority as 'P2' | 'P3', mobile: `+4477009008${k}0`, offerConsent: true, icsWideConsent: false, acceptableSites: ['ANY'], unavailable: [],
    })) });
    const slotId = await release('330');
    await matcher.match({ slotId, round: 1 });
    const [first] = await ds.query(`SELECT w.id, o.patient_id FROM offer_wave w JOIN offer o ON o.wave_id = w.id WHERE w.slot_id = $1`, [slotId]);
    // The wave was due ten minutes ago, during the outage: its job ran then, and failed every attempt.
    await ds.query(`UPDATE offer_wave SET expires_at = now() - interval '10 minutes' WHERE id = $1`, [first.id]);
    await ds.query(`UPDATE offer SET expires_at = now() - interval '10 minutes' WHERE wave_id = $1`, [first.id]);
    await ds.query(`UPDATE outbox SET run_at = now() WHERE job_id = $1`, [`expire-${first.id}`]);
    const outage = queues.worker(QueueName.slotMatching, async () => {
      throw new Error('Connection terminated unexpectedly');
    })!;
    await relay.drain();
    await until('the expire-wave job to fail for good', async () => (await jobState(`expire-${first.id}`)) === 'failed', 20_000, 100);
    await outage.close();

    // Stuck: the wave is live past its end, so its patient counts as holding a live offer.
    const stuck = async () => (await ds.query(`SELECT status FROM offer_wave WHERE id = $1`, [first.id]))[0].status;
    expect(await stuck()).toBe('live');
    expect((await ds.query(`SELECT count(*)::int AS n FROM offer WHERE patient_id = $1 AND status = 'live'`, [first.patient_id]))[0].n).toBe(1);

    // What on-call sees meanwhile (read from Postgres).
    expect(await metrics.registry.getSingleMetricAsString('matching_overdue')).toMatch(/matching_overdue\{kind="expire-wave"[^}]*\} 1$/m);

    matcher.onApplicationBootstrap(); // the database is back; the matching worker runs again
    expect(await sweep.sweep()).toEqual({ 'expire-wave': 1, 'close-slot': 0, 'match-slot': 0 });
    const next = await until('the next wave', async () => {
      await relay.drain();
      const waves = await ds.query(
        `SELECT w.round, w.status, w.ended_reason, o.patient_id, o.status AS offer_status FROM offer_wave w JOIN offer o ON o.wave_id = w.id WHERE w.slot_id = $1 ORDER BY w.round`, [slotId]);
      return waves.length === 2 ? waves : undefined;
    }, 15_000, 100);
    expect(next[0]).toMatchObject({ round: 1, status: 'ended', ended_reason: 'time-to-live reached', patient_id: first.patient_id, offer_status: 'expired' });
    expect(next[1]).toMatchObject({ round: 2, status: 'live', offer_status: 'live' });
    expect(next[1].patient_id).not.toBe(first.patient_id);
    expect(await slotRow(slotId)).toMatchObject({ status: 'offering', match_round: 2 });

    // Nothing more is stuck: a second pass orders nothing.
    expect(await sweep.sweep()).toEqual({ 'expire-wave': 0, 'close-slot': 0, 'match-slot': 0 });
    expect(await metrics.registry.getSingleMetricAsString('matching_redrives_total')).toMatch(/matching_redrives_total\{kind="expire-wave"[^}]*\} 1$/m);
  });
});

describe('Redis lost a slot\'s cut-off job', () => {
  it('a slot past its cut-off with no close-slot anywhere (its outbox row cleaned up, Redis empty) is closed unfilled with its reason', async () => {
    const slotId = await release('502'); // nobody waits for 502: the slot stays open
    // Days ago: its rows were published and, a day later, cleaned up; then Redis came back empty.
    await ds.query(`DELETE FROM outbox WHERE payload->>'slotId' = $1`, [slotId]);
    await ds.query(
      `UPDATE slot SET match_round = 1, released_at = now() - interval '3 days', cutoff_at = now() - interval '10 minutes', start_at = now() + interval '23 hours 50 minutes' WHERE id = $1`,
      [slotId],
    );
    expect(await jobState(`close-${slotId}`)).toBe('unknown');

    expect(await sweep.sweep()).toEqual({ 'expire-wave': 0, 'close-slot': 1, 'match-slot': 0 });
    const closed = await until('the slot closed', async () => {
      await relay.drain();
      const s = await slotRow(slotId);
      return s.status === 'unfilled' ? s : undefined;
    }, 15_000, 100);
    expect(closed.closed_reason).toBe('cut-off reached before anyone accepted');
    expect(await sweep.sweep()).toEqual({ 'expire-wave': 0, 'close-slot': 0, 'match-slot': 0 });
  });
});

describe('a slot whose cut-off moved', () => {
  it('is not ordered a second close-slot while the one for its cut-off (`-at-`) is still retrying, and is once that job is gone', async () => {
    const slotId = await release('502');
    // Its close-slot ran before a lengthened cut-off (completed, row cleaned up) and ordered the
    // job for that cut-off, which is between attempts now, ten minutes past it.
    await ds.query(`DELETE FROM outbox WHERE payload->>'slotId' = $1`, [slotId]);
    const cutoff = new Date(Date.now() - 10 * 60_000);
    await ds.query(
      `UPDATE slot SET match_round = 1, released_at = now() - interval '3 days', cutoff_at = $2, start_at = now() + interval '23 hours 50 minutes' WHERE id = $1`,
      [slotId, cutoff],
    );
    const retrying = `close-${slotId}-${closeSlotSuffix(cutoff)}`;
    await queues.add(QueueName.slotMatching, 'close-slot', { slotId }, { jobId: retrying, delay: HOUR });
    expect(await jobState(retrying)).toBe('delayed');

    expect(await sweep.sweep()).toEqual({ 'expire-wave': 0, 'close-slot': 0, 'match-slot': 0 });
    expect(await ds.query(`SELECT job_id FROM outbox WHERE payload->>'slotId' = $1`, [slotId])).toEqual([]);

    // That job gone too (Redis lost it): ordered again, once.
    await queues.queue(QueueName.slotMatching).remove(retrying);
    expect(await sweep.sweep()).toEqual({ 'expire-wave': 0, 'close-slot': 1, 'match-slot': 0 });
    expect(await sweep.sweep()).toEqual({ 'expire-wave': 0, 'close-slot': 0, 'match-slot': 0 });
    await until('the slot closed', async () => {
      await relay.drain();
      return (await slotRow(slotId)).status === 'unfilled';
    }, 15_000, 100);
  });
});

describe('a slot waiting for its next look', () => {
  it('is left alone while its look is queued (in the outbox or in BullMQ), and given one again, once, when it is gone', async () => {
    const slotId = await release('502'); // nobody eligible: the match schedules a look in 15 minutes
    const look = `match-${slotId}-2`;
    await until('the first match and its later look', async () => {
      await relay.drain();
      return (await slotRow(slotId)).match_round === 1 && (await jobState(look)) === 'delayed';
    }, 15_000, 100);
    await ds.query(`UPDATE slot SET released_at = now() - interval '1 hour' WHERE id = $1`, [slotId]);
    const rows = async () => (await ds.query(`SELECT count(*)::int AS n FROM outbox WHERE payload->>'slotId' = $1`, [slotId]))[0].n;
    const before = await rows();

    // Its look is a future-dated outbox row: not re-driven, and Redis not even asked.
    expect(await sweep.sweep()).toEqual({ 'expire-wave': 0, 'close-slot': 0, 'match-slot': 0 });
    // Its row gone (cleaned up before this release kept future rows), the delayed job still counts.
    await ds.query(`DELETE FROM outbox WHERE job_id = $1`, [look]);
    expect(await sweep.sweep()).toEqual({ 'expire-wave': 0, 'close-slot': 0, 'match-slot': 0 });
    expect(await rows()).toBe(before - 1);

    // The job gone as well (Redis lost it): the look is ordered again, and only once.
    await queues.queue(QueueName.slotMatching).remove(look);
    expect(await sweep.sweep()).toEqual({ 'expire-wave': 0, 'close-slot': 0, 'match-slot': 1 });
    expect(await sweep.sweep()).toEqual({ 'expire-wave': 0, 'close-slot': 0, 'match-slot': 0 });
    await until('the look made again', async () => {
      await relay.drain();
      return (await slotRow(slotId)).match_round === 2;
    }, 15_000, 100);
    // It found nobody again and scheduled the next look, which the sweep leaves alone.
    expect(await jobState(`match-${slotId}-3`)).toBe('delayed');
    expect(await sweep.sweep()).toEqual({ 'expire-wave': 0, 'close-slot': 0, 'match-slot': 0 });
  });

  it('in quiet hours is left for their end, when a match can offer it, rather than ordered a match that would only defer itself', async () => {
    const slotId = await release('502');
    // Its first look found nobody, and the job for its next one was lost with Redis.
    await ds.query(`DELETE FROM outbox WHERE payload->>'slotId' = $1`, [slotId]);
    await ds.query(`UPDATE slot SET match_round = 1, released_at = now() - interval '1 hour' WHERE id = $1`, [slotId]);
    // Quiet hours from an hour ago to two hours from now (London), whatever time the test runs.
    const hour = Number(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/London', hour: '2-digit', hourCycle: 'h23' }).format(new Date()));
    const at = (h: number) => `${String((h + 24) % 24).padStart(2, '0')}:00`;
    const quiet: MatchingPolicy = { ...policy, quietHours: { start: at(hour - 1), end: at(hour + 2) } };
    const sweepAt = (ms: number) => new MatchingSweep(ds, new FixedClock(new Date(ms)), quiet, queues, metrics, config, { graceMs: 1_000 });

    expect(await sweepAt(Date.now()).sweep()).toEqual({ 'expire-wave': 0, 'close-slot': 0, 'match-slot': 0 });
    expect(await sweepAt(Date.now() + 4 * HOUR).sweep()).toEqual({ 'expire-wave': 0, 'close-slot': 0, 'match-slot': 1 });
    expect((await ds.query(`SELECT job_id FROM outbox WHERE payload->>'slotId' = $1`, [slotId])).map((r: { job_id: string }) => r.job_id)).toEqual([`match-${slotId}-2`]);
  });
});
