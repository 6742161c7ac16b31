/**
 * The trust adapter when what it depends on fails: the exchange unreachable for longer than a
 * forwarding job's retries, and the adapter's own Postgres unreachable while a PAS sends. The real
 * adapter and exchange apps run in this process, over real Postgres, Redis, MLLP and HTTP; each
 * fault is a TCP proxy (tcp-proxy.ts) between the adapter and that dependency, so only this adapter
 * meets it. Retries are shortened (fast-retries.ts) so a job fails for good in seconds, and the
 * forwarding re-drive looks every 500 ms; nothing else is changed from production.
 */
import { restoreRetries } from '../support/fast-retries';
import { INestApplication } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import { queueFor } from '@app/contracts';
import { readAck, sendMllp } from '@app/hl7';
import { MetricsService, QueueService, bootstrapApp, loadConfig } from '@app/platform';
import { Client } from 'pg';
import { AdapterModule } from '../../apps/trust-adapter/src/app.module';
import { AdapterConfig } from '../../apps/trust-adapter/src/config';
import { ForwardRedriver } from '../../apps/trust-adapter/src/forward-redrive';
import { Hl7IntakeService } from '../../apps/trust-adapter/src/hl7-intake.service';
import { ArchiveReplayer } from '../../apps/trust-adapter/src/replay';
import { controlIdOf, fillerOf, siu } from '../../apps/trust-adapter/src/testing/messages';
import { FreshStores } from '../../tools/stack/fresh-stack';
import { CapturedLogs } from '../support/captured-logs';
import { expectNoPersonalData, storedPatients } from './harness';
import { startExchangeWorld } from './in-process';
import { until } from '../support/wait';
import { TcpProxy, startTcpProxy } from '../../tools/stack/tcp-proxy';

const HOUR = 3_600_000;
const EXCHANGE_PORT = 11400;
const ADAPTER_PORT = 11401;
const MLLP_PORT = 11402;
const TOKEN = 'dev-RQM-token';

let stores: FreshStores;
let logs: CapturedLogs;
let pg: Client;
let exchange: INestApplication;
let adapter: INestApplication;
/** The exchange as the adapter reaches it. */
let toExchange: TcpProxy;
/** The adapter's Postgres as the adapter reaches it. */
let toPostgres: TcpProxy;
const mllp = async (m: string) => readAck(await sendMllp('127.0.0.1', MLLP_PORT, m))!;
const q = async <T = any>(sql: string, params: unknown[] = []): Promise<T[]> => (await pg.query(sql, params)).rows as T[];
const slotsFor = async (m: string) => Number((await q(`SELECT count(*) AS n FROM slot WHERE filler_appointment_id = $1`, [fillerOf(m)]))[0].n);
const messageId = async (m: string) => (await q(`SELECT id FROM hl7_message WHERE control_id = $1 AND status = 'accepted'`, [controlIdOf(m)]))[0]?.id as string | undefined;
const inbound = () => adapter.get(QueueService).queue(queueFor('forward-hl7', 'RQM'));

/** Waits until the message's forwarding job has spent every attempt and BullMQ has failed it for good. */
async function failedForGood(m: string): Promise<string> {
  const id = await until('the message to be stored', () => messageId(m), 5_000, 50);
  await until('its forwarding job to fail for good', async () => {
    const job = await inbound().getJob(`hl7-${id}`);
    return job && (await job.getState()) === 'failed' && job.attemptsMade === job.opts.attempts;
  }, 30_000, 25);
  return id;
}

beforeAll(async () => {
  let common: Record<string, string>;
  ({ stores, exchange, common, logs } = await startExchangeWorld('sx_adapter_faults', EXCHANGE_PORT));
  pg = stores.pg;
  toExchange = await startTcpProxy(EXCHANGE_PORT);
  const pgUrl = new URL(stores.db.url);
  toPostgres = await startTcpProxy(Number(pgUrl.port || 5432), { upstreamHost: pgUrl.hostname });
  pgUrl.hostname = '127.0.0.1';
  pgUrl.port = String(toPostgres.port);
  const adConfig = loadConfig(AdapterConfig, {
    ...common, DATABASE_URL: pgUrl.toString(), TRUST_ODS: 'RQM', PORT: String(ADAPTER_PORT), MLLP_PORT: String(MLLP_PORT),
    EXCHANGE_URL: `http://127.0.0.1:${toExchange.port}`, PAS_FHIR_BASE_URL: 'http://127.0.0.1:9/RQM/fhir',
  }).resolve();
  adapter = await bootstrapApp(AdapterModule.forRoot(adConfig, { redrive: { everyMs: 500, graceMs: 1_000 } }), { config: adConfig });
});

