/**
 * `dashboard_overview_p99_ms` and `dashboard_flows_p99_ms`: the dashboard's two heaviest reads on
 * a year of ICS data — about 300,000 freed slots, 1,000,000 offers (each with its SMS), 120,000
 * bookings — seeded by SQL (generate_series), measured over HTTP against the built dashboard
 * signed in as ICS operations (the widest scope). The overview request is what the live stream
 * computes every tick (three windows, closed-unfilled reasons, the latest slots); the flows
 * request is the trust→trust matrix and the per-specialty table, over a mix of filters.
 */
import { SANDBOX_DASHBOARD_PASSWORD } from '@app/contracts';
import { createTestDatabase } from '@app/persistence';
import IORedis from 'ioredis';
import { Client } from 'pg';
import { startStack } from '../tools/stack/processes';
import type { Benchmark, BenchResult } from './benchmarks';

const SLOTS = 300_000;
const PEOPLE = 300_000;
const SAMPLES = 200;

/** One year of freed slots, one every 105 s; 10 % too late, 40 % filled, 45 % closed unfilled, 5 % withdrawn. */
const SEED = [
  `INSERT INTO patient (id, nhs_number, mobile_status)
     SELECT md5('p' || i)::uuid, '8' || lpad(i::text, 9, '0'), 'valid' FROM generate_series(1, ${PEOPLE}) i`,
  `INSERT INTO waiting_list_entry (id, trust_ods, pathway_id, patient_id, tfc, appointment_type, priority, priority_rank, rtt_start, breach_date, status)
     SELECT md5('e' || i)::uuid, (ARRAY['RQM','RAS','R1K','RYJ'])[1 + i % 4], 'PW' || i, md5('p' || i)::uuid,
            (ARRAY['100','101','110','120','130','300','301','320','330','502'])[1 + i % 10], 'NEW', 'P3', 4, '2026-01-01', '2026-04-01', 'closed'
       FROM generate_series(1, ${PEOPLE}) i`,
  `INSERT INTO slot (id, trust_ods, site_ods, clinic_code, tfc, appointment_type, start_at, duration_minutes, filler_appointment_id, source_event_id,
                     status, closed_reason, cutoff_at, released_at, closed_at)
     SELECT md5('s' || i)::uuid, (ARRAY['RQM','RAS','R1K','RYJ'])[1 + i % 4], (ARRAY['RQM01','RAS01','R1K01','RYJ01'])[1 + i % 4],
            tfc || '-NEW', tfc, 'NEW', rel + interval '5 days', 20, 'F' || i, 'E' || i, st,
            CASE st WHEN 'unfilled' THEN 'cut-off reached' WHEN 'withdrawn' THEN 'appointment deleted' WHEN 'too_late' THEN 'too_late' END,
            rel + interval '4 days', rel, CASE WHEN st <> 'booked' THEN rel + interval '4 days' END
       FROM (SELECT i, now() - i * interval '105 seconds' AS rel,
                    (ARRAY['100','101','110','120','130','300','301','320','330','502'])[1 + (i / 4) % 10] AS tfc,
                    CASE WHEN i % 20 < 2 THEN 'too_late' WHEN i % 20 < 10 THEN 'booked' WHEN i % 20 < 19 THEN 'unfilled' ELSE 'withdrawn' END AS st
               FROM generate_series(1, ${SLOTS}) i) x`,
  `INSERT INTO offer_wave (id, slot_id, round, status, policy_version, created_at, send_at, expires_at, ended_at, ended_reason)
     SELECT md5('w' || i)::uuid, md5('s' || i)::uuid, 1, 'ended', 1, now() - i * interval '105 seconds', now() - i * interval '105 seconds',
            now() - i * interval '105 seconds' + interval '2 hours', now() - i * interval '105 seconds' + interval '2 hours', 'expired'
       FROM generate_series(1, ${SLOTS}) i WHERE i % 20 >= 2`,
  // Four offers per offered slot (the first accepted when the slot was filled): about 1,080,000.
  `INSERT INTO offer (id, slot_id, wave_id, entry_id, patient_id, rank, explanation, policy_version, code, token, status, created_at, expires_at, responded_at, ended_at)
     SELECT md5('o' || i || '-' || k)::uuid, md5('s' || i)::uuid, md5('w' || i)::uuid, md5('e' || n)::uuid, md5('p' || n)::uuid, k,
            '{"summary":"P3"}', 1, '1234', md5('t' || i || '-' || k), CASE WHEN k = 1 AND i % 20 < 10 THEN 'accepted' ELSE 'expired' END,
            now() - i * interval '105 seconds' + interval '1 minute', now() - i * interval '105 seconds' + interval '2 hours',
            CASE WHEN k = 1 AND i % 20 < 10 THEN now() - i * interval '105 seconds' + interval '20 minutes' END, now() - i * interval '105 seconds' + interval '2 hours'
       FROM generate_series(1, ${SLOTS}) i, generate_series(1, 4) k,
            LATERAL (SELECT CASE WHEN k = 1 THEN i ELSE 1 + (i * 7 + k * 7919) % ${PEOPLE} END AS n) e
      WHERE i % 20 >= 2
     ON CONFLICT DO NOTHING`,
  `INSERT INTO sms_message (patient_id, offer_id, kind, personalisation, status, created_at, sent_at, status_at)
     SELECT o.patient_id, o.id, 'offer', '{}', 'delivered', o.created_at, o.created_at, o.created_at FROM offer o`,
  `INSERT INTO booking (slot_id, offer_id, entry_id, patient_id, status, owning_trust_ods, home_trust_ods, previous_appointment_start, created_at, confirmed_at)
     SELECT o.slot_id, o.id, o.entry_id, o.patient_id, 'confirmed', s.trust_ods, e.trust_ods, s.start_at + interval '30 days', o.responded_at, o.responded_at
       FROM offer o JOIN slot s ON s.id = o.slot_id JOIN waiting_list_entry e ON e.id = o.entry_id WHERE o.status = 'accepted'`,
  // Statistics first (autovacuum's, on a year-old database), so the drain below plans index probes.
  `ANALYZE`,
  // What the dashboard's slot-facts job would have done over the year, as changes came in (the
  // triggers have listed every seeded slot as changed): fold them into the cache.
  `SELECT dashboard_slot_fact_drain()`,
  // What autovacuum would have done to a year-old table: statistics and the visibility map (index-only scans).
  `VACUUM ANALYZE`,
];

