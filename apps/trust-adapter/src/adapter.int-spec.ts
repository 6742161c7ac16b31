/**
 * The RQM adapter as a trust's integration engine meets it: the real adapter and exchange apps
 * in this process, real Postgres and Redis, real MLLP sockets and HTTP. Every SIU kind, every ACK
 * code, framing edge cases, duplicate races, the unmapped-clinic list and a mapping reload, the
 * archive (search, retention, replay), PTL snapshot vs delta, and the cross-trust matrix.
 */
import { listenToOutbox } from '@app/persistence';
import { INestApplication } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import { queueFor, rowsToColumns } from '@app/contracts';
import { frame, MllpClient, readAck, sendMllp } from '@app/hl7';
import { syntheticNhsNumber } from '@app/domain';
import { bootstrapApp, loadConfig } from '@app/platform';
import fc from 'fast-check';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { ExchangeModule } from '../../slot-exchange/src/app.module';
import { ExchangeConfig } from '../../slot-exchange/src/config';
import { AdapterModule } from './app.module';
import { ClinicMap } from './clinic-map';
import { AdapterConfig } from './config';
import { Hl7ArchiveService } from './hl7-archive.service';
import { Hl7IntakeService } from './hl7-intake.service';
import { ArchiveReplayer } from './replay';
import { controlIdOf, fillerOf, later, siu, uid } from './testing/messages';
import { mutations } from './testing/mutations';
import { FreshStores, freshStores } from '../../../tools/stack/fresh-stack';

const EXCHANGE_PORT = 11300;
const ADAPTER_PORT = 11101;
const MLLP_PORT = 11575;
const REDIS_DB = 3;
const TOKEN = 'dev-RQM-token';
const RQM_EXCHANGE = { authorization: 'Bearer dev-exchange-RQM-token' };

let stores: FreshStores;
let pg: Client;
let exchange: INestApplication;
let adapter: INestApplication;
let mapDir: string;
let mapFile: string;
let testStart: Date;
const mllp = async (m: string) => readAck(await sendMllp('127.0.0.1', MLLP_PORT, m))!;
const errLocation = (ack: string) => ack.split('\r').find((s) => s.startsWith('ERR'))?.split('|')[2];
const q = async <T = any>(sql: string, params: unknown[] = []): Promise<T[]> => (await pg.query(sql, params)).rows as T[];
const count = async (sql: string, params: unknown[] = []) => Number((await q(sql, params))[0].n);

async function eventually<T>(f: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function http(method: string, path: string, opts: { body?: string; type?: string; token?: string | null; port?: number; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? TOKEN}`;
  if (opts.type) headers['content-type'] = opts.type;
  const res = await fetch(`http://127.0.0.1:${opts.port ?? ADAPTER_PORT}${path}`, { method, headers, body: opts.body });
  const text = await res.text();
  let json: any;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, text, json };
}

beforeAll(async () => {
  testStart = new Date(Date.now() - 1000);
  stores = await freshStores('sx_adapter', REDIS_DB);
  const { db, redisUrl } = stores;
  pg = stores.pg;
  mapDir = mkdtempSync(join(tmpdir(), 'sx-clinics-'));
  mapFile = join(mapDir, 'RQM.json');
  copyFileSync(join(__dirname, '../../../config/clinics/RQM.json'), mapFile);
  const common = { DATABASE_URL: db.url, REDIS_URL: redisUrl, HOST: '127.0.0.1', LOG_LEVEL: 'error', QUIET_HOURS: '' };
  const exConfig = loadConfig(ExchangeConfig, { ...common, PORT: String(EXCHANGE_PORT) });
  exchange = await bootstrapApp(ExchangeModule.forRoot(exConfig), { config: exConfig, bodyLimit: '20mb' });
  const adConfig = loadConfig(AdapterConfig, {
    ...common, TRUST_ODS: 'RQM', PORT: String(ADAPTER_PORT), MLLP_PORT: String(MLLP_PORT), MLLP_MAX_MESSAGE_BYTES: '65536',
    EXCHANGE_URL: `http://127.0.0.1:${EXCHANGE_PORT}`, CLINIC_MAP_FILE: mapFile, PAS_FHIR_BASE_URL: 'http://127.0.0.1:9/RQM/fhir',
  }).resolve();
  adapter = await bootstrapApp(AdapterModule.forRoot(adConfig), { config: adConfig });
});

afterAll(async () => {
  await adapter?.close();
  await exchange?.close();
  await stores?.drop();
  if (mapDir) rmSync(mapDir, { recursive: true, force: true });
});

describe('HL7 in: every SIU kind, ACKed only once stored, acted on by the exchange', () => {
  it('S15 is stored before its AA and frees one slot', async () => {
    const m = siu();
    const ack = await mllp(m);
    expect(ack).toMatchObject({ code: 'AA', controlId: controlIdOf(m) });
    // Durable before the ACK: the row is there the moment the sender has its AA.
    expect(await count(`SELECT count(*) AS n FROM hl7_message WHERE control_id = $1 AND status = 'accepted'`, [controlIdOf(m)])).toBe(1);
    const slots = await eventually(() => count(`SELECT count(*) AS n FROM slot WHERE filler_appointment_id = $1`, [fillerOf(m)]), (n) => n === 1);
    expect(slots).toBe(1);
  });

  it('an accepted message and its forwarding job commit synchronously (their WAL flushed before the AA), whatever the relay does for its marks', async () => {
    // Postgres records the commit mode of the transaction that stores each message.
    await q(`
      CREATE TABLE intake_mode (control_id text, sync text);
      CREATE FUNCTION note_intake_mode() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO intake_mode VALUES (NEW.control_id, current_setting('synchronous_commit')); RETURN NEW; END $$;
      CREATE TRIGGER note_intake_mode BEFORE INSERT ON hl7_message FOR EACH ROW EXECUTE FUNCTION note_intake_mode()`);
    try {
      // Several rounds, so the relay's asynchronous transactions run on the same pool in between.
      const sent: string[] = [];
      for (let round = 0; round < 3; round++) {
        const batch = [siu(), siu(), siu(), siu()];
        sent.push(...batch.map(controlIdOf));
        const acks = await Promise.all(batch.map(mllp));
        expect(acks.map((a) => a.code)).toEqual(['AA', 'AA', 'AA', 'AA']);
        await new Promise((r) => setTimeout(r, 120));
      }
      const modes = await q<{ control_id: string; sync: string }>(`SELECT control_id, sync FROM intake_mode`);
      expect(modes.map((m) => m.control_id).sort()).toEqual([...sent].sort());
      expect(new Set(modes.map((m) => m.sync))).toEqual(new Set(['on']));
    } finally {
      await q(`DROP TRIGGER note_intake_mode ON hl7_message; DROP FUNCTION note_intake_mode(); DROP TABLE intake_mode`);
    }
  });

  it('the intake stores its forwarding jobs quietly (no NOTIFY, which serialises commits) and its own relay forwards them', async () => {
    const listener = await listenToOutbox(stores.db.url);
    const { heard } = listener;
    try {
      const m = siu();
      expect((await mllp(m)).code).toBe('AA');
      expect(await eventually(() => count(`SELECT count(*) AS n FROM slot WHERE filler_appointment_id = $1`, [fillerOf(m)]), (n) => n === 1)).toBe(1);
      // The exchange's own writes (match jobs) still notify; the adapter's inbound queue never does.
      expect(heard.filter((p) => p.split(',').includes(queueFor('forward-hl7', 'RQM')))).toEqual([]);
    } finally {
      await listener.end();
    }
  });

  it.each([
    ['S12', 'appointment-booked'], ['S13', 'appointment-moved'], ['S14', 'appointment-moved'], ['S17', 'slot-withdrawn'], ['S26', 'no-show'],
  ] as const)('%s is accepted and reaches the exchange as %s', async (event, kind) => {
    const m = siu({ event });
    expect((await mllp(m)).code).toBe('AA');
    const rows = await eventually(() => q(`SELECT kind, outcome FROM slot_event WHERE control_id = $1`, [controlIdOf(m)]), (r) => r.length === 1);
    expect(rows).toEqual([{ kind, outcome: expect.any(String) }]);
    expect(rows[0].outcome).not.toBe('processing');
    // The trigger travels with it: the exchange tells an S13 reschedule from an S14 modification.
    expect(await q(`SELECT event::jsonb ->> 'trigger' AS trigger FROM hl7_message WHERE control_id = $1`, [controlIdOf(m)])).toEqual([{ trigger: event }]);
  });

  it('S17 withdraws the freed slot S15 made; S12 at the same clinic and time withdraws another', async () => {
    const cancel = siu();
    await mllp(cancel);
    await eventually(() => count(`SELECT count(*) AS n FROM slot WHERE filler_appointment_id = $1`, [fillerOf(cancel)]), (n) => n === 1);
    expect((await mllp(siu({ event: 'S17', fillerId: fillerOf(cancel) }))).code).toBe('AA');
    const s = await eventually(() => q(`SELECT status FROM slot WHERE filler_appointment_id = $1`, [fillerOf(cancel)]), (r) => r[0]?.status === 'withdrawn');
    expect(s[0].status).toBe('withdrawn');

    const start = later(130);
    const freed = siu({ start, clinic: '120-NEW' });
    await mllp(freed);
    await eventually(() => count(`SELECT count(*) AS n FROM slot WHERE filler_appointment_id = $1`, [fillerOf(freed)]), (n) => n === 1);
    expect((await mllp(siu({ event: 'S12', start, clinic: '120-NEW', fillerId: uid('LOCAL') }))).code).toBe('AA');
    const t = await eventually(() => q(`SELECT status FROM slot WHERE filler_appointment_id = $1`, [fillerOf(freed)]), (r) => r[0]?.status === 'withdrawn');
    expect(t[0].status).toBe('withdrawn');
  });
});

