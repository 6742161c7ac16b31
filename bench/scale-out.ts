/**
 * A burst on a scaled-out ICS, on one machine: one exchange API process (PROCESS_ROLE=api), N
 * exchange worker processes and M booking worker processes (PROCESS_ROLE=worker), all on the same
 * Postgres and Redis, as the Kubernetes manifests run them. A whole clinic's worth of slots is
 * released at once (matching burst), then every patient offered a slot answers YES at the same
 * moment, and every answer's job is delivered twice (booking burst). Used by the scale-out test
 * (behaviour: nothing matched or booked twice, every process took part) and by the benchmark
 * (time with 1+1 workers against 2+2).
 */
import { enqueue } from '@app/persistence';
import { ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
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
  log?: (line: string) => void;
}

export interface ScaleOutResult {
  /** Match jobs the API-only process ran (0), and what a worker process answers on an API route (404). */
  apiMatchJobs: number;
  workerApiStatus: number;
  /** Until every process answered /health/ready. */
  startupMs: number;
  /** From the first release to every slot holding its first wave. */
  matchMs: number;
  /** From the YES answers' commit to every answer processed. */
  bookMs: number;
  /** Match jobs done by each exchange worker process, answers by each booking worker process. */
  matchJobsByProcess: number[];
  repliesByProcess: number[];
  /** Invariant checks, read from Postgres at the end. */
  slotsWithMoreThanOneBooking: number;
  slotsWithMoreThanOneFirstWave: number;
  patientsWithTwoLiveOffers: number;
  bookings: number;
  replyOutcomes: Record<string, number>;
}

const WAVE_SIZE = 3;
const HOUR = 3_600_000;
const TOKEN = 'dev-exchange-RQM-token';

function nhsNumber(seed: number): string {
  for (let n = seed; ; n++) {
    const d = [9, 9, 8, ...String(n).padStart(6, '0').split('').map(Number)];
    const check = 11 - (d.reduce((s, x, i) => s + x * (10 - i), 0) % 11);
    if (check === 10) continue;
    return d.join('') + (check === 11 ? 0 : check);
  }
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
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
    // Enough patients for every slot's first wave, all eligible for every slot.
    const patients = o.slots * WAVE_SIZE;
    const rows = Array.from({ length: patients }, (_, i) => ({
      rowNumber: i + 1, pathwayId: `PW-SCALE-${i}`, nhsNumber: nhsNumber(500000 + i * 3), birthDate: '1970-01-01', tfc: '330', appointmentType: 'NEW',
      rttStart: '2026-01-05', priority: 'P3', mobile: `+4477009${String(i).padStart(5, '0')}`, offerConsent: true, icsWideConsent: true,
      acceptableSites: ['ANY'], unavailable: [],
    }));
    await call('/waiting-list', { mode: 'delta', rows });

    // The matching burst: a whole clinic's slots at once.
    const base = Math.ceil((Date.now() + 72 * HOUR) / HOUR) * HOUR;
    const t0 = Date.now();
    // Eight at a time, as adapters forward them (a few workers each), not one connection per slot.
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let i = next++; i < o.slots; i = next++) {
        await call('/events', {
          eventId: randomUUID(), kind: 'slot-released', controlId: `SCALE${i}`, siteOds: 'RQM01', clinicCode: '330-NEW', tfc: '330', appointmentType: 'NEW',
          start: new Date(base + i * 20 * 60_000).toISOString(), durationMinutes: 20, fillerAppointmentId: `F-SCALE-${i}-${t0}`,
        });
      }
    }));
    await until('every slot offered', async () => {
      const [r] = (await pg.query(`SELECT count(*)::int AS n FROM slot WHERE status = 'offering'`)).rows;
      return r.n === o.slots;
    }, 120_000);
    const matchMs = Date.now() - t0;

    // The booking burst: every offered patient says YES at once, and every answer's job arrives twice.
    const offers = (await pg.query(`SELECT id, patient_id, code FROM offer WHERE status = 'live'`)).rows as Array<{ id: string; patient_id: string; code: string }>;
    const tx = { query: (text: string, params?: unknown[]) => pg.query(text, params) } as unknown as Parameters<typeof enqueue>[0];
    await pg.query('BEGIN');
    for (const offer of offers) {
      const [reply] = (await pg.query(
        `INSERT INTO patient_reply (channel, external_id, patient_id, intent, code) VALUES ('sms', $1, $2, 'yes', $3) RETURNING id`,
        [`scale-${offer.id}`, offer.patient_id, offer.code],
      )).rows;
      await enqueue(tx, 'process-reply', { replyId: reply.id });
      await enqueue(tx, 'process-reply', { replyId: reply.id }, { jobIdSuffix: 'again' });
    }
    const t1 = Date.now();
    await pg.query('COMMIT');
    await until('every answer processed', async () => {
      const [r] = (await pg.query(`SELECT count(*)::int AS n FROM patient_reply WHERE processed_at IS NULL`)).rows;
      return r.n === 0;
    }, 300_000);
    const bookMs = Date.now() - t1;

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
