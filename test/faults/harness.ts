/**
 * Shared by the fault suites: a whole stack on shifted ports (13000+) over a fresh database, its
 * own `redis-server` (so the Redis fault can stop and restart it without touching anyone else's)
 * and a fault-injecting proxy in front of pas-sim that every adapter writes back through; and
 * helpers that build data the way a trust would (PTL upload, SIU^S15 over MLLP) and answer offers
 * the way a patient would (notify-sim's /sim/reply, which goes through the notifier's real inbound
 * callback). Suites that only need the shared Redis use database 5 of it (REDIS_DB).
 */
import { QueueName } from '@app/contracts';
import { buildSiu, sendMllp } from '@app/hl7';
import { LIVE_JOB_STATES, OutboxRelay, QUEUE_EPOCH_KEY, createTestDatabase, dataSourceOptions, TestDatabase } from '@app/persistence';
import { IcsDirectory, MetricsService, QueueService, loadIcsDirectory } from '@app/platform';
import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import { ChildProcess, spawn } from 'node:child_process';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { FreshStores, freshStores } from '../../tools/stack/fresh-stack';
import { startStack, Stack } from '../../tools/stack/processes';
import { PasProxy, startPasProxy } from './pas-proxy';
import { CapturedLogs } from '../support/captured-logs';
import { http, until } from '../support/wait';
import { syntheticNhsNumber as nhs } from '@app/domain';

export { http, nhs, until };

export const OFFSET = 13000;
export const REDIS_DB = 5;
/** The fault world's own Redis, and the PAS proxy, on ports of this suite's range. */
export const OWN_REDIS_PORT = OFFSET + 379;
export const PAS_PROXY_PORT = OFFSET + 3250;
export const HOUR = 3_600_000;
export const TRUSTS = ['RQM', 'RAS', 'R1K', 'RYJ'];
/**
 * A write-back gives up on an unreachable PAS after 30 s here instead of 30 minutes; every
 * scenario's PAS that recovers does so well within that.
 */
export const WRITEBACK_GIVE_UP_MINUTES = 0.5;
/** LOG_LEVEL info: the last fault test reads every line for personal data. */
export const STACK_ENV = { DEMO: '0', QUIET_HOURS: '', SIM_AUTOREPLY: '0', LOG_LEVEL: 'info', PAS_WRITEBACK_GIVE_UP_MINUTES: String(WRITEBACK_GIVE_UP_MINUTES) };
const SITE: Record<string, string> = { RQM: 'RQM01', RAS: 'RAS01', R1K: 'R1K01', RYJ: 'RYJ02' };
export const ADAPTER_HTTP: Record<string, number> = { RQM: 3101, RAS: 3102, R1K: 3103, RYJ: 3104 };
const ADAPTER_MLLP: Record<string, number> = { RQM: 2575, RAS: 2576, R1K: 2577, RYJ: 2578 };

export const url = (p: number, path: string) => `http://127.0.0.1:${p + OFFSET}${path}`;

/** A redis-server of our own, without persistence: a restart comes back empty, as after a loss. */
export class OwnRedis {
  private child?: ChildProcess;
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  async start(): Promise<void> {
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
    await until('our redis-server to answer', async () => {
      const r = new IORedis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      try {
        await r.connect();
        return (await r.ping()) === 'PONG';
      } finally {
        r.disconnect();
      }
    }, 10_000, 100);
  }

  /** Stops it the hard way (its data goes with it) and waits until it is gone. */
  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await gone;
  }
}

export interface FaultWorld {
  db: TestDatabase;
  redis: OwnRedis;
  redisUrl: string;
  pas: PasProxy;
  stackEnv: Record<string, string>;
  stack: Stack;
  pg: Client;
  /** Per process name, added over stackEnv for that process (WorldOptions.envFor). */
  envFor: Record<string, Record<string, string>>;
  /** Stacks started later (a restarted process); stopped with the rest. */
  extra: Stack[];
  /** Every line every process of the world printed (pass `log` to stacks started later too). */
  logs: string[];
  log: (line: string) => void;
}

