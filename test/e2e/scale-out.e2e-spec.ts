/**
 * Scale-out on one machine: two exchange worker processes and two booking worker processes
 * (PROCESS_ROLE=worker, beside one API process) on the same Postgres and Redis handle a burst —
 * a clinic's worth of slots released at once, then every offered patient answering YES at the same
 * moment with every answer's job delivered twice — with no slot matched twice, no patient holding
 * two live offers, no slot booked twice, and both processes of each kind doing part of the work.
 * How much faster than one process of each it is, is measured by the benchmark
 * `scaleout_burst_speedup` (timing in a test on a shared machine would be noise).
 */
import { createTestDatabase, TestDatabase } from '@app/persistence';
import { runScaleOutBurst } from '../../bench/scale-out';
import { emptyRedis, redisUrlForDb } from '../../tools/stack/fresh-stack';

jest.setTimeout(240_000);

const REDIS_DB = 8;
let db: TestDatabase;
let redisUrl: string;

beforeAll(async () => {
  db = await createTestDatabase('sx_scale');
  redisUrl = redisUrlForDb(REDIS_DB);
  await emptyRedis(redisUrl);
});

afterAll(async () => {
  await db?.drop();
});

it('two exchange workers and two booking workers share a burst and never match or book a slot twice', async () => {
  const slots = 30;
  const result = await runScaleOutBurst({ databaseUrl: db.url, redisUrl, portOffset: 16500, exchangeWorkers: 2, bookingWorkers: 2, slots, log: (l) => process.env.SCALE_LOG && console.log(l) });
  if (process.env.SCALE_LOG) console.log(JSON.stringify(result));
  expect(result.slotsWithMoreThanOneFirstWave).toBe(0);
  expect(result.patientsWithTwoLiveOffers).toBe(0);
  expect(result.slotsWithMoreThanOneBooking).toBe(0);
  // Every slot booked exactly once; every other YES told the slot has gone.
  expect(result.bookings).toBe(slots);
  expect(result.replyOutcomes).toEqual({ claimed: slots, 'too-late': slots * 2 });
  // PROCESS_ROLE keeps API and workers apart: the API process matched nothing, a worker serves no API.
  expect(result.apiMatchJobs).toBe(0);
  expect(result.workerApiStatus).toBe(404);
  expect(result.networkConnections).toEqual([0, 0]);
  expect(result.heldMs).toBeNull();
  // Both processes of each kind took part.
  for (const n of [...result.matchJobsByProcess, ...result.repliesByProcess]) expect(n).toBeGreaterThan(0);
  expect(result.matchJobsByProcess.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(slots);
  expect(result.repliesByProcess.reduce((a, b) => a + b, 0)).toBe(slots * 3);
});

it('the bench warm-up has every worker process make first waves and claim slots before the clock, in two rounds or more, and counts none of it in the burst; as the bench runs it, over a network round trip and follow-up clinics too', async () => {
  const db2 = await createTestDatabase('sx_scale_warm');
  await emptyRedis(redisUrl);
  try {
    const slots = 12;
    const result = await runScaleOutBurst({
      // 12 clinics, all new-patient ones; the other twenty (four new-patient, sixteen follow-up) warm up.
      databaseUrl: db2.url, redisUrl, portOffset: 16500, exchangeWorkers: 2, bookingWorkers: 2, slots, specialties: 12, warmUpSlots: 16, networkDelayMs: 1,
      log: (l) => process.env.SCALE_LOG && console.log(l),
    });
    // Every app process reached Postgres and Redis through the round trip's stand-in only.
    expect(result.networkConnections.every((n) => n >= 5)).toBe(true);
    // What it held is reported, and is at least the round trip asked for.
    expect(result.heldMs!.p50).toBeGreaterThanOrEqual(1);
    // At least two rounds, on every clinic the burst leaves: so every connection the burst uses has
    // run its statements before the clock (bench/scale-out.ts, MIN_WARM_UP_ROUNDS).
    expect(result.warmUpRounds).toBeGreaterThanOrEqual(2);
    expect(result.warmUpClinics).toBe(20);
    expect(result.coldProcesses).toBe(0);
    // The burst's figures are its own: the warm-up's bookings, answers and jobs are not in them.
    expect(result.bookings).toBe(slots);
    expect(result.offers).toBe(slots * 3);
    expect(result.replyOutcomes).toEqual({ claimed: slots, 'too-late': slots * 2 });
    expect(result.repliesByProcess.reduce((a, b) => a + b, 0)).toBe(slots * 3);
    expect(result.slotsWithMoreThanOneFirstWave).toBe(0);
    expect(result.patientsWithTwoLiveOffers).toBe(0);
    expect(result.slotsWithMoreThanOneBooking).toBe(0);
  } finally {
    await db2.drop();
  }
});
