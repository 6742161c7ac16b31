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
 *   order across slots (as SMS replies arrive), in `process-replies` jobs of REPLY_GROUP answers
 *   as the notifier enqueues them, each job delivered twice (the second copies shuffled in too);
 *   the phase ends when every answer has its outcome.
 * - The figure is the sum of the two phases; the bench's own work between them (reading the offers,
 *   writing the answers) is not counted. Start-up is not counted.
 * - Warm-up (`warmUpSlots`, the benchmark's default; the test's first case runs without): before
 *   the clock, untimed, the same two steps on the clinics the burst does not use, with patients of
 *   their own, in two rounds or more, until every worker process has made first waves and claimed
 *   slots, then until no job waits and no outbox row is unsent. A process that has never run a job
 *   pays V8's parsing and compiling of that code (and its own pg / BullMQ paths) on its first jobs;
 *   that is start-up, and counting it charged a 2 + 2 run twice what it charged a 1 + 1 run. So does a
 *   Postgres connection that has never run a first-wave batch or a claim: its backend grows its
 *   memory as it first runs them (page faults, ~13 µs each on a virtualised machine) and fills its
 *   caches. The burst runs as many batches at once as there are lines, up to every process's
 *   concurrency, so the warm-up must too: on as many lines as the burst (when the clinics allow)
 *   and, by default, as many slots. Warmed by one round on 4 lines (before stop 23), a 2 + 2
 *   matching phase cost Postgres about twice a 1 + 1's page faults (~12,000 against ~6,000); by
 *   two rounds on 16 lines, ~1,500 against ~1,000. The burst's own figures (jobs per process,
 *   outcomes, bookings) leave the warm-up out.
 * - What explains a result is reported with it: CPU of each Node process, of Postgres and of
 *   Redis in each phase, and the machine's idle share in each. BENCH_DETAIL=1 prints when each
 *   batch of first waves began.
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
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { repoRootDir } from '../tools/stack/processes';
import { enableStatements, resetStatements, StatementTime, topStatements } from './statements';
import { TcpProxy, startTcpProxy } from '../tools/stack/tcp-proxy';

/**
 * Replies per `process-replies` job: the notifier stores the callbacks that arrive while its
 * previous commit is in flight together, under one job (1 to ~60 a group in the acceptance storm).
 */
const REPLY_GROUP = 10;

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
  /**
   * Slots of an untimed warm-up burst (other clinics, patients of their own) that every worker
   * process must have worked on before the clock starts, matching and booking alike; 0: none.
   * See `warmUp`.
   */
  warmUpSlots?: number;
  /**
   * A round trip's cost from every app process to Postgres and to Redis, in ms (a delaying TCP
   * proxy, tools/stack/tcp-proxy.ts); 0 or absent: loopback. The bench's own reads go direct.
   */
  networkDelayMs?: number;
  log?: (line: string) => void;
  /** Called as each timed phase starts and ends ("scale-out 2x2: matching" … "booked"): the profile hook's PROF_START_ON / PROF_STOP_ON. */
  mark?: (line: string) => void;
  /** Record each timed phase's statement times (pg_stat_statements, bench/statements.ts) in `statements`. */
  statements?: boolean;
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
  /** Context switches of each process during the two timed phases (its event loop's wake-ups, and its preemptions). */
  switchesByProcess: Record<string, number>;
  /** CPU of all Postgres and all redis-server processes in each timed phase (matching, booking), in ms (whoever else used them meanwhile included). */
  serviceCpuMs: { postgres: [number, number]; redis: [number, number] };
  /** Minor page faults of all Postgres processes in each timed phase (matching, booking): what its backends paid to run statements they had not run before. */
  postgresMinorFaults: [number, number];
  /** Share of the machine's CPU left idle during the two timed phases, in % (whatever else was running). */
  machineIdlePct: number;
  /** The same for each phase: matching, booking. */
  machineIdlePctByPhase: [number, number];
  /** Offers made in the first waves (the YES answers of the booking burst). */
  offers: number;
  /** Invariant checks, read from Postgres at the end. */
  slotsWithMoreThanOneBooking: number;
  slotsWithMoreThanOneFirstWave: number;
  patientsWithTwoLiveOffers: number;
  bookings: number;
  replyOutcomes: Record<string, number>;
  /** Warm-up rounds run, and worker processes still without a first wave made or a slot claimed after them (0 when warmed). */
  warmUpRounds: number;
  coldProcesses: number;
  /** Clinics (specialty lines) the warm-up ran on. */
  warmUpClinics: number;
  /** Connections the app processes made through the network stand-in to Postgres and to Redis (0, 0 on loopback). */
  networkConnections: [number, number];
  /** How long the stand-in really held what the app processes sent during the timed phases, p50 and p99 in ms (timers fire late on a busy machine); null on loopback. */
  heldMs: { p50: number; p99: number } | null;
  /** CPU this (the bench's) process used during the timed phases, in ms: its polling, and the stand-in's forwarding. */
  benchCpuMs: number;
  /** With `statements`: the statements that took most database time in each timed phase. */
  statements?: { matching: StatementTime[]; booking: StatementTime[] };
}