export interface WorldOptions {
  /** Process names to start (default: every process of the stack). */
  apps?: string[];
  /** Added to STACK_ENV for every process, and for every process restarted later. */
  env?: Record<string, string>;
  /** Added over that for the named processes only, and for them when restarted later. */
  envFor?: Record<string, Record<string, string>>;
}

export async function startWorld(prefix: string, opts: WorldOptions = {}): Promise<FaultWorld> {
  const db = await createTestDatabase(prefix);
  const redis = new OwnRedis(OWN_REDIS_PORT);
  await redis.start();
  const pas = await startPasProxy(PAS_PROXY_PORT, `http://127.0.0.1:${3200 + OFFSET}`);
  const stackEnv = { ...STACK_ENV, ...Object.fromEntries(TRUSTS.map((ods) => [`PAS_FHIR_BASE_URL_${ods}`, `${pas.baseUrl}/${ods}/fhir`])), ...opts.env };
  const logs: string[] = [];
  const log = (line: string) => void logs.push(line);
  const envFor = opts.envFor ?? {};
  const stack = await startStack({ databaseUrl: db.url, redisUrl: redis.url, portOffset: OFFSET, env: stackEnv, envFor, apps: opts.apps, log });
  const pg = new Client({ connectionString: db.url });
  await pg.connect();
  return { db, redis, redisUrl: redis.url, pas, stackEnv, envFor, stack, pg, extra: [], logs, log };
}

/** The running (newest) process of that name: a restarted one, else the world's own. */
export function processOf(w: FaultWorld, name: string): { name: string; pid: number } {
  const p = [...w.extra].reverse().flatMap((s) => s.processes).find((x) => x.name === name) ?? w.stack.processes.find((x) => x.name === name);
  if (!p) throw new Error(`no process ${name} in this world`);
  return p;
}

export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** `kill -9` of the named process (it leads its own process group: the whole group goes), and waits until it is gone. */
export async function killHard(w: FaultWorld, name: string): Promise<void> {
  const { pid } = processOf(w, name);
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    process.kill(pid, 'SIGKILL');
  }
  await until(`${name} to be gone`, async () => !alive(pid), 10_000, 20);
}

/** Starts the named process (again, after a kill; or one the world left out), on its ports, with the world's settings (its own among them) and `env` over them. */
export async function startProcess(w: FaultWorld, name: string, env: Record<string, string> = {}): Promise<void> {
  w.extra.push(await startStack({ databaseUrl: w.db.url, redisUrl: w.redisUrl, portOffset: OFFSET, env: { ...w.stackEnv, ...w.envFor[name], ...env }, apps: [name], log: w.log }));
}

/** Every patient `uploadPatients` has put on a PTL in this test process (the personal data to look for). */
const uploaded: Patient[] = [];

/**
 * Where any of `people`'s NHS numbers or mobiles (as +44…, 0… or 44…) appears in the world's
 * process logs or anywhere in its Redis — key names (job ids), job data, failure reasons and
 * stack traces, event streams — after whatever faults the suite ran. `[]` when none does. By
 * default the people are every patient `uploadPatients` put on a PTL; a suite running its apps in
 * this process passes the lines it captured (captured-logs.ts) and the people it made.
 */
export async function personalDataFound(
  w: Pick<FaultWorld, 'logs' | 'redisUrl'>, people: Array<{ nhs: string; mobile?: string | null }> = uploaded,
): Promise<Array<{ where: string; what: string }>> {
  const redis = new IORedis(w.redisUrl, { maxRetriesPerRequest: 1 });
  const texts: Array<{ where: string; text: string }> = [{ where: 'logs', text: w.logs.join('\n') }];
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    texts.push({ where: 'redis key names', text: keys.join('\n') });
    const values: string[] = [];
    for (const key of keys) {
      const type = await redis.type(key);
      if (type === 'hash') values.push(...Object.values(await redis.hgetall(key)));
      else if (type === 'string') values.push((await redis.get(key)) ?? '');
      else if (type === 'list') values.push(...(await redis.lrange(key, 0, -1)));
      else if (type === 'set') values.push(...(await redis.smembers(key)));
      else if (type === 'zset') values.push(...(await redis.zrange(key, 0, -1)));
      else if (type === 'stream') values.push(...(await redis.xrange(key, '-', '+')).map(([, fields]) => fields.join(' ')));
    }
    texts.push({ where: 'redis values', text: values.join('\n') });
  } finally {
    redis.disconnect();
  }
  const found: Array<{ where: string; what: string }> = [];
  for (const p of people) {
    const variants = [p.nhs, ...(p.mobile ? [p.mobile, p.mobile.replace('+44', '0'), p.mobile.replace('+', '')] : [])];
    for (const { where, text } of texts) for (const v of variants) if (text.includes(v)) found.push({ where, what: v === p.nhs ? 'an NHS number' : 'a mobile' });
  }
  return found;
}