describe('ACK codes', () => {
  it('AE names the segment and field that is wrong, and keeps the message for inspection', async () => {
    const m = siu().replace(/^(SCH\|[^|]*\|)[^|]*/m, '$1');
    const raw = await sendMllp('127.0.0.1', MLLP_PORT, m);
    expect(readAck(raw)!.code).toBe('AE');
    expect(errLocation(raw)).toBe('SCH^1^2^1^1');
    expect(await count(`SELECT count(*) AS n FROM hl7_message WHERE control_id = $1 AND status = 'refused' AND ack_code = 'AE'`, [controlIdOf(m)])).toBe(1);
  });

  it('AE for a location that is not this trust\'s site', async () => {
    const raw = await sendMllp('127.0.0.1', MLLP_PORT, siu({ siteOds: 'RYJ02' }));
    expect(readAck(raw)!.code).toBe('AE');
    expect(errLocation(raw)).toBe('AIL^1^3^1^4');
  });

  it.each([
    ['another trust\'s facility', siu({ sendingFacility: 'RAS' }), 'MSH^1^4'],
    ['an unsupported message type', siu().replace('SIU^S15^SIU_S12', 'ADT^A01^ADT_A01'), 'MSH^1^9'],
    ['text that is not HL7', 'HELLO THERE', 'MSH^1'],
  ])('AR for %s', async (_, m, location) => {
    const raw = await sendMllp('127.0.0.1', MLLP_PORT, m);
    expect(readAck(raw)!.code).toBe('AR');
    expect(errLocation(raw)).toBe(location);
  });

  it.each([
    ['MSH-10 control id', () => ({ m: siu({ controlId: uid('L').padEnd(65, 'X') }) }), 'MSH^1^10'],
    ['SCH-2 filler appointment id', () => ({ m: siu({ fillerId: uid('F').padEnd(65, 'X') }) }), 'SCH^1^2^1^1'],
    ['SCH-1 placer appointment id', () => ({ m: siu({ placerId: 'P'.repeat(65) }) }), 'SCH^1^1^1^1'],
    ['AIP-3 clinician id', () => ({ m: siu({ clinicianId: 'C'.repeat(65) }) }), 'AIP^1^3^1^1'],
    ['SCH-6 event reason', () => ({ m: siu({ eventReason: 'R'.repeat(81) }) }), 'SCH^1^6^1^1'],
  ])('AE naming the %s when it is longer than the exchange takes, never AA for a slot then lost', async (_, make, location) => {
    const { m } = make();
    const raw = await sendMllp('127.0.0.1', MLLP_PORT, m);
    expect(readAck(raw)).toMatchObject({ code: 'AE', controlId: controlIdOf(m) });
    expect(errLocation(raw)).toBe(location);
    expect(readAck(raw)!.text).toMatch(/^[A-Z]{3}-\d+ .* must be at most (64|80) characters$/);
    expect(await count(`SELECT count(*) AS n FROM hl7_message WHERE control_id = $1 AND status = 'refused' AND ack_code = 'AE'`, [controlIdOf(m)])).toBe(1);
    expect(await count(`SELECT count(*) AS n FROM hl7_message WHERE control_id = $1 AND status = 'accepted'`, [controlIdOf(m)])).toBe(0);
  });

  it('a runaway MSH-10 (8,000 characters) is AE at MSH-10 and kept under its first 256 characters, not an AR "send again" for ever', async () => {
    const controlId = uid('W') + randomBytes(6000).toString('base64');
    const m = siu({ controlId });
    for (let i = 0; i < 2; i++) {
      const raw = await sendMllp('127.0.0.1', MLLP_PORT, m);
      expect(readAck(raw)!.code).toBe('AE');
      expect(errLocation(raw)).toBe('MSH^1^10');
    }
    expect(await count(`SELECT count(*) AS n FROM hl7_message WHERE control_id = $1 AND status = 'refused'`, [controlId.slice(0, 256)])).toBe(2);
  });

  it('a runaway MSH-10 on a message with an unmapped clinic is kept in the unmapped list under its first 256 characters', async () => {
    const controlId = uid('U') + randomBytes(6000).toString('base64');
    expect(readAck(await sendMllp('127.0.0.1', MLLP_PORT, siu({ controlId, clinic: '997-NEW' })))!.code).toBe('AE');
    const [row] = await q(`SELECT last_control_id FROM unmapped_clinic WHERE clinic_code = '997-NEW'`);
    expect(row.last_control_id).toBe(controlId.slice(0, 256));
  });

  it('a message with NULs is measured as it arrived (a NUL is one byte, not the three of the ␀ it is kept as)', async () => {
    // 30,000 NULs: 30 KB as sent, under the 64 KB limit; 90 KB once each is kept as ␀.
    const m = `${siu()}\rZNU|${'\u0000'.repeat(30_000)}`;
    const raw = await sendMllp('127.0.0.1', MLLP_PORT, m);
    expect(readAck(raw)).toMatchObject({ code: 'AA', controlId: controlIdOf(m) });
    expect(await count(`SELECT count(*) AS n FROM hl7_message WHERE control_id = $1 AND status = 'accepted' AND received_bytes IS NULL`, [controlIdOf(m)])).toBe(1);
  });

  /** The archive row of a message refused for its size: its head, the size that arrived, and never accepted by replay. */
  async function keptOversized(m: string): Promise<void> {
    const [row] = await q(`SELECT status, ack_code, raw, received_bytes, error FROM hl7_message WHERE control_id = $1`, [controlIdOf(m)]);
    expect(row).toMatchObject({ status: 'refused', ack_code: 'AR', raw: m.slice(0, 4096), received_bytes: Buffer.byteLength(m) });
    expect(row.error).toMatch(/65536-byte limit/);
    const [archived] = await q(`SELECT id, status, raw, forwarded_at, received_bytes FROM hl7_message WHERE control_id = $1`, [controlIdOf(m)]);
    // Its head alone is a valid S15 (the padding is at the end), but it is not the message that was sent.
    expect(await adapter.get(Hl7IntakeService).replay(archived)).toBe('still-refused');
    expect(await count(`SELECT count(*) AS n FROM hl7_message WHERE control_id = $1`, [controlIdOf(m)])).toBe(1);
  }
  const oversize = () => siu().replace(/\r?$/, `\rNTE|1||${'X'.repeat(70_000)}`);

  it('AR for a message over the size limit, kept (head and size) for inspection; the connection carries on', async () => {
    const client = new MllpClient('127.0.0.1', MLLP_PORT);
    try {
      const big = oversize();
      const raw = await client.send(big);
      const ack = readAck(raw)!;
      expect(ack).toMatchObject({ code: 'AR', controlId: controlIdOf(big) });
      expect(ack.text).toMatch(/65536-byte limit/);
      expect(errLocation(raw)).toBe('MSH^1');
      await keptOversized(big);
      expect(readAck(await client.send(siu()))!.code).toBe('AA');
    } finally {
      await client.close();
    }
  });

  it('POST /hl7 over the size limit: the same AR as the body, status 422, kept for inspection', async () => {
    const big = oversize();
    const res = await http('POST', '/hl7', { body: big, type: 'application/hl7-v2' });
    expect(res.status).toBe(422);
    expect(readAck(res.text)).toMatchObject({ code: 'AR', controlId: controlIdOf(big) });
    expect(readAck(res.text)!.text).toMatch(/65536-byte limit/);
    await keptOversized(big);
  });

  it('POST /hl7: 200 with AA, 422 with AE/AR, 401 without the token', async () => {
    const ok = await http('POST', '/hl7', { body: siu().replace(/\r/g, '\r\n'), type: 'application/hl7-v2' });
    expect(ok.status).toBe(200);
    expect(readAck(ok.text)!.code).toBe('AA');
    const bad = await http('POST', '/hl7', { body: siu({ clinic: 'NOPE-1' }), type: 'application/hl7-v2' });
    expect(bad.status).toBe(422);
    expect(readAck(bad.text)!.code).toBe('AE');
    expect((await http('POST', '/hl7', { body: siu(), type: 'application/hl7-v2', token: null })).status).toBe(401);
  });
});