const WAVE_SIZE = 3;
/** At most this many warm-up rounds (each with patients of its own). */
const WARM_UP_ROUNDS = 3;
/**
 * At least this many: a pool opens connections as the first round needs them, and one opened late
 * in it ran little. In the second, every connection the burst will use runs its statements (a
 * 2 + 2 matching phase's Postgres page faults: ~3,000 after one round, ~1,500 after two; 1 + 1's
 * ~1,000 either way).
 */
const MIN_WARM_UP_ROUNDS = 2;
/**
 * Clinics the burst's slots are spread over, in this order: each is one specialty line (treatment
 * function and appointment type), whose first waves are made under a lock of their own, named as
 * in the sandbox config of RQM (`<tfc>-NEW`, `<tfc>-FUP`). The first ten treatment functions are
 * that config's; six more give the warm-up as many lines as the default burst's 16 (the exchange
 * takes a slot's line from its event: the clinic map is the adapter's, which the bench bypasses).
 */
const CLINICS = ['330', '100', '101', '120', '130', '300', '301', '320', '110', '502', '140', '160', '303', '340', '400', '410'].flatMap((tfc) => [`${tfc}-NEW`, `${tfc}-FUP`])
  .sort((a, b) => Number(a.endsWith('FUP')) - Number(b.endsWith('FUP')));
/** A clinic's treatment function and appointment type. */
const lineOf = (clinic: string) => ({ tfc: clinic.slice(0, 3), appointmentType: clinic.slice(4) as 'NEW' | 'FUP' });
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
  const f = statFields(pid);
  return f ? (Number(f[11]) + Number(f[12])) * 10 : 0;
}

/**
 * The fields of /proc/<pid>/stat after the command name (whose parentheses may hold spaces), so
 * `[0]` is the state; null when the process is gone or there is no /proc.
 */
function statFields(pid: number | undefined): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Context switches of one process so far, voluntary (each wait for I/O: an event-loop wake-up) and not (Linux /proc; 0 elsewhere). */
function switches(pid: number | undefined): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return [...status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
  } catch {
    return 0;
  }
}

/** User + system CPU so far of every process with this command name (`postgres`, `redis-server`), in ms (Linux /proc). */
function cpuMsNamed(comm: string): number {
  return sumNamed(comm, cpuMs);
}

/**
 * Minor page faults of one process so far (Linux /proc; 0 elsewhere): a fresh Postgres backend
 * faults in memory as it first runs a statement, at ~13 µs a fault on a virtualised machine.
 */
function minorFaults(pid: number): number {
  return Number(statFields(pid)?.[7] ?? 0);
}