/**
 * The last test of a suite that runs its apps in this process: none of `people` (none missing)
 * in the log lines it captured (captured-logs.ts) or anywhere in its Redis.
 */
export async function expectNoPersonalData(logs: CapturedLogs, redisUrl: string, people: Array<{ nhs: string; mobile?: string | null }>): Promise<void> {
  expect(people.length).toBeGreaterThan(0);
  expect(logs.lines.length).toBeGreaterThan(0);
  expect(await personalDataFound({ logs: logs.lines, redisUrl }, people)).toEqual([]);
}

/** Every patient a suite's database holds (for `personalDataFound` when they were not uploaded). */
export async function storedPatients(pg: Client): Promise<Array<{ nhs: string; mobile: string | null }>> {
  return (await pg.query(`SELECT nhs_number AS nhs, mobile FROM patient`)).rows;
}

export async function stopWorld(w: FaultWorld | undefined): Promise<void> {
  if (!w) return;
  await w.pg.end().catch(() => undefined);
  for (const s of w.extra) await s.stop();
  await w.stack.stop();
  await w.pas.close();
  await w.redis.stop();
  await w.db.drop();
}




export interface Patient { nhs: string; mobile: string; currentAppointmentId?: string }

export interface PatientOptions {
  /** May be offered other trusts' slots (ICS_WIDE_CONSENT=Y). */
  icsWide?: boolean;
  /** Each patient already holds an appointment at their own trust, this far ahead (booked in pas-sim first). */
  currentAppointmentInDays?: number;
}

/** `count` patients for one TFC on `ods`'s PTL, with distinct NHS numbers and mobiles from `seed`. */
export async function uploadPatients(ods: string, tfc: string, seed: number, count: number, opts: PatientOptions = {}): Promise<Patient[]> {
  const patients: Patient[] = [];
  let n = seed * 10;
  for (let i = 0; i < count; i++) {
    const id = nhs(n);
    n = Number(id.slice(3, 9)) + 1;
    patients.push({ nhs: id, mobile: `+4477009${String(seed + i).padStart(5, '0')}` });
  }
  const current = opts.currentAppointmentInDays ? new Date(Math.ceil((Date.now() + opts.currentAppointmentInDays * 24 * HOUR) / HOUR) * HOUR) : undefined;
  if (current) for (const p of patients) p.currentAppointmentId = await bookInPas(ods, p.nhs, current, `${tfc}-NEW`);
  const csv = [
    'PATIENT_PATHWAY_IDENTIFIER,NHS_NUMBER,PERSON_BIRTH_DATE,ACTIVITY_TREATMENT_FUNCTION_CODE,APPOINTMENT_TYPE,REFERRAL_TO_TREATMENT_PERIOD_START_DATE,Outpatient_Priority_Code,MOBILE_NUMBER,OFFER_CONSENT,ICS_WIDE_CONSENT,ACCEPTABLE_SITES,Outpatient_Future_Appointment_Date,CURRENT_APPOINTMENT_ID,PERSON_STATED_GENDER_CODE',
    ...patients.map((p, i) => `PW-F-${seed}-${i},${p.nhs},1970-05-01,${tfc},NEW,2026-03-01,P3,${p.mobile},Y,${opts.icsWide ? 'Y' : 'N'},ANY,${current ? current.toISOString() : ''},${p.currentAppointmentId ?? ''},2`),
  ].join('\n');
  const up = await http('POST', url(ADAPTER_HTTP[ods], '/v1/ptl?mode=delta'), csv, { 'content-type': 'text/csv', authorization: `Bearer dev-${ods}-token` });
  if (up.status !== 200 || up.json?.accepted !== count) throw new Error(`PTL upload to ${ods} answered ${up.status}: ${up.text.slice(0, 300)}`);
  uploaded.push(...patients);
  return patients;
}