function p99(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return Math.round(sorted[Math.ceil(sorted.length * 0.99) - 1] * 10) / 10;
}

async function signIn(base: string): Promise<string> {
  const form = await fetch(`${base}/sign-in`);
  const pre = form.headers.getSetCookie().map((c) => c.split(';')[0]).find((c) => c.startsWith('dashboard_signin_csrf='))!;
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1];
  const res = await fetch(`${base}/sign-in`, {
    method: 'POST', redirect: 'manual',
    headers: { cookie: pre, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: csrf, email: 'ops@ics.example', password: SANDBOX_DASHBOARD_PASSWORD }).toString(),
  });
  const session = res.headers.getSetCookie().map((c) => c.split(';')[0]).find((c) => c.startsWith('dashboard_session='));
  if (!session) throw new Error(`dashboard sign-in failed (${res.status})`);
  return session;
}

async function timed(url: string, cookie: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(url, { headers: { cookie, accept: 'application/json' } });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
  return performance.now() - t0;
}

export function dashboardBenchmarks(offset: number, redisDb: number): Benchmark[] {
  return [{
    produces: ['dashboard_overview_p99_ms', 'dashboard_flows_p99_ms'],
    async run(): Promise<BenchResult[]> {
      const db = await createTestDatabase('sx_bench_dash');
      const redisUrl = `${(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379').replace(/\/\d+$/, '')}/${redisDb}`;
      const r = new IORedis(redisUrl);
      await r.flushdb();
      await r.quit();
      const pg = new Client({ connectionString: db.url });
      await pg.connect();
      try {
        const seeded = Date.now();
        for (const sql of SEED) await pg.query(sql);
        const counts = (await pg.query(`SELECT (SELECT count(*) FROM slot)::int AS slots, (SELECT count(*) FROM offer)::int AS offers, (SELECT count(*) FROM booking)::int AS bookings, (SELECT count(*) FROM sms_message)::int AS sms`)).rows[0];
        console.log(`seeded ${JSON.stringify(counts)} in ${Math.round((Date.now() - seeded) / 1000)} s`);
        const stack = await startStack({ databaseUrl: db.url, redisUrl, portOffset: offset, apps: ['dashboard'], env: { LOG_LEVEL: 'warn', PASSWORD_COST_LOG2: '12' } });
        try {
          const base = stack.urls.dashboard;
          const cookie = await signIn(base);
          const today = new Date().toISOString().slice(0, 10);
          const ago = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10);
          const flowQueries = ['', '?trust=RQM', '?tfc=330', `?from=${ago(90)}&to=${today}`, '?site=RYJ01&tfc=120'];
          for (let i = 0; i < 5; i++) await timed(`${base}/api/overview`, cookie); // warm caches and plans
          for (const q of flowQueries) await timed(`${base}/flows/data.json${q}`, cookie);
          const overview: number[] = [];
          const flows: number[] = [];
          for (let i = 0; i < SAMPLES; i++) overview.push(await timed(`${base}/api/overview`, cookie));
          for (let i = 0; i < SAMPLES; i++) flows.push(await timed(`${base}/flows/data.json${flowQueries[i % flowQueries.length]}`, cookie));
          const pending = (await pg.query(`SELECT count(*)::int AS n FROM dashboard_slot_fact_dirty`)).rows[0].n;
          console.log(`slot facts: ${pending} changed slots pending after the run (read live from the base tables)`);
          const data = `${counts.slots.toLocaleString('en-GB')} slots over 365 days, ${counts.offers.toLocaleString('en-GB')} offers, ${counts.sms.toLocaleString('en-GB')} SMS, ${counts.bookings.toLocaleString('en-GB')} bookings (SQL generate_series)`;
          return [
            { name: 'dashboard_overview_p99_ms', value: p99(overview), unit: 'ms', target: 200, better: 'lower', conditions: `p99 of ${SAMPLES} sequential GET /api/overview (today/7/30-day figures + latest 25 slots) as ICS operations; ${data}` },
            { name: 'dashboard_flows_p99_ms', value: p99(flows), unit: 'ms', target: 200, better: 'lower', conditions: `p99 of ${SAMPLES} sequential GET /flows/data.json (trust→trust matrix + per-TFC table) cycling default 30 days, trust, TFC, 90 days, site+TFC filters; ${data}` },
          ];
        } finally {
          await stack.stop();
        }
      } finally {
        await pg.end();
        await db.drop();
      }
    },
  }];
}