/** `of` summed over every process whose command is `comm` (Linux /proc; 0 elsewhere). */
function sumNamed(comm: string, of: (pid: number) => number): number {
  let total = 0;
  try {
    for (const p of readdirSync('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      try {
        const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
        if (stat.includes(`(${comm})`)) total += of(Number(p));
      } catch { /* gone */ }
    }
  } catch { /* no /proc */ }
  return total;
}

/** Postgres's and Redis's CPU so far (ms), and Postgres's minor page faults: read as each timed phase starts and ends. */
function servicesNow(): { pg: number; redis: number; pgFaults: number } {
  return { pg: cpuMsNamed('postgres'), redis: cpuMsNamed('redis-server'), pgFaults: sumNamed('postgres', minorFaults) };
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
/** The same, over the series carrying this label (`outcome="done"`). */
const sumWhere = (text: string, metric: string, label: string) =>
  [...text.matchAll(new RegExp(`^${metric}\\{([^}]*)\\} (\\d+)$`, 'gm'))].filter((m) => m[1].includes(label)).reduce((s, m) => s + Number(m[2]), 0);

/** `url` with its host and port those of `proxy`. */
function through(url: string, proxy: TcpProxy): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(proxy.port);
  return u.toString();
}

export async function runScaleOutBurst(o: ScaleOutOptions): Promise<ScaleOutResult> {
  const root = repoRootDir();
  const log = o.log ?? (() => undefined);
  const children: Array<{ name: string; port: number; child: ChildProcess }> = [];
  const proxies: TcpProxy[] = [];
  let appDatabaseUrl = o.databaseUrl;
  let appRedisUrl = o.redisUrl;
  if ((o.networkDelayMs ?? 0) > 0) {
    for (const url of [o.databaseUrl, o.redisUrl]) {
      const u = new URL(url);
      proxies.push(await startTcpProxy(Number(u.port || (u.protocol.startsWith('redis') ? 6379 : 5432)), { upstreamHost: u.hostname, delayMs: o.networkDelayMs }));
    }
    appDatabaseUrl = through(o.databaseUrl, proxies[0]);
    appRedisUrl = through(o.redisUrl, proxies[1]);
  }
  const start = (name: string, app: string, port: number, env: Record<string, string>) => {
    const child = spawn(process.execPath, [join(root, 'dist', 'apps', app, 'src', 'main.js')], {
      cwd: root,
      env: {
        ...process.env, NODE_ENV: 'development', DATABASE_URL: appDatabaseUrl, REDIS_URL: appRedisUrl, SERVICE_NAME: name, PORT: String(port),
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
    const specialties = CLINICS.slice(0, Math.max(1, Math.min(CLINICS.length, o.specialties ?? 1)));
    const warmSlots = o.warmUpSlots ?? 0;
    // The warm-up's clinics are the burst's others: its waves never take the burst's patients.
    const warmClinics = warmSlots > 0 ? CLINICS.filter((t) => !specialties.includes(t)) : [];
    if (warmSlots > 0 && warmClinics.length === 0) throw new Error('no clinic is left for the warm-up: use fewer specialties');
    // Twice the patients the first waves need in each specialty, all eligible for its slots (the
    // warm-up's: for each of its rounds).
    const perSpecialty = Math.ceil(o.slots / specialties.length) * WAVE_SIZE * 2;
    const warmPerSpecialty = warmClinics.length > 0 ? Math.ceil(warmSlots / warmClinics.length) * WAVE_SIZE * 2 * WARM_UP_ROUNDS : 0;
    const numbers = syntheticNhsNumbers(500_000);
    const groups = [...specialties.map((clinic) => ({ clinic, n: perSpecialty })), ...warmClinics.map((clinic) => ({ clinic, n: warmPerSpecialty }))];
    let row = 0;
    const rows = groups.flatMap(({ clinic, n }) => Array.from({ length: n }, () => {
      const i = row++;
      return {
        rowNumber: i + 1, pathwayId: `PW-SCALE-${i}`, nhsNumber: numbers.next().value as string, birthDate: '1970-01-01', ...lineOf(clinic),
        rttStart: '2026-01-05', priority: 'P3', mobile: `+4477009${String(i).padStart(5, '0')}`, offerConsent: true, icsWideConsent: true,
        acceptableSites: ['ANY'], unavailable: [],
      };
    }));
    await call('/waiting-list', { mode: 'delta', rows });

    const base = Math.ceil((Date.now() + 72 * HOUR) / HOUR) * HOUR;
    const stamp = Date.now();
    /** `n` slots over these clinics, round robin, through the API; their filler ids start `F-<tag>-`. */
    const release = async (tag: string, clinics: string[], n: number) => {
      // Eight at a time, as adapters forward them (a few workers each), not one connection per slot.
      let next = 0;
      await Promise.all(Array.from({ length: 8 }, async () => {
        for (let i = next++; i < n; i = next++) {
          const clinic = clinics[i % clinics.length];
          await call('/events', {
            eventId: randomUUID(), kind: 'slot-released', controlId: `${tag}${i}`, siteOds: 'RQM01', clinicCode: clinic, ...lineOf(clinic),
            start: new Date(base + i * 20 * 60_000).toISOString(), durationMinutes: 20, fillerAppointmentId: `F-${tag}-${i}-${stamp}`,
          });
        }
      }));
    };
    const offering = async (tag: string) =>
      ((await pg.query(`SELECT count(*)::int AS n FROM slot WHERE status = 'offering' AND filler_appointment_id LIKE $1`, [`F-${tag}-%`])).rows[0] as { n: number }).n;
    /**
     * Every live offer of these slots answered YES, in one transaction left open for the caller to
     * commit: the answers in random order across slots, each answer's job twice (the second copies
     * shuffled in too). Returns the number of offers.
     */
    const answerAll = async (tag: string, replyPrefix: string): Promise<number> => {
      const offers = (await pg.query(
        `SELECT o.id, o.patient_id, o.code FROM offer o JOIN slot s ON s.id = o.slot_id WHERE o.status = 'live' AND s.filler_appointment_id LIKE $1`, [`F-${tag}-%`],
      )).rows as Array<{ id: string; patient_id: string; code: string }>;
      const tx = { query: (text: string, params?: unknown[]) => pg.query(text, params) } as unknown as Parameters<typeof enqueue>[0];
      await pg.query('BEGIN');
      const replies: string[] = [];
      for (const offer of shuffle([...offers])) {
        const [reply] = (await pg.query(
          `INSERT INTO patient_reply (channel, external_id, patient_id, intent, code) VALUES ('sms', $1, $2, 'yes', $3) RETURNING id`,
          [`${replyPrefix}-${offer.id}`, offer.patient_id, offer.code],
        )).rows;
        replies.push(reply.id);
      }
      // As the notifier enqueues them: one `process-replies` job per group of texts it stored together.
      const groups = Array.from({ length: Math.ceil(replies.length / REPLY_GROUP) }, (_, g) => replies.slice(g * REPLY_GROUP, (g + 1) * REPLY_GROUP));
      const deliveries = shuffle([...groups.map((ids) => ({ ids, again: false })), ...groups.map((ids) => ({ ids, again: true }))]);
      for (const d of deliveries) await enqueue(tx, 'process-replies', { replyIds: d.ids }, d.again ? { jobIdSuffix: 'again' } : {});
      return offers.length;
    };
    const unprocessed = async (replyPrefix: string) =>
      ((await pg.query(`SELECT count(*)::int AS n FROM patient_reply WHERE processed_at IS NULL AND external_id LIKE $1`, [`${replyPrefix}-%`])).rows[0] as { n: number }).n;

    const redis = new IORedis(o.redisUrl, { maxRetriesPerRequest: null });
    const matching = new Queue(QueueName.slotMatching, { connection: redis });
    const replyQueue = new Queue(QueueName.offerReplies, { connection: redis });
    const metrics = async (port: number) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const exchangePorts = Array.from({ length: o.exchangeWorkers }, (_, i) => api + 10 + i);
    const bookingPorts = Array.from({ length: o.bookingWorkers }, (_, i) => api + 20 + i);

    // The warm-up (untimed): rounds of the same two steps on the other clinics, at least
    // MIN_WARM_UP_ROUNDS and until every worker process has made first waves and claimed slots (so
    // has run, and had V8 compile, the code the burst runs), then until nothing is left in flight:
    // no job waiting and no outbox row unsent.
    let warmUpRounds = 0;
    let coldProcesses = 0;
    if (warmSlots > 0) {
      for (let round = 0; round < WARM_UP_ROUNDS; round++) {
        const tag = `WARM${round}`;
        warmUpRounds++;
        await release(tag, warmClinics, warmSlots);
        await until('every warm-up slot offered', async () => (await offering(tag)) === warmSlots, 120_000);
        await answerAll(tag, `warm${round}`);
        await pg.query('COMMIT');
        await until('every warm-up answer processed', async () => (await unprocessed(`warm${round}`)) === 0, 120_000);
        const done = await Promise.all(exchangePorts.map(async (p) => sumWhere(await metrics(p), 'matching_jobs_total', 'outcome="done"')));
        const claimed = await Promise.all(bookingPorts.map(async (p) => sumWhere(await metrics(p), 'patient_replies_total', 'outcome="claimed"')));
        coldProcesses = [...done, ...claimed].filter((n) => n === 0).length;
        if (coldProcesses === 0 && warmUpRounds >= MIN_WARM_UP_ROUNDS) break;
      }
      await until('the warm-up settled', async () => {
        const [m, r] = await Promise.all([matching.getJobCounts('wait', 'active', 'prioritized'), replyQueue.getJobCounts('wait', 'active', 'prioritized')]);
        const busy = [m, r].some((c) => (c.wait ?? 0) + (c.active ?? 0) + (c.prioritized ?? 0) > 0);
        const [x] = (await pg.query(`SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL AND run_at <= now()`)).rows;
        return !busy && x.n === 0;
      }, 60_000);
    }
    const countsBefore = {
      match: await Promise.all(exchangePorts.map(async (p) => sum(await metrics(p), 'matching_jobs_total'))),
      replies: await Promise.all(bookingPorts.map(async (p) => sum(await metrics(p), 'patient_replies_total'))),
    };

    // The matching burst: the slots are released with the matching queue paused, so that every
    // match job is waiting in Redis when the clock starts.
    const label = `${o.exchangeWorkers}x${o.bookingWorkers}`;
    await matching.pause();
    let t0 = 0;
    let machine1 = machineCpu();
    let matchMs = 0;
    const cpuAt0 = new Map<ChildProcess, number>();
    const switchesAt0 = new Map<ChildProcess, number>();
    let machine0 = machineCpu();
    let services0 = { pg: 0, redis: 0, pgFaults: 0 };
    let services1 = services0;
    let benchCpu0 = process.cpuUsage();
    let benchCpuMatchMs = 0;
    const held: number[] = [];
    let statementsMatching: StatementTime[] = [];
    if (o.statements) await enableStatements(pg);
    try {
      await release('SCALE', specialties, o.slots);
      await until('every match job queued', async () => {
        const c = await matching.getJobCounts('paused', 'wait');
        return (c.paused ?? 0) + (c.wait ?? 0) >= o.slots;
      }, 60_000);
      for (const p of proxies) p.takeDelays();
      benchCpu0 = process.cpuUsage();
      for (const c of children) cpuAt0.set(c.child, cpuMs(c.child.pid));
      for (const c of children) switchesAt0.set(c.child, switches(c.child.pid));
      if (o.statements) await resetStatements(pg);
      services0 = servicesNow();
      machine0 = machineCpu();
      o.mark?.(`scale-out ${label}: matching`);
      t0 = Date.now();
      await matching.resume();
      await until('every slot offered', async () => (await offering('SCALE')) === o.slots, 300_000);
      matchMs = Date.now() - t0;
      machine1 = machineCpu();
      const c = process.cpuUsage(benchCpu0);
      benchCpuMatchMs = Math.round((c.user + c.system) / 1000);
      for (const p of proxies) held.push(...p.takeDelays());
      // BENCH_DETAIL=1: when each batch of first waves began (its transaction's start) and ended, per specialty.
      if (process.env.BENCH_DETAIL) {
        const b = (await pg.query(
          `SELECT s.tfc, round((extract(epoch FROM w.created_at) * 1000)::numeric - $1::numeric)::int AS began, count(DISTINCT w.id)::int AS n
             FROM offer_wave w JOIN slot s ON s.id = w.slot_id JOIN offer o ON o.wave_id = w.id WHERE s.filler_appointment_id LIKE 'F-SCALE-%' AND w.round = 1 GROUP BY 1, 2 ORDER BY 2`,
          [t0],
        )).rows;
        for (const r of b) o.mark?.(`scale-out ${label}: batch ${r.tfc} began ${r.began} ms, ${r.n} waves`);
      }
      services1 = servicesNow();
      if (o.statements) statementsMatching = await topStatements(pg);
      o.mark?.(`scale-out ${label}: matched`);
    } finally {
      await matching.resume().catch(() => undefined);
      await matching.close();
      await replyQueue.close();
      await redis.quit().catch(() => undefined);
    }
    const cpuAfterMatch = new Map(children.map((c) => [c.child, cpuMs(c.child.pid)]));
    const switchesAfterMatch = new Map(children.map((c) => [c.child, switches(c.child.pid)]));

    // The booking burst: every offered patient says YES at once, in no particular order across
    // slots, and every answer's job arrives twice (the second copies shuffled in too).
    const offers = await answerAll('SCALE', 'scale');
    const cpuAt1 = new Map(children.map((c) => [c.child, cpuMs(c.child.pid)]));
    const switchesAt1 = new Map(children.map((c) => [c.child, switches(c.child.pid)]));
    const services2 = servicesNow();
    const machine2 = machineCpu();
    o.mark?.(`scale-out ${label}: booking`);
    for (const p of proxies) p.takeDelays();
    // After the answers' own inserts (the bench's, not the workers'): only the burst's statements count.
    if (o.statements) await resetStatements(pg);
    const benchCpu1 = process.cpuUsage();
    const t1 = Date.now();
    await pg.query('COMMIT');
    await until('every answer processed', async () => (await unprocessed('scale')) === 0, 300_000);
    const bookMs = Date.now() - t1;
    const benchCpuBook = process.cpuUsage(benchCpu1);
    for (const p of proxies) held.push(...p.takeDelays());
    held.sort((a, b) => a - b);
    const at = (q: number) => Math.round(held[Math.min(held.length - 1, Math.floor(q * held.length))] * 100) / 100;
    const machine3 = machineCpu();
    const services3 = servicesNow();
    const statements = o.statements ? { matching: statementsMatching, booking: await topStatements(pg) } : undefined;
    o.mark?.(`scale-out ${label}: booked`);
    const busy = { idle: machine1.idle - machine0.idle + machine3.idle - machine2.idle, total: machine1.total - machine0.total + machine3.total - machine2.total };
    const machineIdlePct = busy.total > 0 ? Math.round((busy.idle / busy.total) * 100) : 0;
    const idlePct = (a: { idle: number; total: number }, b: { idle: number; total: number }) => (b.total > a.total ? Math.round(((b.idle - a.idle) / (b.total - a.total)) * 100) : 0);
    const machineIdlePctByPhase: [number, number] = [idlePct(machine0, machine1), idlePct(machine2, machine3)];
    const cpuMsByProcess = Object.fromEntries(children.map(({ name, child }) => [
      name, cpuMs(child.pid) - (cpuAt1.get(child) ?? 0) + (cpuAfterMatch.get(child) ?? 0) - (cpuAt0.get(child) ?? 0),
    ]));
    const switchesByProcess = Object.fromEntries(children.map(({ name, child }) => [
      name, switches(child.pid) - (switchesAt1.get(child) ?? 0) + (switchesAfterMatch.get(child) ?? 0) - (switchesAt0.get(child) ?? 0),
    ]));
    const phases = (k: 'pg' | 'redis' | 'pgFaults') => [services1[k] - services0[k], services3[k] - services2[k]] as [number, number];
    const serviceCpuMs = { postgres: phases('pg'), redis: phases('redis') };
    const postgresMinorFaults = phases('pgFaults');

    // The API process consumed nothing; a worker process serves no API route.
    const apiMatchJobs = sum(await metrics(api), 'matching_jobs_total');
    const workerApiStatus = (await fetch(`http://127.0.0.1:${api + 10}/v1/trusts/RQM/events`, { method: 'POST' })).status;
    // The burst's own (the warm-up's counted before it are taken off).
    const matchJobsByProcess = await Promise.all(exchangePorts.map(async (p, i) => sum(await metrics(p), 'matching_jobs_total') - countsBefore.match[i]));
    const repliesByProcess = await Promise.all(bookingPorts.map(async (p, i) => sum(await metrics(p), 'patient_replies_total') - countsBefore.replies[i]));
    const one = async (sql: string) => ((await pg.query(sql)).rows[0] as { n: number }).n;
    const outcomes = (await pg.query(`SELECT outcome, count(*)::int AS n FROM patient_reply WHERE external_id LIKE 'scale-%' GROUP BY 1`)).rows as Array<{ outcome: string; n: number }>;
    return {
      apiMatchJobs,
      workerApiStatus,
      startupMs,
      matchMs,
      bookMs,
      matchJobsByProcess,
      repliesByProcess,
      cpuMsByProcess,
      switchesByProcess,
      serviceCpuMs,
      postgresMinorFaults,
      machineIdlePct,
      machineIdlePctByPhase,
      offers,
      slotsWithMoreThanOneBooking: await one(`SELECT count(*)::int AS n FROM (SELECT slot_id FROM booking WHERE status <> 'failed' GROUP BY 1 HAVING count(*) > 1) x`),
      slotsWithMoreThanOneFirstWave: await one(`SELECT count(*)::int AS n FROM (SELECT slot_id FROM offer_wave WHERE round = 1 GROUP BY 1 HAVING count(*) > 1) x`),
      patientsWithTwoLiveOffers: await one(`SELECT count(*)::int AS n FROM (SELECT patient_id FROM offer WHERE status = 'live' GROUP BY 1 HAVING count(*) > 1) x`),
      bookings: await one(`SELECT count(*)::int AS n FROM booking b JOIN slot s ON s.id = b.slot_id WHERE s.filler_appointment_id LIKE 'F-SCALE-%'`),
      warmUpRounds,
      warmUpClinics: warmClinics.length,
      coldProcesses,
      networkConnections: [proxies[0]?.accepted ?? 0, proxies[1]?.accepted ?? 0],
      heldMs: held.length > 0 ? { p50: at(0.5), p99: at(0.99) } : null,
      benchCpuMs: benchCpuMatchMs + Math.round((benchCpuBook.user + benchCpuBook.system) / 1000),
      replyOutcomes: Object.fromEntries(outcomes.map((r) => [r.outcome, r.n])),
      statements,
    };
  } finally {
    await pg.end().catch(() => undefined);
    await Promise.all(children.map(({ child }) => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    })));
    await Promise.all(proxies.map((p) => p.close()));
  }
}