/** An appointment the trust's PAS already holds for a patient (made directly in pas-sim, as the trust would). */
export async function bookInPas(ods: string, nhsNumber: string, start: Date, clinic: string): Promise<string> {
  const r = await http('POST', url(3200, `/${ods}/fhir/Appointment`), {
    resourceType: 'Appointment', status: 'booked', start: start.toISOString(), end: new Date(start.getTime() + 20 * 60_000).toISOString(), minutesDuration: 20,
    serviceType: [{ coding: [{ code: clinic }] }],
    participant: [
      { actor: { type: 'Patient', identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: nhsNumber } }, status: 'accepted' },
      { actor: { type: 'Location', identifier: { system: 'https://fhir.nhs.uk/Id/ods-site-code', value: SITE[ods] } }, status: 'accepted' },
    ],
  }, { 'content-type': 'application/fhir+json' });
  if (r.status !== 201 || !r.json?.id) throw new Error(`pas-sim ${ods} did not book: ${r.status} ${r.text.slice(0, 200)}`);
  return r.json.id;
}

/** The appointments pas-sim holds for `ods`. */
export async function pasAppointments(ods: string): Promise<Array<fhir4.Appointment & { id: string }>> {
  return (await http('GET', url(3200, `/sim/${ods}/appointments`))).json;
}

let siuSeq = 0;
/** What identifies one freed slot's SIU^S15: its MSH-10 and the PAS's appointment id. */
export interface FreedSlotMessage { controlId: string; fillerId: string }

/**
 * Frees `count` slots at `ods` for `tfc` (SIU^S15 over MLLP, each ACKed AA before the next is
 * sent), a few days ahead, one hour apart; returns the messages in the order they were ACKed.
 */
export async function freeSlots(ods: string, tfc: string, count: number): Promise<FreedSlotMessage[]> {
  const base = Math.ceil((Date.now() + 72 * HOUR) / HOUR) * HOUR;
  const sent: FreedSlotMessage[] = [];
  for (let i = 0; i < count; i++) {
    siuSeq++;
    const tag = `${Date.now().toString(36)}${siuSeq}`;
    const msg = buildSiu({
      event: 'S15', controlId: `F${tag}`, sendingFacility: ods, fillerId: `F-${tag}`, start: new Date(base + (siuSeq % 200) * HOUR),
      minutes: 20, clinic: `${tfc}-NEW`, siteOds: SITE[ods], now: new Date(),
    });
    const ack = await sendMllp('127.0.0.1', ADAPTER_MLLP[ods] + OFFSET, msg);
    if (!/MSA\|AA\|/.test(ack)) throw new Error(`SIU to ${ods} not accepted: ${ack}`);
    sent.push({ controlId: `F${tag}`, fillerId: `F-${tag}` });
  }
  return sent;
}

export const messages = async (phone: string): Promise<Array<{ body: string }>> =>
  (await http('GET', url(3300, `/sim/messages?phone=${encodeURIComponent(phone)}`))).json ?? [];
export const offerCode = (body: string) => /YES\s+([A-Za-z0-9]{3,10})/.exec(body)?.[1];

/** Waits until every patient holds an offer, and returns each one's code. */
export async function offerCodes(patients: Patient[], ms = 30_000): Promise<string[]> {
  return Promise.all(patients.map((p) => until(`an offer to patient ${patients.indexOf(p)}`, async () => {
    const m = (await messages(p.mobile)).find((x) => offerCode(x.body));
    return m && offerCode(m.body);
  }, ms, 400)));
}

