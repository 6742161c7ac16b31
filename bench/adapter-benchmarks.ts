/**
 * The trust adapter's benchmarks (issue "Trust adapter: a PAS edge that integration engineers can
 * trust"), on the built exchange and RQM adapter only, with a fresh database:
 * - `mllp_ack_per_s`: valid SIU messages ACKed per second by one adapter, each stored durably (and
 *   its forwarding job written) before its AA, from 4 concurrent MLLP senders;
 * - `ptl_250k_import_s` / `ptl_250k_peak_rss_mb`: a 250,000-row PTL snapshot streamed to
 *   `POST /v1/ptl` until the JSON answer, and the adapter process's peak resident memory meanwhile.
 */
import { syntheticNhsNumbers } from '@app/domain';
import { buildSiu, MllpClient, readAck } from '@app/hl7';
import { createTestDatabase } from '@app/persistence';
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import IORedis from 'ioredis';
import { Queue } from 'bullmq';
import { QueueName } from '@app/contracts';
import type { Benchmark, BenchResult } from './benchmarks';
import { startStack, Stack } from '../tools/stack/processes';

const HOUR = 3_600_000;
const SENDERS = 4;
const MESSAGES = 3_000;
const PTL_ROWS = 250_000;

/** RSS of one process in MB (from ps). */
function rssOf(pid: number): number {
  const out = execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).trim();
  return Math.round(Number(out || 0) / 1024);
}


async function withAdapter<T>(offset: number, redisDb: number, fn: (stack: Stack, redisUrl: string) => Promise<T>): Promise<T> {
  const db = await createTestDatabase('sx_bench_adapter');
  const redisUrl = `${(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379').replace(/\/\d+$/, '')}/${redisDb}`;
  const r = new IORedis(redisUrl);
  await r.flushdb();
  await r.quit();
  const stack = await startStack({
    databaseUrl: db.url, redisUrl, portOffset: offset, apps: ['slot-exchange', 'trust-adapter-RQM'],
    env: { DEMO: '0', QUIET_HOURS: '', LOG_LEVEL: 'warn' },
  });
  try {
    return await fn(stack, redisUrl);
  } finally {
    await stack.stop();
    await db.drop();
  }
}