describe('MLLP as integration engines really send it', () => {
  it('several messages on one connection, in one write, with \\n and \\r\\n segment ends', async () => {
    const ms = [siu(), siu().replace(/\r/g, '\n'), siu().replace(/\r/g, '\r\n')];
    const acks = await rawExchange([Buffer.concat(ms.map((m) => frame(m)))], ms.length);
    expect(acks.map((a) => readAck(a)!)).toEqual(ms.map((m) => expect.objectContaining({ code: 'AA', controlId: controlIdOf(m) })));
  });

  it('a message split across packets, the end block split too', async () => {
    const m = siu();
    const f = frame(m);
    const acks = await rawExchange([f.subarray(0, 7), f.subarray(7, 200), f.subarray(200, f.length - 1), f.subarray(f.length - 1)], 1, 30);
    expect(readAck(acks[0])).toMatchObject({ code: 'AA', controlId: controlIdOf(m) });
  });

  it('a sender that vanishes mid-frame loses only that frame; nothing of it is stored', async () => {
    const m = siu();
    const s = net.connect(MLLP_PORT, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    s.write(frame(m).subarray(0, 120));
    await new Promise((r) => setTimeout(r, 50));
    s.destroy();
    expect((await mllp(siu())).code).toBe('AA');
    expect(await count(`SELECT count(*) AS n FROM hl7_message WHERE control_id = $1`, [controlIdOf(m)])).toBe(0);
  });

  it('an idle connection stays usable until the idle timeout', async () => {
    const client = new MllpClient('127.0.0.1', MLLP_PORT);
    try {
      expect(readAck(await client.send(siu()))!.code).toBe('AA');
      await new Promise((r) => setTimeout(r, 1500));
      expect(readAck(await client.send(siu()))!.code).toBe('AA');
    } finally {
      await client.close();
    }
  });
});

describe('duplicates by MSH-10', () => {
  it('racing copies on separate connections are all ACKed AA and processed once', async () => {
    const m = siu();
    const acks = await Promise.all(Array.from({ length: 12 }, () => mllp(m)));
    expect(acks.every((a) => a.code === 'AA' && a.controlId === controlIdOf(m))).toBe(true);
    expect(await count(`SELECT count(*) AS n FROM hl7_message WHERE control_id = $1 AND status = 'accepted'`, [controlIdOf(m)])).toBe(1);
    await eventually(() => count(`SELECT count(*) AS n FROM slot WHERE filler_appointment_id = $1`, [fillerOf(m)]), (n) => n === 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(await count(`SELECT count(*) AS n FROM slot WHERE filler_appointment_id = $1`, [fillerOf(m)])).toBe(1);
    expect(await count(`SELECT count(*) AS n FROM outbox WHERE job_name = 'forward-hl7' AND payload->>'hl7MessageId' IN (SELECT id::text FROM hl7_message WHERE control_id = $1)`, [controlIdOf(m)])).toBe(1);
  });

  it('a resend of an accepted MSH-10 is AA as a duplicate, even one that would now be refused (after a mapping change, say)', async () => {
    const controlId = uid('D');
    const fillerId = uid('F');
    expect((await mllp(siu({ controlId, fillerId }))).code).toBe('AA');
    // The same MSH-10 again, as the mapping in force (or the site list) would now refuse it.
    expect((await mllp(siu({ controlId, fillerId, clinic: '998-NEW' })))).toMatchObject({ code: 'AA', controlId });
    expect((await mllp(siu({ controlId, fillerId, siteOds: '' })))).toMatchObject({ code: 'AA', controlId });
    const rows = await q(`SELECT status FROM hl7_message WHERE control_id = $1`, [controlId]);
    expect(rows.map((r) => r.status)).toEqual(['accepted']);
    expect(await count(`SELECT count(*) AS n FROM unmapped_clinic WHERE clinic_code = '998-NEW'`)).toBe(0);
  });

  it('a refused message resent with the same MSH-10 is judged afresh', async () => {
    const controlId = uid('R');
    const fillerId = uid('F');
    expect((await mllp(siu({ controlId, fillerId, siteOds: '' }))).code).toBe('AE');
    expect((await mllp(siu({ controlId, fillerId }))).code).toBe('AA');
    expect((await mllp(siu({ controlId, fillerId }))).code).toBe('AA');
    const rows = await q(`SELECT status FROM hl7_message WHERE control_id = $1 ORDER BY received_at`, [controlId]);
    expect(rows.map((r) => r.status)).toEqual(['refused', 'accepted']);
  });
});

describe('clinic mapping, unmapped list, archive and replay', () => {
  it('an unmapped clinic is AE at AIS-3, counted for operators, and accepted by replay once the reloaded mapping knows it', async () => {
    const first = siu({ clinic: '999-NEW' });
    const second = siu({ clinic: '999-NEW' });
    for (const m of [first, second]) {
      const raw = await sendMllp('127.0.0.1', MLLP_PORT, m);
      expect(readAck(raw)!.code).toBe('AE');
      expect(errLocation(raw)).toBe('AIS^1^3');
    }
    const listed = await http('GET', '/v1/unmapped-clinics');
    expect(listed.status).toBe(200);
    expect(listed.json.clinics.filter((c: { clinicCode: string }) => c.clinicCode === '999-NEW')).toEqual([
      expect.objectContaining({ clinicCode: '999-NEW', messages: 2, lastControlId: controlIdOf(second), mappingVersion: '2026-11-23.1' }),
    ]);

    // The trust adds the clinic: a new version of the file, picked up without a restart.
    const json = JSON.parse(readFileSync(mapFile, 'utf8'));
    json.version = '2026-11-30.2';
    json.clinics['999-NEW'] = { tfc: '330', appointmentType: 'NEW' };
    writeFileSync(mapFile, JSON.stringify(json));
    const reloaded = await eventually(() => http('GET', '/v1/unmapped-clinics'), (r) => r.json.mappingVersion === '2026-11-30.2', 8000);
    expect(reloaded.json.clinics.map((c: { clinicCode: string }) => c.clinicCode)).not.toContain('999-NEW');
    // The reload marks the list asynchronously (it does not hold up the reload itself).
    expect(await eventually(() => count(`SELECT count(*) AS n FROM unmapped_clinic WHERE clinic_code = '999-NEW' AND mapped_at IS NOT NULL`), (n) => n === 1)).toBe(1);

    const replayer = new ArchiveReplayer(adapter.get(getDataSourceToken()), adapter.get(Hl7IntakeService), adapter.get(AdapterConfig));
    const run1 = await replayer.run(testStart);
    expect(run1.outcomes.accepted).toBe(2);
    for (const m of [first, second]) {
      await eventually(() => count(`SELECT count(*) AS n FROM slot WHERE filler_appointment_id = $1`, [fillerOf(m)]), (n) => n === 1);
    }
    const rowsBefore = await count(`SELECT count(*) AS n FROM hl7_message`);
    const slotsBefore = await count(`SELECT count(*) AS n FROM slot`);
    const run2 = await replayer.run(testStart);
    expect(run2.outcomes.accepted).toBe(0);
    expect(run2.messages).toBeGreaterThanOrEqual(run1.messages);
    expect(await count(`SELECT count(*) AS n FROM hl7_message`)).toBe(rowsBefore);
    await new Promise((r) => setTimeout(r, 500));
    expect(await count(`SELECT count(*) AS n FROM slot`)).toBe(slotsBefore);
  });

  it('a mapping file that does not parse leaves the version in force', async () => {
    const clinics = adapter.get(ClinicMap);
    const version = clinics.version;
    const good = readFileSync(mapFile, 'utf8');
    writeFileSync(mapFile, '{ not json');
    expect(() => clinics.reload()).toThrow();
    expect(clinics.version).toBe(version);
    expect(clinics.lookup('330-NEW')).toBeDefined();
    writeFileSync(mapFile, good);
  });

  it('the archive is searchable by control id (this trust only) and keeps messages for the retention period', async () => {
    const m = siu({ siteOds: '' });
    await mllp(m);
    await mllp(siu({ controlId: controlIdOf(m) }));
    await pg.query(`INSERT INTO hl7_message (trust_ods, control_id, status, ack_code, raw) VALUES ('RAS', $1, 'refused', 'AR', 'theirs')`, [controlIdOf(m)]);
    const found = await http('GET', `/v1/messages?controlId=${encodeURIComponent(controlIdOf(m))}`);
    expect(found.status).toBe(200);
    expect(found.json.messages.map((x: { status: string; ackCode: string }) => `${x.status}/${x.ackCode}`).sort()).toEqual(['accepted/AA', 'refused/AE']);
    expect(found.json.messages.every((x: { raw: string }) => x.raw.startsWith('MSH|'))).toBe(true);
    expect((await http('GET', '/v1/messages')).status).toBe(400);

    const old = await q(
      `INSERT INTO hl7_message (trust_ods, control_id, status, ack_code, raw, received_at, forwarded_at) VALUES
         ('RQM', 'OLD-FWD', 'accepted', 'AA', 'x', now() - interval '100 days', now() - interval '100 days'),
         ('RQM', 'OLD-REF', 'refused', 'AE', 'x', now() - interval '100 days', NULL),
         ('RQM', 'OLD-UNFWD', 'accepted', 'AA', 'x', now() - interval '100 days', NULL),
         ('RAS', 'OLD-THEIRS', 'refused', 'AE', 'x', now() - interval '100 days', NULL),
         ('RQM', 'RECENT', 'refused', 'AE', 'x', now() - interval '10 days', NULL) RETURNING control_id`,
    );
    expect(old).toHaveLength(5);
    expect(await adapter.get(Hl7ArchiveService).sweep()).toBe(2);
    const left = (await q(`SELECT control_id FROM hl7_message WHERE control_id LIKE 'OLD-%' OR control_id = 'RECENT' ORDER BY control_id`)).map((r) => r.control_id);
    expect(left).toEqual(['OLD-THEIRS', 'OLD-UNFWD', 'RECENT']);
  });
});

const PTL_COLUMNS = [
  'PATIENT_PATHWAY_IDENTIFIER', 'NHS_NUMBER', 'PERSON_BIRTH_DATE', 'ACTIVITY_TREATMENT_FUNCTION_CODE', 'APPOINTMENT_TYPE',
  'REFERRAL_TO_TREATMENT_PERIOD_START_DATE', 'Outpatient_Priority_Code', 'MOBILE_NUMBER', 'POSTCODE', 'OFFER_CONSENT', 'ICS_WIDE_CONSENT', 'ACCEPTABLE_SITES',
];
let ptlSeq = 0;
function ptlRow(over: Record<string, string> = {}): Record<string, string> {
  ptlSeq++;
  return {
    PATIENT_PATHWAY_IDENTIFIER: `PW-${ptlSeq}-${Date.now().toString(36)}`, NHS_NUMBER: syntheticNhsNumber(5000 + ptlSeq), PERSON_BIRTH_DATE: '1971-02-03',
    ACTIVITY_TREATMENT_FUNCTION_CODE: '330', APPOINTMENT_TYPE: 'NEW', REFERRAL_TO_TREATMENT_PERIOD_START_DATE: '2026-06-01', Outpatient_Priority_Code: 'P3',
    MOBILE_NUMBER: `07700900${String(ptlSeq % 1000).padStart(3, '0')}`, POSTCODE: 'SW10 9NH', OFFER_CONSENT: 'Y', ICS_WIDE_CONSENT: 'Y', ACCEPTABLE_SITES: 'ANY', ...over,
  };
}
const csv = (rows: Array<Record<string, string>>, columns = PTL_COLUMNS) =>
  [columns.join(','), ...rows.map((r) => columns.map((c) => r[c] ?? '').join(','))].join('\r\n') + '\r\n';
const ptl = (body: string, mode = 'snapshot', token?: string | null) =>
  http('POST', `/v1/ptl${mode === 'snapshot' ? '' : `?mode=${mode}`}`, { body, type: 'text/csv', token });
const entryStatus = async (pathwayId: string) => (await q(`SELECT status, close_pending FROM waiting_list_entry WHERE trust_ods = 'RQM' AND pathway_id = $1`, [pathwayId]))[0];

describe('PTL in: snapshot and delta', () => {
  it('a file without a required column, or not CSV at all, is a 400 that changes nothing', async () => {
    const before = await count(`SELECT count(*) AS n FROM waiting_list_entry`);
    const noNhs = await ptl(csv([ptlRow()], PTL_COLUMNS.filter((c) => c !== 'NHS_NUMBER')));
    expect(noNhs.status).toBe(400);
    expect(noNhs.text).toMatch(/NHS_NUMBER/);
    expect((await ptl('"unterminated,quote\n\u0000\u0001', 'delta')).status).toBe(400);
    expect((await ptl(csv([]))).status).toBe(400); // an empty snapshot would close the whole list
    expect(await count(`SELECT count(*) AS n FROM waiting_list_entry`)).toBe(before);
  });

  it('rejects each bad row with its number and every reason, and applies the good rows', async () => {
    const good = [ptlRow(), ptlRow()];
    const bad = ptlRow({ NHS_NUMBER: '9990000019', PERSON_BIRTH_DATE: '1971-13-40', ACTIVITY_TREATMENT_FUNCTION_CODE: '33X', MOBILE_NUMBER: '0123', POSTCODE: 'NOT A POSTCODE' });
    const res = await ptl(csv([good[0], bad, good[1]]), 'delta');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ mode: 'delta', accepted: 2, rejected: 1, closed: 0 });
    expect(res.json.rejectedRows).toHaveLength(1);
    expect(res.json.rejectedRows[0].row).toBe(2);
    const reasons: string = res.json.rejectedRows[0].reasons.join(' | ');
    for (const word of [/NHS_NUMBER/, /PERSON_BIRTH_DATE/, /ACTIVITY_TREATMENT_FUNCTION_CODE/, /MOBILE_NUMBER/, /POSTCODE/]) expect(reasons).toMatch(word);
    for (const g of good) expect((await entryStatus(g.PATIENT_PATHWAY_IDENTIFIER)).status).toBe('open');
    expect(await entryStatus(bad.PATIENT_PATHWAY_IDENTIFIER)).toBeUndefined();
  });

  it('a file of several batches is applied whole, batch after batch, with the bad row in the middle reported by its number', async () => {
    const before = await count(`SELECT count(*) AS n FROM waiting_list_entry`);
    const rows = Array.from({ length: 2_600 }, (_, i) => (i === 2_099 ? ptlRow({ APPOINTMENT_TYPE: 'WALK-IN' }) : ptlRow()));
    const res = await ptl(csv(rows), 'delta');
    expect(res.json).toMatchObject({ accepted: 2_599, rejected: 1, rejectedRows: [{ row: 2_100, reasons: [expect.stringMatching(/APPOINTMENT_TYPE/)] }] });
    expect(await count(`SELECT count(*) AS n FROM waiting_list_entry`)).toBe(before + 2_599);
  });

  it('a row with identifiers longer than the exchange stores is rejected as a row, not by the exchange with its whole batch', async () => {
    const before = await count(`SELECT count(*) AS n FROM waiting_list_entry`);
    const good = [ptlRow(), ptlRow()];
    const longPathway = ptlRow({ PATIENT_PATHWAY_IDENTIFIER: 'P'.repeat(65) });
    const longAppointment = ptlRow({ CURRENT_APPOINTMENT_ID: 'A'.repeat(65) });
    const res = await ptl(csv([good[0], longPathway, longAppointment, good[1]], [...PTL_COLUMNS, 'CURRENT_APPOINTMENT_ID']), 'delta');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      accepted: 2, rejected: 2,
      rejectedRows: [{ row: 2, reasons: [expect.stringMatching(/PATIENT_PATHWAY_IDENTIFIER is longer than 64/)] }, { row: 3, reasons: [expect.stringMatching(/CURRENT_APPOINTMENT_ID is longer than 64/)] }],
    });
    expect(await count(`SELECT count(*) AS n FROM waiting_list_entry`)).toBe(before + 2);
  });

  it('a delta adds and changes only what it lists; a snapshot closes what it omits, but defers patients holding a live offer or a booking in flight until that settles', async () => {
    // Start from a known list: a snapshot of five pathways.
    // These patients have not opted in to offers, so the exchange's matching (running for the slots earlier tests
    // freed) never gives them an offer of its own: this test places each offer and booking itself.
    const [keep, plain, offered, booking, failedBooking] = Array.from({ length: 5 }, () => ptlRow({ OFFER_CONSENT: 'N' }));
    const first = await ptl(csv([keep, plain, offered, booking, failedBooking]));
    expect(first.json).toMatchObject({ accepted: 5, rejected: 0 });
    // The snapshot closed every other pathway of this trust, except those holding offers matching made in earlier
    // tests: they close when those offers end. End them now, so only this test's pathways remain open.
    const ours = [keep, plain, offered, booking, failedBooking].map((r) => r.PATIENT_PATHWAY_IDENTIFIER);
    await pg.query(
      `UPDATE offer o SET status = 'expired', ended_at = now() FROM waiting_list_entry e
        WHERE o.entry_id = e.id AND o.status = 'live' AND e.trust_ods = 'RQM' AND NOT (e.pathway_id = ANY($1))`, [ours]);
    expect(await count(`SELECT count(*) AS n FROM waiting_list_entry WHERE trust_ods = 'RQM' AND status = 'open' AND NOT (pathway_id = ANY($1))`, [ours])).toBe(0);
    const added = ptlRow({ OFFER_CONSENT: 'N' });
    const delta = await ptl(csv([added, { ...keep, Outpatient_Priority_Code: 'P2' }]), 'delta');
    expect(delta.json).toMatchObject({ mode: 'delta', accepted: 2, closed: 0 });
    expect((await q(`SELECT priority FROM waiting_list_entry WHERE pathway_id = $1`, [keep.PATIENT_PATHWAY_IDENTIFIER]))[0].priority).toBe('P2');
    for (const r of [plain, offered, booking, failedBooking, added]) expect((await entryStatus(r.PATIENT_PATHWAY_IDENTIFIER)).status).toBe('open');

    // Give one patient a live offer and two a booking in flight.
    const entry = async (r: Record<string, string>) => (await q(`SELECT id, patient_id FROM waiting_list_entry WHERE pathway_id = $1`, [r.PATIENT_PATHWAY_IDENTIFIER]))[0];
    const [slot] = await q(
      `INSERT INTO slot (trust_ods, site_ods, clinic_code, tfc, appointment_type, start_at, duration_minutes, filler_appointment_id, source_event_id, status, cutoff_at)
       VALUES ('RQM', 'RQM01', '330-NEW', '330', 'NEW', now() + interval '5 days', 20, $1, $1, 'offering', now() + interval '4 days') RETURNING id`, [uid('PTLSLOT')]);
    const [wave] = await q(`INSERT INTO offer_wave (slot_id, round, status, policy_version, send_at, expires_at) VALUES ($1, 1, 'live', 1, now(), now() + interval '2 hours') RETURNING id`, [slot.id]);
    const offerFor = async (r: Record<string, string>, status: string) => {
      const e = await entry(r);
      return (await q(
        `INSERT INTO offer (slot_id, wave_id, entry_id, patient_id, rank, explanation, policy_version, code, token, status, expires_at)
         VALUES ($1, $2, $3, $4, 1, '{}', 1, '1234', $5, $6, now() + interval '2 hours') RETURNING id, entry_id, patient_id`, [slot.id, wave.id, e.id, e.patient_id, uid('T'), status]))[0];
    };
    const liveOffer = await offerFor(offered, 'live');
    const bookingFor = async (r: Record<string, string>) => {
      const o = await offerFor(r, 'accepted');
      await pg.query(`UPDATE waiting_list_entry SET status = 'booked' WHERE id = $1`, [o.entry_id]);
      return (await q(
        `INSERT INTO booking (slot_id, offer_id, entry_id, patient_id, status, owning_trust_ods, home_trust_ods) VALUES ($1, $2, $3, $4, 'pending', 'RQM', 'RQM') RETURNING id, entry_id`,
        [slot.id, o.id, o.entry_id, o.patient_id]))[0];
    };
    // Only one booking per slot may be live, so the second in-flight booking is on a slot of its own.
    const pendingBooking = await bookingFor(booking);
    await pg.query(`UPDATE booking SET status = 'failed' WHERE id = $1`, [pendingBooking.id]);
    await pg.query(`UPDATE waiting_list_entry SET status = 'open' WHERE id = $1`, [pendingBooking.entry_id]);
    const inFlight = await bookingFor(failedBooking);
    await pg.query(`UPDATE waiting_list_entry SET status = 'open' WHERE id = $1`, [inFlight.entry_id]);

    const snap = await ptl(csv([keep, added]));
    expect(snap.json).toMatchObject({ mode: 'snapshot', accepted: 2, closed: 2, deferred: 2 });
    expect(await entryStatus(plain.PATIENT_PATHWAY_IDENTIFIER)).toEqual({ status: 'closed', close_pending: false });
    expect(await entryStatus(booking.PATIENT_PATHWAY_IDENTIFIER)).toEqual({ status: 'closed', close_pending: false });
    expect(await entryStatus(offered.PATIENT_PATHWAY_IDENTIFIER)).toEqual({ status: 'open', close_pending: true });
    expect(await entryStatus(failedBooking.PATIENT_PATHWAY_IDENTIFIER)).toEqual({ status: 'open', close_pending: true });

    // The offer ends and the booking fails: both entries close then, in the transactions that settled them.
    await pg.query(`UPDATE offer SET status = 'expired', ended_at = now() WHERE id = $1`, [liveOffer.id]);
    expect(await entryStatus(offered.PATIENT_PATHWAY_IDENTIFIER)).toEqual({ status: 'closed', close_pending: false });
    await pg.query('BEGIN');
    await pg.query(`UPDATE booking SET status = 'failed' WHERE id = $1`, [inFlight.id]);
    await pg.query(`UPDATE waiting_list_entry SET status = 'open' WHERE id = $1`, [inFlight.entry_id]);
    expect(await entryStatus(failedBooking.PATIENT_PATHWAY_IDENTIFIER)).toEqual({ status: 'open', close_pending: true });
    await pg.query('COMMIT');
    expect(await entryStatus(failedBooking.PATIENT_PATHWAY_IDENTIFIER)).toEqual({ status: 'closed', close_pending: false });
    // Listed again later: open again, nothing pending.
    await ptl(csv([offered]), 'delta');
    expect(await entryStatus(offered.PATIENT_PATHWAY_IDENTIFIER)).toEqual({ status: 'open', close_pending: false });
  });

  // An entry as the booking team and matching see it: its pathway's data, status and contact details.
  const entryAsStored = async (pathwayId: string) => (await q(
    `SELECT e.status, e.close_pending, e.priority, e.tfc, e.offer_consent, e.updated_at, p.mobile, p.mobile_status
       FROM waiting_list_entry e JOIN patient p ON p.id = e.patient_id WHERE e.trust_ods = 'RQM' AND e.pathway_id = $1`, [pathwayId]))[0];
  const lastSnapshotRecord = async () => (await q(
    `SELECT status, rows, rejected, closed, deferred, closing_withheld FROM ptl_import WHERE trust_ods = 'RQM' AND mode = 'snapshot' ORDER BY started_at DESC LIMIT 1`))[0];

  it('a snapshot keeps a pathway whose row it lists but rejects (a landline as MOBILE_NUMBER) exactly as it was, and closes only the pathways it does not list', async () => {
    // Not opted in to offers: matching never holds them with an offer (which would defer a close).
    const [listedBadly, gone, ...others] = Array.from({ length: 12 }, () => ptlRow({ OFFER_CONSENT: 'N' }));
    expect((await ptl(csv([listedBadly, gone, ...others]))).json).toMatchObject({ accepted: 12, rejected: 0 });
    const before = await entryAsStored(listedBadly.PATIENT_PATHWAY_IDENTIFIER);
    expect(before).toMatchObject({ status: 'open', priority: 'P3' });

    // The next day's extract: the patient's mobile is now a landline (and the row's priority changed);
    // `gone` was treated and is no longer on the list. One row of eleven rejected: under the limit.
    const badRow = { ...listedBadly, MOBILE_NUMBER: '020 7946 0123', Outpatient_Priority_Code: 'P2' };
    const snap = await ptl(csv([badRow, ...others]));
    expect(snap.status).toBe(200);
    expect(snap.json).toMatchObject({
      mode: 'snapshot', accepted: 10, rejected: 1, closed: 1, deferred: 0, rejectedRows: [{ row: 1, reasons: ['MOBILE_NUMBER is not a UK mobile'] }],
    });
    expect(snap.json).not.toHaveProperty('closingWithheld');
    // Neither closed nor updated with the rejected row's data.
    expect(await entryAsStored(listedBadly.PATIENT_PATHWAY_IDENTIFIER)).toEqual(before);
    expect(await entryStatus(gone.PATIENT_PATHWAY_IDENTIFIER)).toEqual({ status: 'closed', close_pending: false });
    for (const r of others) expect((await entryStatus(r.PATIENT_PATHWAY_IDENTIFIER)).status).toBe('open');
    expect(await lastSnapshotRecord()).toEqual({ status: 'completed', rows: 11, rejected: 1, closed: 1, deferred: 0, closing_withheld: null });
  });

  it('a snapshot with more than PTL_SNAPSHOT_MAX_REJECTED_PERCENT (10%) of its rows rejected closes nothing, even pathways whose rows lost their identifier, and says why in its answer and on its import record', async () => {
    const list = Array.from({ length: 10 }, () => ptlRow({ OFFER_CONSENT: 'N' }));
    expect((await ptl(csv(list))).json).toMatchObject({ accepted: 10, rejected: 0 });
    // The PAS extract changed: birth dates now come as DD/MM/YYYY, and two rows lost their pathway
    // id (those could protect nothing); one row is still good and one pathway is really gone.
    const changed = [
      list[0],
      ...list.slice(1, 7).map((r) => ({ ...r, PERSON_BIRTH_DATE: '03/02/1971' })),
      ...list.slice(7, 9).map((r) => ({ ...r, PATIENT_PATHWAY_IDENTIFIER: '' })),
    ];
    const snap = await ptl(csv(changed));
    expect(snap.status).toBe(200);
    expect(snap.json).toMatchObject({ mode: 'snapshot', accepted: 1, rejected: 8, closed: 0, deferred: 0 });
    expect(snap.json.rejectedRows).toHaveLength(8);
    expect(snap.json.closingWithheld).toMatch(/^8 of 9 rows \(88\.9%\) were rejected, more than PTL_SNAPSHOT_MAX_REJECTED_PERCENT \(10%\).*closed nothing/);
    for (const r of list) expect(await entryStatus(r.PATIENT_PATHWAY_IDENTIFIER)).toEqual({ status: 'open', close_pending: false });
    expect(await lastSnapshotRecord()).toEqual({ status: 'completed', rows: 9, rejected: 8, closed: 0, deferred: 0, closing_withheld: snap.json.closingWithheld });
    // …and the on-call operator can alert on it.
    expect((await http('GET', '/metrics', { token: null })).text).toMatch(/^ptl_imports_total\{[^}]*trust="RQM"[^}]*mode="snapshot"[^}]*outcome="closing_withheld"[^}]*\} 1$/m);

    // The fixed file goes again: now the pathway that is gone closes.
    const fixed = await ptl(csv(list.slice(0, 9)));
    expect(fixed.json).toMatchObject({ accepted: 9, rejected: 0, closed: 1 });
    expect(await entryStatus(list[9].PATIENT_PATHWAY_IDENTIFIER)).toEqual({ status: 'closed', close_pending: false });
  });

  it('a row with a NUL (or another control character) is rejected as a row naming its column; the other rows are stored and the snapshot completes', async () => {
    // Postgres refuses U+0000 in text with the whole statement: once that was a 500 for the file,
    // with the batches sent alongside stored and the snapshot left running.
    const good = Array.from({ length: 20 }, () => ptlRow({ OFFER_CONSENT: 'N' }));
    const nul = ptlRow({ PATIENT_PATHWAY_IDENTIFIER: `PW\u0000${ptlSeq}` });
    const escape = ptlRow({ CURRENT_APPOINTMENT_ID: 'A\u001B1' });
    const snap = await ptl(csv([...good.slice(0, 10), nul, ...good.slice(10), escape], [...PTL_COLUMNS, 'CURRENT_APPOINTMENT_ID']));
    expect(snap.status).toBe(200);
    expect(snap.json).toMatchObject({
      mode: 'snapshot', accepted: 20, rejected: 2,
      rejectedRows: [
        { row: 11, reasons: ['PATIENT_PATHWAY_IDENTIFIER contains a control character (U+0000)'] },
        { row: 22, reasons: ['CURRENT_APPOINTMENT_ID contains a control character (U+001B)'] },
      ],
    });
    expect(snap.json).not.toHaveProperty('closingWithheld');
    for (const r of good) expect(await entryStatus(r.PATIENT_PATHWAY_IDENTIFIER)).toEqual({ status: 'open', close_pending: false });
    expect(await lastSnapshotRecord()).toMatchObject({ status: 'completed', rows: 22, rejected: 2, closing_withheld: null });
  });

  it('a snapshot whose CSV breaks part-way closes nothing, and its import record says why', async () => {
    const list = Array.from({ length: 3 }, () => ptlRow({ OFFER_CONSENT: 'N' }));
    await ptl(csv(list));
    const snap = await ptl(csv([list[0]]) + '"unterminated,quote\r\n');
    expect(snap.status).toBe(200);
    expect(snap.json).toMatchObject({ accepted: 1, closed: 0, closingWithheld: expect.stringMatching(/could not be read to its end.*closed nothing/) });
    for (const r of list) expect((await entryStatus(r.PATIENT_PATHWAY_IDENTIFIER)).status).toBe('open');
    expect(await lastSnapshotRecord()).toMatchObject({ status: 'completed', closed: 0, closing_withheld: snap.json.closingWithheld });
  });

  it('the same snapshot sent twice at once (a pusher retrying after a timeout): one is applied, the other refused 409 before any row of it is, and the list stays open', async () => {
    const rows = Array.from({ length: 3_000 }, () => ptlRow({ OFFER_CONSENT: 'N' }));
    const lines = csv(rows).split('\r\n');
    // Each upload sends its header and first 2,500 rows (a whole batch: the adapter starts its
    // snapshot), then waits until both have been under way for a while, then the rest: they overlap.
    const head = lines.slice(0, 2_501).join('\r\n') + '\r\n';
    const tail = lines.slice(2_501).join('\r\n');
    const gate = new Promise((r) => setTimeout(r, 1_500));
    const upload = async () => {
      const body = new ReadableStream<Uint8Array>({
        async start(c) {
          c.enqueue(new TextEncoder().encode(head));
          await gate;
          c.enqueue(new TextEncoder().encode(tail));
          c.close();
        },
      });
      const res = await fetch(`http://127.0.0.1:${ADAPTER_PORT}/v1/ptl`, {
        method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'text/csv' }, body, duplex: 'half',
      } as RequestInit);
      return { status: res.status, json: (await res.json()) as any };
    };
    const answers = await Promise.all([upload(), upload()]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    const applied = answers.find((a) => a.status === 200)!.json;
    const refused = answers.find((a) => a.status === 409)!.json;
    expect(applied).toMatchObject({ accepted: 3_000, rejected: 0 });
    expect(refused).toMatchObject({ error: 'ptl_snapshot_running' });
    expect(refused.message).toMatch(/Another PTL snapshot of this trust is still being applied.*nothing in it was applied.*already running/);
    const ids = rows.map((r) => r.PATIENT_PATHWAY_IDENTIFIER);
    expect(await count(`SELECT count(*) AS n FROM waiting_list_entry WHERE trust_ods = 'RQM' AND pathway_id = ANY($1) AND status = 'open'`, [ids])).toBe(3_000);
    expect(await count(`SELECT count(*) AS n FROM ptl_import WHERE trust_ods = 'RQM' AND status = 'running'`)).toBe(0);
  });
});

