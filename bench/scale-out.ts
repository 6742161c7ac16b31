/**
 * A burst on a scaled-out ICS, on one machine: one exchange API process (PROCESS_ROLE=api), N
 * exchange worker processes and M booking worker processes (PROCESS_ROLE=worker), all on the same
 * Postgres and Redis, as the Kubernetes manifests run them. Used by the scale-out test (behaviour:
 * nothing matched or booked twice, every process took part) and by the benchmark (time with 1+1
 * workers against 2+2).
 *
 * The burst, and what is timed (the rules are the same for every worker count):
 * - Seeded first, untimed: a waiting list with twice the patients the first waves need, in each of
 *   the burst's specialties (so a wave never runs short because concurrent waves took its
 *   candidates, and the later slots are not judged on leftovers).
 * - Matching: the slots (spread over `specialties` clinics of one trust, as a day's cancellations
 *   are) are released through the API while the matching queue is paused, so every match job is
 *   waiting when the clock starts; the queue is resumed and the phase ends when every slot holds
 *   its first wave. This times the workers, not the single API process's intake.
 * - Booking: every offered patient says YES in one committed transaction, the answers in random
 *   order across slots (as SMS replies arrive) and each answer's job delivered twice (the second
 *   copies shuffled in too); the phase ends when every answer has its outcome.
 * - The figure is the sum of the two phases; the bench's own work between them (reading the offers,
 *   writing the answers) is not counted. Start-up is not counted.
 * - Each worker process runs its configured job concurrency (the same in every process, as in
 *   production): two processes of a kind have twice the jobs in flight of one.
 */
import { syntheticNhsNumbers } from '@app/domain';
import { enqueue } from '@app/persistence';
import { QueueName } from '@app/contracts';
import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import { ChildProcess, spawn } from 'node:child_process';
import { randomInt, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { repoRootDir } from '../tools/stack/processes';

export interface ScaleOutOptions {
  databaseUrl: string;
  redisUrl: string;
  /** Shifts every port, as PORT_OFFSET does. */
  portOffset: number;
  exchangeWorkers: number;
  bookingWorkers: number;
  slots: number;
  /** Clinics (specialties) the slots are spread over, round robin; default 1. */
  specialties?: number;
  log?: (line: string) => void;
}

export interface ScaleOutResult {
  /** Match jobs the API-only process ran (0), and what a worker process answers on an API route (404). */
  apiMatchJobs: number;
  workerApiStatus: number;
  /** Until every process answered /health/ready. */
  startupMs: number;
  /** From the paused match jobs' release to every slot holding its first wave. */
  matchMs: number;
  /** From the YES answers' commit to every answer processed. */
  bookMs: number;
  /** Match jobs done by each exchange worker process, answers by each booking worker process. */
  matchJobsByProcess: number[];
  repliesByProcess: number[];
  /** CPU time (user + system, from /proc) each process spent during the two timed phases: API, exchange workers, booking workers. */
  cpuMsByProcess: Record<string, number>;
  /** Share of the machine's CPU left idle during the two timed phases, in % (whatever else was running). */
  machineIdlePct: number;
  /** Offers made in the first waves (the YES answers of the booking burst). */
  offers: number;
  /** Invariant checks, read from Postgres at the end. */
  slotsWithMoreThanOneBooking: number;
  slotsWithMoreThanOneFirstWave: number;
  patientsWithTwoLiveOffers: number;
  bookings: number;
  replyOutcomes: Record<string, number>;
}

const WAVE_SIZE = 3;
/** Specialties the burst's slots are spread over, in this order (each has a clinic `<tfc>-NEW` in the sandbox config). */
const TFCS = ['330', '100', '101', '120', '130', '300', '301', '320'];
const HOUR = 3_600_000;
const TOKEN = 'dev-exchange-RQM-token';


async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** User + system CPU of one process so far, in ms (Linux /proc; 0 elsewhere). */
function cpuMs(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
}

/** Idle and total jiffies of the whole machine so far (Linux /proc/stat; zeros elsewhere). */
function machineCpu(): { idle: number; total: number } {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { idle: f[3] + (f[4] ?? 0), total: f.reduce((a, b) => a + b, 0) };
  } catch {
    return { idle: 0, total: 0 };
  }
}

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = randomInt(0, i + 1);
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

const sum = (text: string, metric: string) =>
  [...text.matchAll(new RegExp(`^${metric}\\{[^}]*\\} (\\d+)$`, 'gm'))].reduce((s, m) => s + Number(m[1]), 0);

