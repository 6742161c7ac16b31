/**
 * Acceptance storm (issue 5): patients' YES replies arriving together through the notifier's real
 * Notify callback (`POST /notify/inbound`), claimed by the booking service on the whole running
 * stack. Three storms on one stack, one after the other:
 * - 200 simultaneous YES for one slot (200 patients offered it);
 * - paced: 1,000 slots × 3 patients each, every slot's three YES sent at the same instant, a new
 *   slot's triple every 1/STORM_SLOTS_PER_S seconds whatever the stack answers (an open loop, as
 *   patients do not wait for each other). A latency target only means something at a stated
 *   load. 25 slots/s is 75 YES a second: England frees perhaps 60,000 slots a working day, and if
 *   each drew two YES and the busiest hour held 15% of them, that hour would bring about 5 YES a
 *   second; 75/s is fifteen times that, and hundreds of times NW London's;
 * - saturated: another 1,000 slots × 3, 50 slots' triples in flight at a time, each next triple
 *   sent as soon as the notifier answered one: as fast as the stack takes them, for its ceiling.
 * Offers are seeded straight into Postgres (the matching engine and SMS sending have their own
 * benchmarks); everything from the reply on is the production path: callback → outbox → BullMQ →
 * claim, and the write-backs, confirmations and "no longer available" texts that follow compete
 * for the same machine.
 *
 * Figures:
 * - `accept_storm_bookings_per_s`: slots claimed per second in the saturated storm (first reply
 *   sent → last claim committed);
 * - `accept_storm_p99_ms`: reply → outcome (the callback request sent → the reply's decision
 *   committed: a claim, or "no longer available"), 99th percentile over the crowd and the paced
 *   storm; `accept_storm_saturated_p99_ms` the same in the saturated storm, where replies queue
 *   behind each other by construction (no target: it measures the queue the bench builds);
 * - `accept_storm_ceiling_ratio`: bookings per second over the rate of single-row UPDATE
 *   transactions the same Postgres sustains in the same run with the booking worker's concurrency
 *   (WORKER_CONCURRENCY connections), i.e. the share of the database's bare write ceiling that the claim achieves.
 * Both storms must book every slot exactly once, or the benchmark fails.
 */
import { createTestDatabase } from '@app/persistence';
import IORedis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { Pool } from 'pg';
import { startStack } from '../tools/stack/processes';
import type { Benchmark, BenchResult } from './benchmarks';

const SLOTS = 1000;
const PER_SLOT = 3;
const CROWD = 200;
const IN_FLIGHT_SLOTS = 50;
/** The paced storm's rate; `STORM_SLOTS_PER_S` overrides it to map latency against load. */
const SLOTS_PER_S = Number(process.env.STORM_SLOTS_PER_S ?? 25);
/** Storms of SLOTS slots each (paced, saturated), then the crowd's slot. */
const STORMS = 2;
/**
 * Connections of the write-ceiling probe: the booking process's REPLIES_CONCURRENCY when each reply
 * had its own transaction (replies are decided in batches now), kept so the ratio stays comparable.
 */