describe('security: this trust\'s credentials act on this trust\'s data only', () => {
  const ex = (method: string, path: string, token: string | null = 'dev-exchange-RQM-token', body?: unknown) =>
    http(method, path, { port: EXCHANGE_PORT, token, body: body === undefined ? undefined : JSON.stringify(body), type: body === undefined ? undefined : 'application/json' });

  it('every exchange endpoint refuses the RQM adapter\'s token on another trust\'s routes and resources', async () => {
    const rasSnapshot = (await ex('POST', '/v1/trusts/RAS/waiting-list/snapshots', 'dev-exchange-RAS-token')).json.snapshotId;
    expect(rasSnapshot).toEqual(expect.any(String));
    // A RAS write-back (for a RAS booking), as the booking service would leave it.
    const p = (await q(`INSERT INTO patient (nhs_number) VALUES ($1) RETURNING id`, [syntheticNhsNumber(90_001)]))[0];
    const e = (await q(`INSERT INTO waiting_list_entry (trust_ods, pathway_id, patient_id, tfc, appointment_type, priority, priority_rank, rtt_start, breach_date)
                        VALUES ('RAS', $1, $2, '330', 'NEW', 'P3', 4, '2026-01-01', '2026-05-01') RETURNING id`, [uid('RASPW'), p.id]))[0];
    const s = (await q(`INSERT INTO slot (trust_ods, site_ods, clinic_code, tfc, appointment_type, start_at, duration_minutes, filler_appointment_id, source_event_id, status, cutoff_at)
                        VALUES ('RAS', 'RAS01', '330-NEW', '330', 'NEW', now() + interval '5 days', 20, $1, $1, 'booked', now() + interval '4 days') RETURNING id`, [uid('RASSLOT')]))[0];
    const w = (await q(`INSERT INTO offer_wave (slot_id, round, status, policy_version, send_at, expires_at) VALUES ($1, 1, 'ended', 1, now(), now()) RETURNING id`, [s.id]))[0];
    const o = (await q(`INSERT INTO offer (slot_id, wave_id, entry_id, patient_id, rank, explanation, policy_version, code, token, status, expires_at)
                        VALUES ($1, $2, $3, $4, 1, '{}', 1, '1', $5, 'accepted', now()) RETURNING id`, [s.id, w.id, e.id, p.id, uid('TK')]))[0];
    const b = (await q(`INSERT INTO booking (slot_id, offer_id, entry_id, patient_id, status, owning_trust_ods, home_trust_ods) VALUES ($1, $2, $3, $4, 'pending', 'RAS', 'RAS') RETURNING id`, [s.id, o.id, e.id, p.id]))[0];
    const wb = (await q(`INSERT INTO writeback (booking_id, trust_ods, kind, status) VALUES ($1, 'RAS', 'book', 'pending') RETURNING id`, [b.id]))[0];
    // That booking as an inter-provider transfer from RQM's list into RAS: RAS's to read, not RQM's (the sender) nor anyone else's.
    const sent = (await q(`INSERT INTO waiting_list_entry (trust_ods, pathway_id, patient_id, tfc, appointment_type, priority, priority_rank, rtt_start, breach_date)
                           VALUES ('RQM', $1, $2, '330', 'NEW', 'P3', 4, '2026-01-01', '2026-05-01') RETURNING id, pathway_id`, [uid('RQMPW'), p.id]))[0];
    const ipt = (await q(`INSERT INTO inter_provider_transfer (booking_id, entry_id, patient_id, sending_trust_ods, receiving_trust_ods, referral_pathway_id, tfc, appointment_type, priority, rtt_start, appointment_start, pas_appointment_id)
                          VALUES ($1, $2, $3, 'RQM', 'RAS', $4, '330', 'NEW', 'P3', '2026-01-01', now() + interval '5 days', 'RAS-APPT-1') RETURNING id`, [b.id, sent.id, p.id, sent.pathway_id]))[0];

    const event = { eventId: uid('EV'), kind: 'slot-released', controlId: uid('C'), siteOds: 'RAS01', clinicCode: '330-NEW', tfc: '330', appointmentType: 'NEW', start: later().toISOString(), durationMinutes: 20, fillerAppointmentId: uid('F') };
    const batch = { mode: 'delta', rows: [] };
    const outcome = { outcome: 'succeeded', pasAppointmentId: 'HIJACK' };
    // Another trust's routes: forbidden, whatever the body.
    const otherRoutes: Array<[string, string, unknown?]> = [
      ['POST', '/v1/trusts/RAS/events', event],
      ['POST', '/v1/trusts/RAS/events/batch', { events: [event] }],
      ['POST', '/v1/trusts/RAS/waiting-list', batch],
      ['POST', '/v1/trusts/RAS/waiting-list/snapshots'],
      ['POST', `/v1/trusts/RAS/waiting-list/snapshots/${rasSnapshot}/complete`],
      ['POST', `/v1/trusts/RAS/waiting-list/snapshots/${rasSnapshot}/abandon`],
      ['GET', `/v1/trusts/RAS/writebacks/${wb.id}`],
      ['POST', `/v1/trusts/RAS/writebacks/${wb.id}/outcome`, outcome],
      ['GET', '/v1/trusts/RAS/transfers'],
    ];
    for (const [method, path, body] of otherRoutes) {
      expect([method, path, (await ex(method, path, 'dev-exchange-RQM-token', body)).status]).toEqual([method, path, 403]);
      expect([method, path, (await ex(method, path, null, body)).status]).toEqual([method, path, 401]);
      expect([method, path, (await ex(method, path, 'dev-RAS-token', body)).status]).toEqual([method, path, 401]);
    }
    // Its own routes, pointed at another trust's resources: not found, or refused, and nothing changes.
    const ownRoutes: Array<[string, string, unknown, number]> = [
      ['POST', '/v1/trusts/RQM/events', { ...event, eventId: uid('EV') }, 422],
      ['POST', '/v1/trusts/RQM/waiting-list', { mode: 'snapshot', snapshotId: rasSnapshot, rows: [] }, 404],
      ['POST', `/v1/trusts/RQM/waiting-list/snapshots/${rasSnapshot}/complete`, undefined, 404],
      ['POST', `/v1/trusts/RQM/waiting-list/snapshots/${rasSnapshot}/abandon`, undefined, 404],
      ['GET', `/v1/trusts/RQM/writebacks/${wb.id}`, undefined, 404],
      ['POST', `/v1/trusts/RQM/writebacks/${wb.id}/outcome`, outcome, 404],
      ['GET', '/v1/trusts/RQM/transfers', undefined, 200],
    ];
    for (const [method, path, body, status] of ownRoutes) {
      expect([method, path, (await ex(method, path, 'dev-exchange-RQM-token', body)).status]).toEqual([method, path, status]);
    }
    // A batch on its own route carrying another trust's site: that event is refused on its own, its neighbour applied.
    const own = { ...event, eventId: uid('EV'), siteOds: 'RQM01', fillerAppointmentId: uid('F') };
    const mixed = await ex('POST', '/v1/trusts/RQM/events/batch', 'dev-exchange-RQM-token', { events: [{ ...event, eventId: uid('EV') }, own] });
    expect(mixed.status).toBe(200);
    expect(mixed.json.results.map((r: { refused?: { status: number }; outcome?: string }) => r.refused?.status ?? r.outcome)).toEqual([422, 'slot-created']);
    expect((await q(`SELECT trust_ods FROM slot WHERE filler_appointment_id = $1`, [own.fillerAppointmentId])).map((r: { trust_ods: string }) => r.trust_ods)).toEqual(['RQM']);
    // RQM's own transfer list does not show the one into RAS (even though RQM sent it), while RAS's does.
    expect((await ex('GET', '/v1/trusts/RQM/transfers')).json.map((t: { id: string }) => t.id)).not.toContain(ipt.id);
    expect((await ex('GET', '/v1/trusts/RAS/transfers', 'dev-exchange-RAS-token')).json.map((t: { id: string }) => t.id)).toContain(ipt.id);
    // Paged by the cursor a record carries: the next page starts after it; a malformed cursor is a 400, here and at the adapter.
    const rasTransfers = (await ex('GET', '/v1/trusts/RAS/transfers', 'dev-exchange-RAS-token')).json as Array<{ id: string; cursor: string }>;
    const mine = rasTransfers.find((t) => t.id === ipt.id)!;
    expect((await ex('GET', `/v1/trusts/RAS/transfers?after=${mine.cursor}`, 'dev-exchange-RAS-token')).json.map((t: { id: string }) => t.id)).not.toContain(ipt.id);
    expect((await ex('GET', '/v1/trusts/RAS/transfers?after=yesterday', 'dev-exchange-RAS-token')).status).toBe(400);
    expect([(await http('GET', `/v1/transfers?after=${mine.cursor}&limit=5`)).status, (await http('GET', '/v1/transfers?after=yesterday')).status]).toEqual([200, 400]);
    expect((await q(`SELECT status FROM writeback WHERE id = $1`, [wb.id]))[0].status).toBe('pending');
    expect((await q(`SELECT status FROM ptl_import WHERE id = $1`, [rasSnapshot]))[0].status).toBe('running');
    expect(await count(`SELECT count(*) AS n FROM slot WHERE filler_appointment_id = $1`, [event.fillerAppointmentId])).toBe(0);
  });

  it('a columnar waiting-list batch with one bad value is a 400 naming it, and stores none of its rows', async () => {
    const columns = rowsToColumns([1, 2].map((i) => ({
      rowNumber: i, pathwayId: uid(`PW-COLS-${i}-`), nhsNumber: syntheticNhsNumber(91_000 + i), birthDate: '1970-01-01', tfc: '330', appointmentType: 'NEW',
      rttStart: '2026-03-01', priority: 'P3', mobile: null, offerConsent: true, icsWideConsent: true, acceptableSites: ['ANY'], unavailable: [],
    })));
    const bad = { ...columns, tfc: ['330', '33X'] };
    const refused = await ex('POST', '/v1/trusts/RQM/waiting-list', 'dev-exchange-RQM-token', { mode: 'delta', columns: bad });
    expect([refused.status, refused.json.error, refused.json.details]).toEqual([400, 'validation_failed', ['columns.tfc[1] must be 3 digits']]);
    // The rest of the body is still checked as strictly as before.
    expect((await ex('POST', '/v1/trusts/RQM/waiting-list', 'dev-exchange-RQM-token', { mode: 'sometimes', columns })).status).toBe(400);
    expect((await ex('POST', '/v1/trusts/RQM/waiting-list', 'dev-exchange-RQM-token', { mode: 'delta', columns, extra: 1 })).status).toBe(400);
    expect((await ex('POST', '/v1/trusts/RQM/waiting-list', 'dev-exchange-RQM-token', { mode: 'delta', columns: 'all of them' })).status).toBe(400);
    expect(await count(`SELECT count(*) AS n FROM waiting_list_entry WHERE pathway_id = ANY($1)`, [columns.pathwayId])).toBe(0);
    const ok = await ex('POST', '/v1/trusts/RQM/waiting-list', 'dev-exchange-RQM-token', { mode: 'delta', columns });
    expect([ok.status, ok.json]).toEqual([200, { applied: 2 }]);
    expect(await count(`SELECT count(*) AS n FROM waiting_list_entry WHERE pathway_id = ANY($1)`, [columns.pathwayId])).toBe(2);
  });

  it('a waiting-list batch with null rows or columns, or a control character in a row, is a 400 saying what is wrong, and stores nothing', async () => {
    const before = await count(`SELECT count(*) AS n FROM waiting_list_entry`);
    for (const body of [{ mode: 'delta', rows: null }, { mode: 'delta', columns: null }, { mode: 'delta', rows: null, columns: null }]) {
      const refused = await ex('POST', '/v1/trusts/RQM/waiting-list', 'dev-exchange-RQM-token', body);
      expect([JSON.stringify(body), refused.status, refused.json.message]).toEqual([JSON.stringify(body), 400, expect.stringMatching(/either rows or columns/)]);
    }
    const row = {
      rowNumber: 1, pathwayId: 'PW\u00001', nhsNumber: syntheticNhsNumber(91_100), birthDate: '1970-01-01', tfc: '330', appointmentType: 'NEW',
      rttStart: '2026-03-01', priority: 'P3', offerConsent: true, icsWideConsent: true, acceptableSites: ['ANY'], unavailable: [],
    };
    const nul = await ex('POST', '/v1/trusts/RQM/waiting-list', 'dev-exchange-RQM-token', { mode: 'delta', rows: [row] });
    expect([nul.status, nul.json.details]).toEqual([400, ['rows.0.pathwayId: pathwayId must not contain a control character']]);
    const nulId = await ex('POST', '/v1/trusts/RQM/waiting-list', 'dev-exchange-RQM-token', { mode: 'snapshot', snapshotId: '00000000-0000-4000-8000-000000000000\u0000', rows: [{ ...row, pathwayId: 'PW1' }] });
    expect(nulId.status).toBe(400);
    expect(await count(`SELECT count(*) AS n FROM waiting_list_entry`)).toBe(before);
  });

  it('every adapter endpoint refuses another trust\'s token, and no token', async () => {
    const routes: Array<[string, string, string?, string?]> = [
      ['POST', '/hl7', siu(), 'application/hl7-v2'],
      ['POST', '/v1/ptl', csv([ptlRow()]), 'text/csv'],
      ['POST', '/v1/ptl?mode=delta', csv([ptlRow()]), 'text/csv'],
      ['GET', '/v1/messages?controlId=X'],
      ['GET', '/v1/unmapped-clinics'],
      ['GET', '/v1/transfers'],
    ];
    const before = await count(`SELECT count(*) AS n FROM waiting_list_entry`);
    for (const [method, path, body, type] of routes) {
      for (const token of ['dev-RAS-token', 'dev-exchange-RQM-token', 'dev-RQM-tokeN', null]) {
        expect([method, path, token, (await http(method, path, { body, type, token })).status]).toEqual([method, path, token, 401]);
      }
    }
    expect(await count(`SELECT count(*) AS n FROM waiting_list_entry`)).toBe(before);
  });
});

