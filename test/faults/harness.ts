/**
 * Shared by the fault suites: a whole stack on shifted ports (50000+) over a fresh database and a
 * flushed Redis database 7, and helpers that build data the way a trust would (PTL upload, SIU^S15
 * over MLLP) and answer offers the way a patient would (notify-sim's /sim/reply, which goes
 * through the notifier's real inbound callback).
 */
import { buildSiu, sendMllp } from '@app/hl7';
import { createTestDatabase, TestDatabase } from '@app/persistence';
import IORedis from 'ioredis';
import { Client } from 'pg';
import { startStack, Stack } from '../../tools/stack/processes';

export const OFFSET = 50000;
export const REDIS_DB = 7;
export const HOUR = 3_600_000;
export const STACK_ENV = { DEMO: '0', QUIET_HOURS: '', SIM_AUTOREPLY: '0', LOG_LEVEL: 'warn' };
const SITE: Record<string, string> = { RQM: 'RQM01', RAS: 'RAS01', R1K: 'R1K01', RYJ: 'RYJ02' };
const ADAPTER_HTTP: Record<string, number> = { RQM: 3101, RAS: 3102, R1K: 3103, RYJ: 3104 };
const ADAPTER_MLLP: Record<string, number> = { RQM: 2575, RAS: 2576, R1K: 2577, RYJ: 2578 };

export const url = (p: number, path: string) => `http://127.0.0.1:${p + OFFSET}${path}`;

export interface FaultWorld {
  db: TestDatabase;
  redisUrl: string;
  stack: Stack;
  pg: Client;
  /** Stacks started later (a restarted process); stopped with the rest. */
  extra: Stack[];
}

export async function startWorld(prefix: string): Promise<FaultWorld> {
  const db = await createTestDatabase(prefix);
  const redisUrl = `${(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379').replace(/\/\d+$/, '')}/${REDIS_DB}`;
  const redis = new IORedis(redisUrl);
  await redis.flushdb();
  await redis.quit();
  const stack = await startStack({ databaseUrl: db.url, redisUrl, portOffset: OFFSET, env: STACK_ENV });
  const pg = new Client({ connectionString: db.url });
  await pg.connect();
  return { db, redisUrl, stack, pg, extra: [] };
}

export async function stopWorld(w: FaultWorld | undefined): Promise<void> {
  if (!w) return;
  await w.pg.end().catch(() => undefined);
  for (const s of w.extra) await s.stop();
  await w.stack.stop();
  await w.db.drop();
}

export async function http(method: string, u: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(u, {
    method,
    headers: { ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, text, json };
}

export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 30_000, everyMs = 250): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function nhs(seed: number): string {
  for (let n = seed; ; n++) {
    const d = [9, 9, 9, ...String(n).padStart(6, '0').split('').map(Number)];
    const check = 11 - (d.reduce((s, x, i) => s + x * (10 - i), 0) % 11);
    if (check === 10) continue;
    return d.join('') + (check === 11 ? 0 : check);
  }
}

export interface Patient { nhs: string; mobile: string }

/** `count` patients for one TFC on `ods`'s PTL, with distinct NHS numbers and mobiles from `seed`. */
export async function uploadPatients(ods: string, tfc: string, seed: number, count: number): Promise<Patient[]> {
  const patients: Patient[] = [];
  let n = seed * 10;
  for (let i = 0; i < count; i++) {
    const id = nhs(n);
    n = Number(id.slice(3, 9)) + 1;
    patients.push({ nhs: id, mobile: `+4477009${String(seed + i).padStart(5, '0')}` });
  }
  const csv = [
    'PATIENT_PATHWAY_IDENTIFIER,NHS_NUMBER,PERSON_BIRTH_DATE,ACTIVITY_TREATMENT_FUNCTION_CODE,APPOINTMENT_TYPE,REFERRAL_TO_TREATMENT_PERIOD_START_DATE,Outpatient_Priority_Code,MOBILE_NUMBER,OFFER_CONSENT,ICS_WIDE_CONSENT,ACCEPTABLE_SITES',
    ...patients.map((p, i) => `PW-F-${seed}-${i},${p.nhs},1970-05-01,${tfc},NEW,2026-03-01,P3,${p.mobile},Y,N,ANY`),
  ].join('\n');
  const up = await http('POST', url(ADAPTER_HTTP[ods], '/v1/ptl?mode=delta'), csv, { 'content-type': 'text/csv', authorization: `Bearer dev-${ods}-token` });
  if (up.status !== 200 || up.json?.accepted !== count) throw new Error(`PTL upload to ${ods} answered ${up.status}: ${up.text.slice(0, 300)}`);
  return patients;
}

let siuSeq = 0;
/** Frees `count` slots at `ods` for `tfc` (SIU^S15 over MLLP), a few days ahead, one hour apart. */
export async function freeSlots(ods: string, tfc: string, count: number): Promise<void> {
  const base = Math.ceil((Date.now() + 72 * HOUR) / HOUR) * HOUR;
  for (let i = 0; i < count; i++) {
    siuSeq++;
    const tag = `${Date.now().toString(36)}${siuSeq}`;
    const msg = buildSiu({
      event: 'S15', controlId: `F${tag}`, sendingFacility: ods, fillerId: `F-${tag}`, start: new Date(base + (siuSeq % 200) * HOUR),
      minutes: 20, clinic: `${tfc}-NEW`, siteOds: SITE[ods], now: new Date(),
    });
    const ack = await sendMllp('127.0.0.1', ADAPTER_MLLP[ods] + OFFSET, msg);
    if (!/MSA\|AA\|/.test(ack)) throw new Error(`SIU to ${ods} not accepted: ${ack}`);
  }
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

export async function setFaults(ods: string, f: { failNext?: number; delayMs?: number; dropAfterCommitNext?: number }): Promise<void> {
  const r = await http('POST', url(3200, `/sim/${ods}/faults`), f);
  if (r.status !== 200) throw new Error(`faults for ${ods}: ${r.status} ${r.text}`);
}

/** Bookings per slot of `ods`'s slots (excluding failed ones, which released their slot). */
export async function bookingsPerSlot(pg: Client, ods: string): Promise<Array<{ slot_id: string; n: number }>> {
  return (await pg.query(`SELECT slot_id, count(*)::int AS n FROM booking WHERE owning_trust_ods = $1 AND status <> 'failed' GROUP BY slot_id`, [ods])).rows;
}