afterAll(async () => {
  toExchange?.cut(false);
  toPostgres?.cut(false);
  await adapter?.close();
  await exchange?.close();
  await toExchange?.close();
  await toPostgres?.close();
  await stores?.drop();
  restoreRetries();
  logs?.restore();
});

describe('the exchange unreachable for longer than a forwarding job retries', () => {
  it('an accepted S15 whose job failed for good reaches the exchange once it is back, with nobody doing anything', async () => {
    toExchange.cut(true);
    const m = siu();
    expect((await mllp(m)).code).toBe('AA');
    await failedForGood(m);
    expect(toExchange.cuts).toBeGreaterThan(0);
    expect((await q(`SELECT forwarded_at FROM hl7_message WHERE control_id = $1`, [controlIdOf(m)]))[0].forwarded_at).toBeNull();

    toExchange.cut(false);
    // The exchange stores the slot before it answers, and the adapter marks the message forwarded
    // on that answer: wait for both, not for the first alone.
    await until('the freed slot to reach the exchange and its message to be marked forwarded', async () =>
      (await slotsFor(m)) === 1 && (await q(`SELECT forwarded_at FROM hl7_message WHERE control_id = $1`, [controlIdOf(m)]))[0].forwarded_at !== null, 20_000, 100);
    const [row] = await q(`SELECT forwarded_at, forward_outcome FROM hl7_message WHERE control_id = $1`, [controlIdOf(m)]);
    expect(row.forwarded_at).not.toBeNull();
    expect(row.forward_outcome).toBe('slot-created');
    // Once, however many times it was ordered again.
    expect(Number((await q(`SELECT count(*) AS n FROM slot_event WHERE control_id = $1`, [controlIdOf(m)]))[0].n)).toBe(1);
    const metrics = await until('the adapter to count nothing awaiting forward', async () => {
      const text = await (await fetch(`http://127.0.0.1:${ADAPTER_PORT}/metrics`)).text();
      return /hl7_awaiting_forward\{trust="RQM"[^}]*\} 0\n/.test(text) ? text : undefined;
    }, 10_000, 100);
    expect(metrics).toMatch(/hl7_forward_redrives_total\{trust="RQM"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/hl7_awaiting_forward\{trust="RQM"[^}]*\} 0\n/);
  });

  it('replay orders a failed one again ("re-forwarded"), and says "awaiting-forward" while a job for it is still coming', async () => {
    const redriver = adapter.get(ForwardRedriver);
    const grace = redriver.timing.graceMs;
    // The operator's replay, not the periodic re-drive, is what this test is about.
    redriver.timing.graceMs = HOUR;
    const replayer = new ArchiveReplayer(adapter.get(getDataSourceToken()), adapter.get(Hl7IntakeService), adapter.get(AdapterConfig));
    try {
      toExchange.cut(true);
      const since = new Date(Date.now() - 1000);
      const m = siu();
      expect((await mllp(m)).code).toBe('AA');
      expect((await replayer.run(since)).outcomes).toMatchObject({ 'awaiting-forward': 1, 're-forwarded': 0 });
      await failedForGood(m);
      expect((await replayer.run(since)).outcomes).toMatchObject({ 'awaiting-forward': 0, 're-forwarded': 1 });
      // The job ordered again is still retrying (the exchange is down): nothing more is ordered.
      expect((await replayer.run(since)).outcomes).toMatchObject({ 'awaiting-forward': 1, 're-forwarded': 0 });
      await failedForGood(m);

      toExchange.cut(false);
      await new Promise((r) => setTimeout(r, 1500));
      expect(await slotsFor(m)).toBe(0);
      expect((await replayer.run(since)).outcomes).toMatchObject({ 're-forwarded': 1 });
      await until('the freed slot to reach the exchange', async () => (await slotsFor(m)) === 1, 10_000, 100);
      expect((await replayer.run(since)).outcomes).toMatchObject({ 'already-accepted': 1, 're-forwarded': 0, 'awaiting-forward': 0 });
      expect(Number((await q(`SELECT count(*) AS n FROM slot_event WHERE control_id = $1`, [controlIdOf(m)]))[0].n)).toBe(1);
    } finally {
      toExchange.cut(false);
      redriver.timing.graceMs = grace;
    }
  });
});