describe('fuzz: broken input is always answered and never half-applied', () => {
  // 10,000 more of each run without the database in testing/edge.fuzz.spec.ts; here the point is atomicity against real storage.
  it('400 broken HL7 messages over MLLP from 4 senders: each ACKed AA/AE/AR; AA exactly for what was stored with its forwarding job', async () => {
    const fuzzStart = new Date();
    const breakers = fc.sample(mutations('\r'), { numRuns: 400, seed: 20261130 });
    const messages = breakers.map((breakIt, i) => breakIt(siu({ controlId: `FZ${i}X`, fillerId: `FZF${i}`, start: later(5) })));
    const clients = Array.from({ length: 4 }, () => new MllpClient('127.0.0.1', MLLP_PORT, { timeoutMs: 20_000 }));
    const acks: Array<{ code: string; controlId: string } | null> = new Array(messages.length);
    try {
      await Promise.all(clients.map(async (c, k) => {
        for (let i = k; i < messages.length; i += clients.length) acks[i] = readAck(await c.send(messages[i]));
      }));
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
    const codes = acks.map((a) => a?.code);
    expect(codes.filter((c) => c !== 'AA' && c !== 'AE' && c !== 'AR')).toEqual([]);
    expect(codes.filter((c) => c !== 'AA').length).toBeGreaterThan(messages.length / 2);

    const aaIds = new Set(acks.filter((a) => a!.code === 'AA').map((a) => a!.controlId));
    const stored = await q<{ control_id: string; status: string; has_event: boolean; jobs: number }>(
      `SELECT m.control_id, m.status, m.event IS NOT NULL AS has_event,
              (SELECT count(*)::int FROM outbox o WHERE o.job_name = 'forward-hl7' AND o.payload->>'hl7MessageId' = m.id::text) AS jobs
         FROM hl7_message m WHERE m.trust_ods = 'RQM' AND m.received_at >= $1`,
      [fuzzStart],
    );
    const accepted = stored.filter((r) => r.status === 'accepted');
    // Nothing half-applied: an accepted message has its event and exactly one forwarding job; a refused one neither.
    expect(accepted.filter((r) => !r.has_event || r.jobs !== 1)).toEqual([]);
    expect(stored.filter((r) => r.status === 'refused' && (r.has_event || r.jobs !== 0))).toEqual([]);
    // AA was answered exactly for the control ids that are stored as accepted.
    expect(new Set(accepted.map((r) => r.control_id))).toEqual(aaIds);
    // Every refusal was kept for inspection.
    expect(stored.filter((r) => r.status === 'refused').length).toBe(codes.filter((c) => c !== 'AA').length);

    // Still standing: a good message is accepted, and the health check answers.
    expect((await mllp(siu())).code).toBe('AA');
    expect((await http('GET', '/health/live', { token: null })).status).toBe(200);
  });

  it('60 broken PTL files over HTTP: each answered 200 with per-row reasons or 400 changing nothing, never a 5xx', async () => {
    const breakers = fc.sample(mutations('\r\n'), { numRuns: 60, seed: 1130 });
    const total = () => count(`SELECT count(*) AS n FROM waiting_list_entry WHERE trust_ods = 'RQM'`);
    for (const [i, breakIt] of breakers.entries()) {
      const file = breakIt(csv(Array.from({ length: 4 }, () => ptlRow())));
      const before = await total();
      const res = await ptl(file, 'delta');
      const added = (await total()) - before;
      expect([i, res.status, res.status === 500 ? file + res.text : '']).toEqual([i, res.status === 200 ? 200 : 400, '']);
      if (res.status === 400) {
        expect([i, added]).toEqual([i, 0]);
        expect(res.json?.message).toEqual(expect.any(String));
      } else {
        expect(added).toBeLessThanOrEqual(res.json.accepted);
        expect(res.json.rejectedRows).toHaveLength(res.json.rejected);
        for (const r of res.json.rejectedRows) {
          expect(r.row).toBeGreaterThan(0);
          expect(r.reasons.length).toBeGreaterThan(0);
        }
      }
    }
  });
});

/** Writes chunks to a fresh connection (with a pause between them) and collects `n` ACKs. */
async function rawExchange(chunks: Buffer[], n: number, pauseMs = 0): Promise<string[]> {
  const s = net.connect(MLLP_PORT, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  const acks: string[] = [];
  let buf = Buffer.alloc(0);
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${acks.length} of ${n} ACKs`)), 10_000);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (let end = buf.indexOf(0x1c); end >= 0; end = buf.indexOf(0x1c)) {
        acks.push(buf.subarray(buf.indexOf(0x0b) + 1, end).toString('utf8'));
        buf = buf.subarray(end + 2);
      }
      if (acks.length >= n) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  for (const c of chunks) {
    s.write(c);
    if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
  }
  await done;
  s.destroy();
  return acks;
}