export async function reply(phone: string, message: string): Promise<void> {
  const r = await http('POST', url(3300, '/sim/reply'), { phone, message });
  if (r.status !== 200 || !r.json?.delivered) throw new Error(`reply not delivered: ${r.status} ${r.text.slice(0, 200)}`);
}

export type Outcome = 'confirmed' | 'taken' | 'could-not';

/** What the patient was finally told, from the SMS they received (not counting the offer). */
export async function outcomeOf(p: Patient): Promise<{ outcome?: Outcome; bodies: string[] }> {
  const bodies = (await messages(p.mobile)).map((m) => m.body).filter((b) => !offerCode(b));
  const outcome: Outcome | undefined = bodies.some((b) => /could not/.test(b)) ? 'could-not'
    : bodies.some((b) => /confirmed/.test(b)) ? 'confirmed'
    : bodies.some((b) => /no longer available/.test(b)) ? 'taken' : undefined;
  return { outcome, bodies };
}

export async function outcomes(patients: Patient[], ms = 60_000): Promise<Outcome[]> {
  return until('every patient to hear an outcome', async () => {
    const all = await Promise.all(patients.map(async (p) => (await outcomeOf(p)).outcome));
    return all.every(Boolean) ? (all as Outcome[]) : undefined;
  }, ms, 500);
}

/** Sends every patient's YES (`times` texts each) at the same moment; `onEach` after each is delivered. */
export function yesAll(patients: Patient[], codes: string[], times = 1, onEach: () => void = () => undefined): Promise<void[]> {
  return Promise.all(patients.flatMap((p, i) => Array.from({ length: times }, () => reply(p.mobile, `Yes ${codes[i]}`).then(onEach))));
}

/** A slot still open or offering that no job will move on (`strandedSlots`), and what it lacks. */
export interface StrandedSlot { slotId: string; status: string; round: number; missing: string[] }

/**
 * The slots still open or offering (of one trust and TFC, when given) that nothing will ever move
 * on: each must hold at most one live wave, and a job still to run (a row not yet published, or
 * a BullMQ job waiting, delayed, active or retrying) for its next step: the live wave's
 * `expire-wave`, or with no live wave the `match-slot` of its next round; and its `close-slot`.
 * A finished, failed-for-good or lost job does not count. (Only the matching sweep could still
 * mend such a slot, after its grace: DESIGN's "offered, or closed with a recorded reason" must
 * not wait on it after a fault a scenario recovered from.) `[]` when every slot is accounted for.
 */
export async function strandedSlots(w: FaultWorld, scope: { ods?: string; tfc?: string } = {}): Promise<StrandedSlot[]> {
  const slots: Array<{ id: string; status: string; match_round: number; live: string[] }> = (await w.pg.query(
    `SELECT s.id, s.status, s.match_round, ARRAY(SELECT w.id::text FROM offer_wave w WHERE w.slot_id = s.id AND w.status = 'live') AS live
       FROM slot s WHERE s.status IN ('open', 'offering') AND ($1::text IS NULL OR s.trust_ods = $1) AND ($2::text IS NULL OR s.tfc = $2)`,
    [scope.ods ?? null, scope.tfc ?? null],
  )).rows;
  if (slots.length === 0) return [];
  const jobs: Array<{ job_name: string; job_id: string; unpublished: boolean; slot_id: string | null; wave_id: string | null; round: number | null }> = (await w.pg.query(
    `SELECT job_name, job_id, published_at IS NULL AS unpublished, payload->>'slotId' AS slot_id, payload->>'waveId' AS wave_id, (payload->>'round')::int AS round
       FROM outbox WHERE queue = $1 AND (payload->>'slotId' = ANY ($2::text[]) OR payload->>'waveId' = ANY ($3::text[]))`,
    [QueueName.slotMatching, slots.map((s) => s.id), slots.flatMap((s) => s.live)],
  )).rows;
  const connection = new IORedis(w.redisUrl, { maxRetriesPerRequest: 1 });
  const queue = new Queue(QueueName.slotMatching, { connection });
  const stillToRun = async (rows: typeof jobs) => {
    if (rows.some((r) => r.unpublished)) return true;
    for (const r of rows) if (LIVE_JOB_STATES.has(await queue.getJobState(r.job_id))) return true;
    return false;
  };
  const stranded: StrandedSlot[] = [];
  try {
    for (const s of slots) {
      const missing: string[] = [];
      if (s.live.length > 1) missing.push(`a single live wave (it has ${s.live.length})`);
      const next = s.live.length > 0
        ? { what: 'expire-wave', rows: jobs.filter((j) => j.job_name === 'expire-wave' && s.live.includes(j.wave_id ?? '')) }
        : { what: `match-slot round ${s.match_round + 1}`, rows: jobs.filter((j) => j.job_name === 'match-slot' && j.slot_id === s.id && j.round === s.match_round + 1) };
      if (!(await stillToRun(next.rows))) missing.push(next.what);
      if (!(await stillToRun(jobs.filter((j) => j.job_name === 'close-slot' && j.slot_id === s.id)))) missing.push('close-slot');
      if (missing.length) stranded.push({ slotId: s.id, status: s.status, round: s.match_round, missing });
    }
  } finally {
    await queue.close();
    connection.disconnect();
  }
  return stranded;
}