export async function runScaleOutBurst(o: ScaleOutOptions): Promise<ScaleOutResult> {
  const root = repoRootDir();
  const log = o.log ?? (() => undefined);
  const children: Array<{ name: string; port: number; child: ChildProcess }> = [];
  const start = (name: string, app: string, port: number, env: Record<string, string>) => {
    const child = spawn(process.execPath, [join(root, 'dist', 'apps', app, 'src', 'main.js')], {
      cwd: root,
      env: {
        ...process.env, NODE_ENV: 'development', DATABASE_URL: o.databaseUrl, REDIS_URL: o.redisUrl, SERVICE_NAME: name, PORT: String(port),
        QUIET_HOURS: '', DEMO: '0', LOG_LEVEL: 'warn', WAVE_SIZE: String(WAVE_SIZE), OTEL_TRACES_EXPORTER: 'none', ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const s of [child.stdout, child.stderr]) s?.on('data', (b: Buffer) => log(`${name} | ${b.toString().trimEnd()}`));
    children.push({ name, port, child });
  };
  const api = 3000 + o.portOffset;
  start('slot-exchange', 'slot-exchange', api, { PROCESS_ROLE: 'api' });
  for (let i = 0; i < o.exchangeWorkers; i++) start(`slot-exchange-worker-${i}`, 'slot-exchange', api + 10 + i, { PROCESS_ROLE: 'worker' });
  for (let i = 0; i < o.bookingWorkers; i++) start(`booking-worker-${i}`, 'booking', api + 20 + i, { PROCESS_ROLE: 'worker' });
  const started = Date.now();
  const pg = new Client({ connectionString: o.databaseUrl });
  await pg.connect();
  try {
    for (const c of children) {
      await until(`${c.name} ready`, async () => {
        if (c.child.exitCode !== null) throw new Error(`${c.name} exited with code ${c.child.exitCode} before it was ready`);
        return (await fetch(`http://127.0.0.1:${c.port}/health/ready`).catch(() => undefined))?.ok;
      }, 120_000);
    }
    const call = async (path: string, body: unknown) => {
      const res = await fetch(`http://127.0.0.1:${api}/v1/trusts/RQM${path}`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      return res.json();
    };

    const startupMs = Date.now() - started;
    const specialties = TFCS.slice(0, Math.max(1, Math.min(TFCS.length, o.specialties ?? 1)));
    // Twice the patients the first waves need in each specialty, all eligible for its slots.
    const perSpecialty = Math.ceil(o.slots / specialties.length) * WAVE_SIZE * 2;
    const numbers = syntheticNhsNumbers(500_000);
    const rows = specialties.flatMap((tfc, k) => Array.from({ length: perSpecialty }, (_, j) => {
      const i = k * perSpecialty + j;
      return {
        rowNumber: i + 1, pathwayId: `PW-SCALE-${i}`, nhsNumber: numbers.next().value as string, birthDate: '1970-01-01', tfc, appointmentType: 'NEW',
        rttStart: '2026-01-05', priority: 'P3', mobile: `+4477009${String(i).padStart(5, '0')}`, offerConsent: true, icsWideConsent: true,
        acceptableSites: ['ANY'], unavailable: [],
      };
    }));
    await call('/waiting-list', { mode: 'delta', rows });

    // The matching burst: the slots are released with the matching queue paused, so that every
    // match job is waiting in Redis when the clock starts.
    const redis = new IORedis(o.redisUrl, { maxRetriesPerRequest: null });
    const matching = new Queue(QueueName.slotMatching, { connection: redis });
    await matching.pause();
    let t0 = 0;
    let machine1 = machineCpu();
    let matchMs = 0;
    const cpuAt0 = new Map<ChildProcess, number>();
    let machine0 = machineCpu();
    try {
      const base = Math.ceil((Date.now() + 72 * HOUR) / HOUR) * HOUR;
      const stamp = Date.now();
      // Eight at a time, as adapters forward them (a few workers each), not one connection per slot.
      let next = 0;
      await Promise.all(Array.from({ length: 8 }, async () => {
        for (let i = next++; i < o.slots; i = next++) {
          const tfc = specialties[i % specialties.length];
          await call('/events', {
            eventId: randomUUID(), kind: 'slot-released', controlId: `SCALE${i}`, siteOds: 'RQM01', clinicCode: `${tfc}-NEW`, tfc, appointmentType: 'NEW',
            start: new Date(base + i * 20 * 60_000).toISOString(), durationMinutes: 20, fillerAppointmentId: `F-SCALE-${i}-${stamp}`,
          });
        }
      }));
      await until('every match job queued', async () => {
        const c = await matching.getJobCounts('paused', 'wait');
        return (c.paused ?? 0) + (c.wait ?? 0) >= o.slots;
      }, 60_000);
      for (const c of children) cpuAt0.set(c.child, cpuMs(c.child.pid));
      machine0 = machineCpu();
      t0 = Date.now();
      await matching.resume();
      await until('every slot offered', async () => {
        const [r] = (await pg.query(`SELECT count(*)::int AS n FROM slot WHERE status = 'offering'`)).rows;
        return r.n === o.slots;
      }, 300_000);
      matchMs = Date.now() - t0;
      machine1 = machineCpu();
    } finally {
      await matching.resume().catch(() => undefined);
      await matching.close();
      await redis.quit().catch(() => undefined);
    }
    const cpuAfterMatch = new Map(children.map((c) => [c.child, cpuMs(c.child.pid)]));

    // The booking burst: every offered patient says YES at once, in no particular order across
    // slots, and every answer's job arrives twice (the second copies shuffled in too).
    const offers = (await pg.query(`SELECT id, patient_id, code FROM offer WHERE status = 'live'`)).rows as Array<{ id: string; patient_id: string; code: string }>;
    const tx = { query: (text: string, params?: unknown[]) => pg.query(text, params) } as unknown as Parameters<typeof enqueue>[0];
    await pg.query('BEGIN');
    const replies: string[] = [];
    for (const offer of shuffle([...offers])) {
      const [reply] = (await pg.query(
        `INSERT INTO patient_reply (channel, external_id, patient_id, intent, code) VALUES ('sms', $1, $2, 'yes', $3) RETURNING id`,
        [`scale-${offer.id}`, offer.patient_id, offer.code],
      )).rows;
      replies.push(reply.id);
    }
    const deliveries = shuffle([...replies.map((id) => ({ id, again: false })), ...replies.map((id) => ({ id, again: true }))]);
    for (const d of deliveries) await enqueue(tx, 'process-reply', { replyId: d.id }, d.again ? { jobIdSuffix: 'again' } : {});
    const cpuAt1 = new Map(children.map((c) => [c.child, cpuMs(c.child.pid)]));
    const machine2 = machineCpu();
    const t1 = Date.now();
    await pg.query('COMMIT');
    await until('every answer processed', async () => {
      const [r] = (await pg.query(`SELECT count(*)::int AS n FROM patient_reply WHERE processed_at IS NULL`)).rows;
      return r.n === 0;
    }, 300_000);
    const bookMs = Date.now() - t1;
    const machine3 = machineCpu();
    const busy = { idle: machine1.idle - machine0.idle + machine3.idle - machine2.idle, total: machine1.total - machine0.total + machine3.total - machine2.total };
    const machineIdlePct = busy.total > 0 ? Math.round((busy.idle / busy.total) * 100) : 0;
    const cpuMsByProcess = Object.fromEntries(children.map(({ name, child }) => [
      name, cpuMs(child.pid) - (cpuAt1.get(child) ?? 0) + (cpuAfterMatch.get(child) ?? 0) - (cpuAt0.get(child) ?? 0),
    ]));

    const metrics = async (port: number) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    // The API process consumed nothing; a worker process serves no API route.
    const apiMatchJobs = sum(await metrics(api), 'matching_jobs_total');
    const workerApiStatus = (await fetch(`http://127.0.0.1:${api + 10}/v1/trusts/RQM/events`, { method: 'POST' })).status;
    const matchJobsByProcess: number[] = [];
    for (let i = 0; i < o.exchangeWorkers; i++) matchJobsByProcess.push(sum(await metrics(api + 10 + i), 'matching_jobs_total'));
    const repliesByProcess: number[] = [];
    for (let i = 0; i < o.bookingWorkers; i++) repliesByProcess.push(sum(await metrics(api + 20 + i), 'patient_replies_total'));
    const one = async (sql: string) => ((await pg.query(sql)).rows[0] as { n: number }).n;
    const outcomes = (await pg.query(`SELECT outcome, count(*)::int AS n FROM patient_reply GROUP BY 1`)).rows as Array<{ outcome: string; n: number }>;
    return {
      apiMatchJobs,
      workerApiStatus,
      startupMs,
      matchMs,
      bookMs,
      matchJobsByProcess,
      repliesByProcess,
      cpuMsByProcess,
      machineIdlePct,
      offers: offers.length,
      slotsWithMoreThanOneBooking: await one(`SELECT count(*)::int AS n FROM (SELECT slot_id FROM booking WHERE status <> 'failed' GROUP BY 1 HAVING count(*) > 1) x`),
      slotsWithMoreThanOneFirstWave: await one(`SELECT count(*)::int AS n FROM (SELECT slot_id FROM offer_wave WHERE round = 1 GROUP BY 1 HAVING count(*) > 1) x`),
      patientsWithTwoLiveOffers: await one(`SELECT count(*)::int AS n FROM (SELECT patient_id FROM offer WHERE status = 'live' GROUP BY 1 HAVING count(*) > 1) x`),
      bookings: await one(`SELECT count(*)::int AS n FROM booking`),
      replyOutcomes: Object.fromEntries(outcomes.map((r) => [r.outcome, r.n])),
    };
  } finally {
    await pg.end().catch(() => undefined);
    await Promise.all(children.map(({ child }) => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    })));
  }
}