/** Writes a valid 250,000-row snapshot to a file (generated as a stream too, so the bench itself stays small). */
async function writePtl(path: string): Promise<void> {
  const out = createWriteStream(path);
  out.write('PATIENT_PATHWAY_IDENTIFIER,NHS_NUMBER,PERSON_BIRTH_DATE,ACTIVITY_TREATMENT_FUNCTION_CODE,APPOINTMENT_TYPE,REFERRAL_TO_TREATMENT_PERIOD_START_DATE,Outpatient_Priority_Code,MOBILE_NUMBER,POSTCODE,OFFER_CONSENT,ICS_WIDE_CONSENT,ACCEPTABLE_SITES,Outpatient_Future_Appointment_Date,CURRENT_APPOINTMENT_ID\n');
  const tfcs = ['100', '101', '110', '120', '130', '300', '301', '320', '330', '502'];
  const priorities = ['P2', 'P3', 'P4'];
  const numbers = syntheticNhsNumbers();
  for (let i = 0; i < PTL_ROWS; i++) {
    const nhs = numbers.next().value as string;
    const line = `PW${i},${nhs},19${50 + (i % 50)}-0${1 + (i % 9)}-1${i % 10},${tfcs[i % 10]},${i % 3 ? 'NEW' : 'FUP'},2026-0${1 + (i % 9)}-0${1 + (i % 9)},${priorities[i % 3]},07700900${String(i % 1000).padStart(3, '0')},SW10 9NH,Y,${i % 2 ? 'Y' : 'N'},ANY,2027-0${1 + (i % 9)}-15T09:30:00Z,APPT${i}\n`;
    if (!out.write(line)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  out.end();
  await finished(out);
}

/** Waits until these queues have had no job waiting or running for two looks in a row (60 s at most). */
async function settled(queues: Queue[]): Promise<void> {
  const end = Date.now() + 60_000;
  let quiet = 0;
  while (quiet < 2) {
    if (Date.now() > end) throw new Error('the queues did not settle within 60 s');
    await new Promise((r) => setTimeout(r, 100));
    const counts = await Promise.all(queues.map((q) => q.getJobCounts('waiting', 'active', 'prioritized')));
    quiet = counts.every((c) => Object.values(c).every((n) => n === 0)) ? quiet + 1 : 0;
  }
}

export function adapterBenchmarks(offset: number, redisDb: number): Benchmark[] {
  return [
    {
      produces: ['mllp_ack_per_s', 'mllp_ack_per_s_forwarding'],
      async run(): Promise<BenchResult[]> {
        return withAdapter(offset, redisDb, async (stack, redisUrl) => {
          const port = stack.mllpPorts.RQM;
          const run = Date.now().toString(36);
          const message = (k: number) => buildSiu({
            event: 'S15', controlId: `BM${k}T${run}`, sendingFacility: 'RQM', fillerId: `BMF${k}-${run}`,
            start: new Date(Date.now() + (72 + (k % 500)) * HOUR), minutes: 20, clinic: '330-NEW', siteOds: 'RQM01', nhsNumber: '9990000018', now: new Date(),
          });
          const clients = Array.from({ length: SENDERS }, () => new MllpClient('127.0.0.1', port, { timeoutMs: 30_000 }));
          let refused = 0;
          // Built before the clock starts: the figure is the adapter's, not the cost of making test messages.
          const send = async (from: number, count: number) => {
            const messages = Array.from({ length: count }, (_, i) => message(from + i));
            const t0 = performance.now();
            await Promise.all(clients.map(async (c, s) => {
              for (let k = s; k < count; k += SENDERS) if (readAck(await c.send(messages[k]))?.code !== 'AA') refused++;
            }));
            return performance.now() - t0;
          };
          const timed = async (from: number) => {
            const ms = await send(from, MESSAGES);
            if (refused) throw new Error(`${refused} messages were not ACKed AA`);
            return Math.round(MESSAGES / (ms / 1000));
          };
          // Forwarding is paused as an operator would pause it (BullMQ pauses the trust's inbound
          // queue for every worker): the adapter still stores each message with its forwarding job
          // and its relay still moves the jobs to Redis, but the exchange applies none of them, so
          // the figure is the adapter's own and not the exchange's matching on the same 2 cores.
          const redis = new IORedis(redisUrl, { maxRetriesPerRequest: null });
          const inbound = new Queue(QueueName.trustInbound('RQM'), { connection: redis });
          const matching = new Queue(QueueName.slotMatching, { connection: redis });
          try {
            await send(0, 400); // warm-up: connections, JIT, connection pool, the exchange's first events
            // The exchange applies the warm-up's events (slot stored, matching run) before the clock
            // starts, so that it is idle as the figure says rather than busy on the same cores.
            await settled([inbound, matching]);
            await inbound.pause();
            // For bench/profile-hook.js (PROF_START_ON / PROF_STOP_ON); the monotonic clock (µs) is
            // the one CPU profiles' sample times count in, to pick out the measured part.
            console.log(`  mllp: sending (monotonic ${process.hrtime.bigint() / 1000n} µs)`);
            const alone = await timed(1_000_000);
            console.log(`  mllp: done (${alone}/s; monotonic ${process.hrtime.bigint() / 1000n} µs)`);
            await inbound.resume();
            // Then the same load while the backlog and these messages are forwarded to the exchange
            // and applied there (slot stored, matching run) on the same cores.
            const forwarding = await timed(2_000_000);
            const what = `${MESSAGES.toLocaleString('en-GB')} valid SIU^S15 from ${SENDERS} concurrent MLLP senders (one at a time each, waiting for the ACK) to one adapter; each stored durably (synchronous commit) with its forwarding job in Postgres before its AA`;
            return [
              {
                name: 'mllp_ack_per_s', value: alone, unit: 'msg/s', target: 2000, better: 'higher',
                conditions: `${what}; the adapter's relay moving the jobs to Redis meanwhile, forwarding paused (its BullMQ queue paused), the exchange process running but idle`,
              },
              {
                name: 'mllp_ack_per_s_forwarding', value: forwarding, unit: 'msg/s', target: null, better: 'higher',
                conditions: `${what}; forwarding live: the adapter's forward worker posting each event to the exchange, which stores the slot and runs matching (empty waiting list), all on the same cores`,
              },
            ];
          } finally {
            await inbound.close();
            await matching.close();
            await redis.quit();
            await Promise.all(clients.map((c) => c.close()));
          }
        });
      },
    },
    {
      produces: ['ptl_250k_import_s', 'ptl_250k_peak_rss_mb'],
      async run(): Promise<BenchResult[]> {
        const dir = mkdtempSync(join(tmpdir(), 'sx-ptl-'));
        const file = join(dir, 'ptl.csv');
        try {
          await writePtl(file);
          const mb = Math.round(statSync(file).size / 2 ** 20);
          return await withAdapter(offset, redisDb, async (stack) => {
            const pid = stack.processes.find((p) => p.name === 'trust-adapter-RQM')!.pid;
            const before = rssOf(pid);
            let peak = before;
            const sampler = setInterval(() => { peak = Math.max(peak, rssOf(pid)); }, 100);
            const t0 = performance.now();
            const res = await fetch(`${stack.urls['trust-adapter-RQM']}/v1/ptl`, {
              method: 'POST',
              headers: { 'content-type': 'text/csv', authorization: 'Bearer dev-RQM-token' },
              body: Readable.toWeb(createReadStream(file)) as unknown as ReadableStream,
              duplex: 'half',
            } as RequestInit);
            const body = (await res.json()) as { accepted: number; rejected: number };
            const seconds = (performance.now() - t0) / 1000;
            clearInterval(sampler);
            peak = Math.max(peak, rssOf(pid));
            if (res.status !== 200 || body.accepted !== PTL_ROWS) throw new Error(`PTL import answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
            const conditions = `${PTL_ROWS.toLocaleString('en-GB')}-row snapshot (${mb} MB CSV, all columns most trusts send) streamed to POST /v1/ptl on a fresh database`;
            return [
              { name: 'ptl_250k_import_s', value: Math.round(seconds * 10) / 10, unit: 's', target: 30, better: 'lower', conditions: `${conditions}, until the JSON answer (every row applied at the exchange, the snapshot completed)` },
              { name: 'ptl_250k_peak_rss_mb', value: peak, unit: 'MB', target: 300, better: 'lower', conditions: `peak RSS of the adapter process during that import (sampled every 100 ms; ${before} MB just before it)` },
            ];
          });
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    },
  ];
}