/**
 * The invariants every scenario ends with, for the slots of one trust and TFC: exactly one live
 * booking per slot, each confirmed and held by exactly one PAS appointment (found by the booking id
 * the write-back is keyed by), every reply processed, no outbox row left unpublished, and no slot
 * of the world stranded (`strandedSlots`).
 */
export async function expectSettled(w: FaultWorld, ods: string, tfc: string, slots: number): Promise<void> {
  const pg = w.pg;
  const bookings = (await pg.query(
    `SELECT b.id, b.slot_id, b.status, b.pas_appointment_id FROM booking b JOIN slot s ON s.id = b.slot_id
      WHERE s.trust_ods = $1 AND s.tfc = $2 AND b.status <> 'failed'`, [ods, tfc],
  )).rows;
  expect(bookings).toHaveLength(slots);
  expect(new Set(bookings.map((b) => b.slot_id)).size).toBe(slots);
  expect(bookings.filter((b) => b.status === 'confirmed' && b.pas_appointment_id)).toHaveLength(slots);
  const inPas = (await pasAppointments(ods)).flatMap((a) => (a.identifier ?? []).map((i) => i.value));
  for (const b of bookings) expect(inPas.filter((v) => v === b.id)).toHaveLength(1);
  await until('every reply to be processed', async () => (await pg.query(`SELECT 1 FROM patient_reply WHERE processed_at IS NULL`)).rowCount === 0, 40_000, 500);
  await until('no outbox row left unpublished', async () => (await pg.query(`SELECT 1 FROM outbox WHERE published_at IS NULL`)).rowCount === 0, 15_000, 250);
  expect(await strandedSlots(w)).toEqual([]);
}

/**
 * For a suite that runs workers and re-drives in its own process over a fresh database and Redis
 * database REDIS_DB: the queues count as kept (its jobs are lost one by one, failed for good, not
 * by a Redis that lost everything: the relay's rebuild covers that, booking-faults.int-spec.ts),
 * and the relay's own sweep never starts (the suite drains it when it means to).
 */
export interface QueueWorld {
  stores: FreshStores;
  ds: DataSource;
  ics: IcsDirectory;
  queues: QueueService;
  relay: OutboxRelay;
}

export async function startQueueWorld(dbPrefix: string, metrics: MetricsService): Promise<QueueWorld> {
  const stores = await freshStores(dbPrefix, REDIS_DB);
  const redis = new IORedis(stores.redisUrl);
  await redis.set(QUEUE_EPOCH_KEY, 'kept');
  await redis.quit();
  const ds = await new DataSource(dataSourceOptions(stores.db.url, 10)).initialize();
  const queues = new QueueService(stores.redisUrl);
  return { stores, ds, ics: loadIcsDirectory(), queues, relay: new OutboxRelay(ds, queues, metrics) };
}

export async function stopQueueWorld(w: QueueWorld | undefined): Promise<void> {
  await w?.queues.onApplicationShutdown();
  await w?.ds.destroy();
  await w?.stores.drop();
}