describe('a backlog of stuck messages', () => {
  it('one pass goes on past messages whose job is still coming to those whose job failed for good, instead of stopping at the oldest page', async () => {
    // Another trust's messages and its own re-driver (the running adapter is RQM's), so the
    // periodic pass of the suite's adapter never touches them.
    const ds = adapter.get(getDataSourceToken());
    const queues = adapter.get(QueueService);
    const ras = Object.assign(new AdapterConfig(), { ...adapter.get(AdapterConfig), TRUST_ODS: 'RAS' });
    const redriver = new ForwardRedriver(ds, ras, queues, adapter.get(MetricsService), { graceMs: 1_000 });
    const ids: string[] = (await q(
      `INSERT INTO hl7_message (trust_ods, control_id, message_type, status, ack_code, raw, received_at)
       SELECT 'RAS', 'BACKLOG-' || i, 'SIU^S15', 'accepted', 'AA', 'MSH|', now() - interval '2 hours' + i * interval '1 second' FROM generate_series(1, 600) i
       RETURNING id`,
    )).map((r) => r.id as string);
    const byAge: string[] = (await q(`SELECT id FROM hl7_message WHERE id = ANY($1::uuid[]) ORDER BY received_at, id`, [ids])).map((r) => r.id as string);
    // The oldest 500 have a job still coming (an outbox row not yet published); the newest 100 none.
    await q(
      `INSERT INTO outbox (queue, job_name, job_id, payload) SELECT $1, 'forward-hl7', 'hl7-' || id, jsonb_build_object('hl7MessageId', id) FROM unnest($2::uuid[]) id`,
      [queueFor('forward-hl7', 'RAS'), byAge.slice(0, 500)],
    );
    expect(await redriver.redrive()).toBe(100);
    const ordered: string[] = (await q(`SELECT payload->>'hl7MessageId' AS id FROM outbox WHERE queue = $1 AND job_id = ANY($2::text[])`,
      [queueFor('forward-hl7', 'RAS'), byAge.slice(500).map((id) => `hl7-${id}`)])).map((r) => r.id as string);
    expect(ordered.sort()).toEqual(byAge.slice(500).sort());
  });
});

describe("the adapter's Postgres unreachable while a PAS sends", () => {
  const post = (m: string) => fetch(`http://127.0.0.1:${ADAPTER_PORT}/hl7`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/hl7-v2' }, body: m });
  const stored = async (m: string) => q(`SELECT status, ack_code FROM hl7_message WHERE control_id = $1`, [controlIdOf(m)]);

  it('answers AR (207: not stored, send again) over MLLP and HTTP, and the resend with the same MSH-10 is stored and ACKed AA', async () => {
    const overMllp = siu();
    const overHttp = siu();
    toPostgres.cut(true);
    try {
      const raw = await sendMllp('127.0.0.1', MLLP_PORT, overMllp);
      expect(readAck(raw)).toMatchObject({ code: 'AR', controlId: controlIdOf(overMllp), text: 'Message could not be stored; send it again' });
      expect(raw).toContain('|207^Message could not be stored; send it again^HL70357|');
      const res = await post(overHttp);
      expect(res.status).toBe(422);
      expect(readAck(await res.text())).toMatchObject({ code: 'AR', controlId: controlIdOf(overHttp) });
      expect(toPostgres.cuts).toBeGreaterThan(0);
    } finally {
      toPostgres.cut(false);
    }
    expect(await stored(overMllp)).toEqual([]);
    expect(await stored(overHttp)).toEqual([]);

    // The engine resends, as it does after an AR; the adapter's pool reconnects on its own.
    await until('the resend over MLLP to be ACKed AA', async () => (await mllp(overMllp)).code === 'AA', 15_000, 250);
    const again = await post(overHttp);
    expect(again.status).toBe(200);
    expect(readAck(await again.text())?.code).toBe('AA');
    for (const m of [overMllp, overHttp]) {
      expect(await stored(m)).toEqual([{ status: 'accepted', ack_code: 'AA' }]);
      await until('the freed slot to reach the exchange', async () => (await slotsFor(m)) === 1, 10_000, 100);
    }
  });
});

describe('after every fault above (last in this file: it reads what they left)', () => {
  it("no NHS number of any patient the PAS's messages named appears in the apps' log lines or anywhere in Redis (job ids, data, failure reasons, events)", async () => {
    const named = (await q<{ raw: string }>(`SELECT raw FROM hl7_message`)).map((m) => /(?:^|\r)PID\|[^|]*\|[^|]*\|([0-9]{10})\^/.exec(m.raw)?.[1]).filter((n): n is string => !!n);
    expect(named.length).toBeGreaterThan(0);
    await expectNoPersonalData(logs, stores.redisUrl, [...named.map((nhs) => ({ nhs })), ...(await storedPatients(pg))]);
  });
});