const WORKER_CONCURRENCY = 16;
const CALLBACK_TOKEN = 'dev-notify-callback-token';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The bench's HTTP client: node:http with kept-alive sockets rather than fetch, whose per-request
 * CPU (undici's streams and promises) competed with the stack for the same two cores; Notify's
 * senders run on machines of their own.
 */
const agent = new http.Agent({ keepAlive: true });
function post(url: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${CALLBACK_TOKEN}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
const mobileOf = (i: number) => `+4477009${String(i).padStart(5, '0')}`;

/** Patients, open entries, slots in offering with a live wave, and one live offer per patient. */
async function seed(pool: Pool): Promise<void> {
  const patients = STORMS * SLOTS * PER_SLOT + CROWD;
  await pool.query(
    `INSERT INTO patient (nhs_number, birth_date, mobile, mobile_status)
     SELECT 'B' || lpad(i::text, 9, '0'), '1970-01-01', '+4477009' || lpad(i::text, 5, '0'), 'valid' FROM generate_series(0, $1 - 1) i`,
    [patients],
  );
  await pool.query(
    `INSERT INTO waiting_list_entry (trust_ods, pathway_id, patient_id, tfc, appointment_type, priority, priority_rank, rtt_start, breach_date, offer_consent)
     SELECT 'RQM', 'STORM-' || p.nhs_number, p.id, '330', 'NEW', 'P3', 3, '2026-03-01', '2026-07-05', true FROM patient p`,
  );
  // Slot s (0 … STORMS × SLOTS) starts a few days ahead; the last is the crowd's.
  await pool.query(
    `INSERT INTO slot (trust_ods, site_ods, clinic_code, tfc, appointment_type, start_at, duration_minutes, filler_appointment_id, source_event_id, status, cutoff_at, match_round)
     SELECT 'RQM', 'RQM01', '330-NEW', '330', 'NEW', date_trunc('hour', now()) + interval '96 hours' + s * interval '20 minutes', 20,
            'STORM-F-' || s, 'storm-' || s, 'offering', date_trunc('hour', now()) + interval '72 hours' + s * interval '20 minutes', 1
       FROM generate_series(0, $1) s`,
    [STORMS * SLOTS],
  );
  await pool.query(
    `INSERT INTO offer_wave (slot_id, round, status, policy_version, send_at, expires_at) SELECT id, 1, 'live', 1, now(), now() + interval '2 hours' FROM slot`,
  );
  // Patient i is offered slot floor(i / 3); the last CROWD patients are all offered the crowd's slot.
  await pool.query(
    `WITH p AS (SELECT e.id AS entry_id, e.patient_id, substr(pt.nhs_number, 2)::int AS i FROM waiting_list_entry e JOIN patient pt ON pt.id = e.patient_id),
          s AS (SELECT s.id AS slot_id, w.id AS wave_id, substr(s.source_event_id, 7)::int AS n FROM slot s JOIN offer_wave w ON w.slot_id = s.id)
     INSERT INTO offer (slot_id, wave_id, entry_id, patient_id, rank, explanation, policy_version, code, token, status, expires_at)
     SELECT s.slot_id, s.wave_id, p.entry_id, p.patient_id, 1, '{}', 1, lpad((p.i % 10000)::text, 4, '0'), gen_random_uuid()::text, 'live', now() + interval '2 hours'
       FROM p JOIN s ON s.n = LEAST(p.i / $1, $2)`,
    [PER_SLOT, STORMS * SLOTS],
  );
}

/** Single-row UPDATE transactions per second, from `WORKER_CONCURRENCY` connections for `ms`. */
async function writeCeiling(pool: Pool, ms = 3000): Promise<number> {
  await pool.query(`CREATE TABLE bench_ceiling (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)`);
  await pool.query(`INSERT INTO bench_ceiling (id) SELECT generate_series(0, 999)`);
  const end = Date.now() + ms;
  let done = 0;
  const started = Date.now();
  await Promise.all(Array.from({ length: WORKER_CONCURRENCY }, async (_, k) => {
    for (let i = k; Date.now() < end; i += WORKER_CONCURRENCY) {
      await pool.query(`UPDATE bench_ceiling SET n = n + 1 WHERE id = $1`, [i % 1000]);
      done++;
    }
  }));
  // Dropped at once: its dead rows would otherwise be vacuumed while the storms run.
  await pool.query(`DROP TABLE bench_ceiling`);
  return done / ((Date.now() - started) / 1000);
}

const pct = (xs: number[], q: number) => (xs.length ? Math.round(xs[Math.min(xs.length - 1, Math.ceil(xs.length * q) - 1)]) : NaN);

/**
 * Where a reply's time goes, stage by stage (printed, not a figure), for each storm: sent → stored
 * (the callback's transaction began) → answered (its 200 reached the sender) and → published (the
 * outbox relay moved its job to BullMQ) → started (a booking worker took it) → decided. Each
 * stage's p50 / p99 in ms.
 */
type Storm = 'crowd' | 'paced' | 'saturated';

/**
 * Until what one storm set off has finished (every outbox row published, no BullMQ job waiting or
 * running: the write-backs, confirmations and "no longer available" texts): each storm is
 * measured from a settled stack, not in the tail of the one before (the crowd's 199 texts kept the
 * notifier busy for about two seconds).
 */
async function quiesce(pool: Pool, redisUrl: string, ms = 60_000): Promise<void> {
  const r = new IORedis(redisUrl);
  try {
    const end = Date.now() + ms;
    for (;;) {
      const [{ n }] = (await pool.query(`SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL`)).rows;
      const keys = [...(await r.keys('bull:*:wait')), ...(await r.keys('bull:*:active')), ...(await r.keys('bull:*:prioritized'))];
      const lengths = await Promise.all(keys.map((k) => (k.endsWith(':prioritized') ? r.zcard(k) : r.llen(k))));
      if (n === 0 && lengths.every((l) => l === 0)) return;
      if (Date.now() > end) throw new Error(`the stack did not settle within ${ms / 1000} s (${n} outbox row(s) unpublished)`);
      await sleep(50);
    }
  } finally {
    await r.quit();
  }
}

async function logStages(pool: Pool, redisUrl: string, sentAt: Map<string, number>, answeredAt: Map<string, number>, stormOf: Map<string, Storm>): Promise<void> {
  // A reply's job: its own (`process-reply`) or its notifier batch's (`process-replies`).
  const rows: Array<{ id: string; external_id: string; stored: number; published: number | null; decided: number; job_id: string | null }> = (await pool.query(
    `WITH jobs AS (
       SELECT x.reply_id::uuid, o.job_id, o.published_at FROM outbox o, jsonb_array_elements_text(o.payload->'replyIds') AS x(reply_id) WHERE o.job_name = 'process-replies'
       UNION ALL SELECT (o.payload->>'replyId')::uuid, o.job_id, o.published_at FROM outbox o WHERE o.job_name = 'process-reply'
     )
     SELECT r.id, r.external_id, extract(epoch FROM r.received_at) * 1000 AS stored, extract(epoch FROM j.published_at) * 1000 AS published,
            extract(epoch FROM r.processed_at) * 1000 AS decided, j.job_id
       FROM patient_reply r LEFT JOIN jobs j ON j.reply_id = r.id`,
  )).rows;
  const r = new IORedis(redisUrl);
  const started = new Map<string, number>();
  try {
    const pipe = r.pipeline();
    for (const x of rows) pipe.hget(`bull:offer-replies:${x.job_id ?? `reply-${x.id}`}`, 'processedOn');
    const res = (await pipe.exec()) ?? [];
    rows.forEach((x, i) => { const v = res[i]?.[1]; if (v) started.set(x.id, Number(v)); });
  } finally {
    await r.quit();
  }
  // ACCEPT_STORM_DUMP=<file>: every reply's stage times as JSON, for finding where the tail comes from.
  if (process.env.ACCEPT_STORM_DUMP) writeFileSync(process.env.ACCEPT_STORM_DUMP, JSON.stringify(rows.map((x) => ({ ...x, sent: sentAt.get(x.external_id), answered: answeredAt.get(x.external_id), started: started.get(x.id), storm: stormOf.get(x.external_id) }))));
  for (const storm of ['crowd', 'paced', 'saturated'] as const) {
    const stages: Record<string, number[]> = { 'sent→stored': [], 'stored→answered': [], 'stored→published': [], 'published→started': [], 'started→decided': [] };
    for (const x of rows) {
      const sent = sentAt.get(x.external_id);
      const s = started.get(x.id);
      if (sent === undefined || x.published === null || s === undefined || stormOf.get(x.external_id) !== storm) continue;
      stages['sent→stored'].push(Number(x.stored) - sent);
      stages['stored→answered'].push((answeredAt.get(x.external_id) ?? NaN) - Number(x.stored));
      stages['stored→published'].push(Number(x.published) - Number(x.stored));
      stages['published→started'].push(s - Number(x.published));
      stages['started→decided'].push(Number(x.decided) - s);
    }
    const line = Object.entries(stages).map(([k, v]) => { v.sort((a, b) => a - b); return `${k} p50 ${pct(v, 0.5)} p99 ${pct(v, 0.99)}`; });
    console.log(`accept storm stages, ${storm} (ms, ${stages['sent→stored'].length} replies): ${line.join('; ')}`);
  }
}

export function acceptStormBenchmark(offset: number, redisDb: number): Benchmark {
  return {
    produces: ['accept_storm_bookings_per_s', 'accept_storm_p99_ms', 'accept_storm_saturated_p99_ms', 'accept_storm_ceiling_ratio'],
    async run(): Promise<BenchResult[]> {
      const db = await createTestDatabase('sx_bench_storm');
      const redisUrl = `${(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379').replace(/\/\d+$/, '')}/${redisDb}`;
      const r = new IORedis(redisUrl);
      await r.flushdb();
      await r.quit();
      const stack = await startStack({ databaseUrl: db.url, redisUrl, portOffset: offset, env: { DEMO: '0', QUIET_HOURS: '', SIM_AUTOREPLY: '0', LOG_LEVEL: 'warn', SIM_DELIVERY_RECEIPTS: '0' } });
      const pool = new Pool({ connectionString: db.url, max: WORKER_CONCURRENCY });
      try {
        await seed(pool);
        const ceiling = await writeCeiling(pool);
        // As a live database is: its statistics current, so the first storm is not the one that
        // sets autovacuum's analyse off.
        await pool.query(`VACUUM ANALYZE`);
        const inbound = `http://127.0.0.1:${3002 + offset}/notify/inbound`;
        const sentAt = new Map<string, number>();
        const answeredAt = new Map<string, number>();
        const stormOf = new Map<string, Storm>();
        let retried = 0;
        // As Notify does, a callback refused with a 5xx (the notifier out of database connections
        // in the crowd) is sent again after a pause; its latency still counts from the first try.
        const send = async (patient: number, storm: Storm) => {
          const id = randomUUID();
          sentAt.set(id, Date.now());
          stormOf.set(id, storm);
          const body = JSON.stringify({ id, source_number: mobileOf(patient).slice(1), destination_number: '07700900000', message: `YES ${String(patient % 10000).padStart(4, '0')}`, date_received: new Date().toISOString() });
          for (let attempt = 0; ; attempt++) {
            const status = await post(inbound, body);
            if (status === 200) return void answeredAt.set(id, Date.now());
            if (status < 500 || attempt === 5) throw new Error(`callback answered ${status}`);
            retried++;
            await sleep(250 * 2 ** attempt);
          }
        };
        const settled = async (expected: number, ms: number) => {
          const end = Date.now() + ms;
          for (;;) {
            const [{ n }] = (await pool.query(`SELECT count(*)::int AS n FROM patient_reply WHERE processed_at IS NOT NULL`)).rows;
            if (n >= expected) return;
            if (Date.now() > end) throw new Error(`only ${n} of ${expected} replies decided within ${ms / 1000} s`);
            await sleep(100);
          }
        };
        const triple = (slot: number, storm: Storm) => Promise.all([0, 1, 2].map((k) => send(slot * PER_SLOT + k, storm)));

        // Storm 1: the crowd, all at once, for one slot.
        const crowdStart = Date.now();
        await Promise.all(Array.from({ length: CROWD }, (_, k) => send(STORMS * SLOTS * PER_SLOT + k, 'crowd')));
        await settled(CROWD, 120_000);
        const crowdMs = Date.now() - crowdStart;

        // Storm 2, paced: slot s's triple at pacedStart + s / SLOTS_PER_S, whether or not earlier
        // callbacks have been answered.
        await quiesce(pool, redisUrl);
        const pacedStart = Date.now();
        const inFlight: Array<Promise<unknown>> = [];
        for (let s = 0; s < SLOTS; s++) {
          const due = pacedStart + (s * 1000) / SLOTS_PER_S;
          if (due > Date.now()) await sleep(due - Date.now());
          inFlight.push(triple(s, 'paced'));
        }
        await Promise.all(inFlight);
        await settled(CROWD + SLOTS * PER_SLOT, 300_000);
        const pacedMs = Date.now() - pacedStart;

        // Storm 3, saturated: IN_FLIGHT_SLOTS triples at a time, each next one as soon as one is answered.
        await quiesce(pool, redisUrl);
        const stormStart = Date.now();
        let next = SLOTS;
        await Promise.all(Array.from({ length: IN_FLIGHT_SLOTS }, async () => {
          for (let s = next++; s < STORMS * SLOTS; s = next++) await triple(s, 'saturated');
        }));
        await settled(CROWD + STORMS * SLOTS * PER_SLOT, 300_000);
        console.log(`accept storm: ${CROWD} YES for one slot decided in ${crowdMs} ms; paced ${SLOTS} × ${PER_SLOT} at ${SLOTS_PER_S} slots/s decided in ${pacedMs} ms; saturated ${SLOTS} × ${PER_SLOT} decided in ${Date.now() - stormStart} ms; write ceiling ${Math.round(ceiling)}/s`);

        await logStages(pool, redisUrl, sentAt, answeredAt, stormOf);

        const perSlot = (await pool.query(`SELECT count(b.id)::int AS n FROM slot s LEFT JOIN booking b ON b.slot_id = s.id GROUP BY s.id`)).rows;
        if (perSlot.length !== STORMS * SLOTS + 1 || perSlot.some((x) => x.n !== 1)) throw new Error('the storm broke "one booking per slot"');
        const decided: Array<{ external_id: string; outcome: string; at: number }> = (await pool.query(`SELECT external_id, outcome, extract(epoch FROM processed_at) * 1000 AS at FROM patient_reply`)).rows;
        const p99Of = (storms: Storm[]) => {
          const latencies = decided.filter((d) => storms.includes(stormOf.get(d.external_id)!)).map((d) => Number(d.at) - sentAt.get(d.external_id)!).sort((a, b) => a - b);
          return { p99: pct(latencies, 0.99), p50: pct(latencies, 0.5), n: latencies.length };
        };
        const target = p99Of(['crowd', 'paced']);
        const saturated = p99Of(['saturated']);
        const lastClaim = Math.max(...decided.filter((d) => d.outcome === 'claimed' && stormOf.get(d.external_id) === 'saturated').map((d) => Number(d.at)));
        const perSecond = SLOTS / ((lastClaim - stormStart) / 1000);
        const via = `whole stack on one machine; YES via POST /notify/inbound; ${retried} callback(s) retried after a 5xx`;
        const saturatedRun = `saturated storm: ${SLOTS} slots × ${PER_SLOT} YES (each slot's three at once, ${IN_FLIGHT_SLOTS} slots in flight, the next sent as soon as one is answered)`;
        return [
          { name: 'accept_storm_bookings_per_s', value: Math.round(perSecond * 10) / 10, unit: 'bookings/s', target: null, better: 'higher', conditions: `${saturatedRun}: first reply sent → last claim committed; ${via}` },
          { name: 'accept_storm_p99_ms', value: target.p99, unit: 'ms', target: 300, better: 'lower', conditions: `reply → outcome (callback sent → claim or "no longer available" committed), p99 of ${target.n} (median ${target.p50} ms): ${CROWD} YES for one slot at once, then ${SLOTS} slots × ${PER_SLOT} YES paced at ${SLOTS_PER_S} slots/s (${SLOTS_PER_S * PER_SLOT} YES/s, each slot's three at once); ${via}` },
          { name: 'accept_storm_saturated_p99_ms', value: saturated.p99, unit: 'ms', target: null, better: 'lower', conditions: `reply → outcome, p99 of ${saturated.n} (median ${saturated.p50} ms) in the ${saturatedRun}, at ${Math.round(perSecond)} bookings/s; ${via}` },
          { name: 'accept_storm_ceiling_ratio', value: Math.round((perSecond / ceiling) * 1000) / 1000, unit: 'ratio', target: null, better: 'higher', conditions: `bookings/s ÷ single-row UPDATE transactions/s on the same Postgres in the same run (${Math.round(ceiling)}/s from ${WORKER_CONCURRENCY} connections); ${saturatedRun}; ${via}` },
        ];
      } finally {
        agent.destroy();
        await pool.end();
        await stack.stop();
        await db.drop();
      }
    },
  };
}
