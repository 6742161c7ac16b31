/**
 * A GOV.UK Notify that fails for every message for a while — our key refused (403), Notify's own
 * 500, its load balancer's 503, connections dropped — played by notify-sim (`POST /sim/outage`)
 * and spoken to by the real notifications-node-client, with the notifier on real Postgres and
 * Redis. What must hold: the texts go once Notify is back, no message is recorded as failed, no
 * offer is ended as undeliverable, and each patient gets their text exactly once. The queue's
 * back-off is shortened (test/support/fast-retries.ts) so that, without the outage handling,
 * every attempt would be spent well inside the outage.
 */
import { FAST_BACKOFF_MS, restoreRetries } from '../../../test/support/fast-retries';
import { INestApplication } from '@nestjs/common';
import { queueSms } from '@app/persistence';
import { Client } from 'pg';
import { FreshStores, freshStores } from '../../../tools/stack/fresh-stack';
import { expectNoPersonalData, storedPatients } from '../../../test/faults/harness';
import { CapturedLogs, captureLogs } from '../../../test/support/captured-logs';
import { createMessage, createOffer, queryable } from '../../../test/support/offer-fixtures';
import { NotifySandbox, startNotifier, startNotifySandbox } from '../../../test/support/notify-sandbox';
import { http, until } from '../../../test/support/wait';

jest.setTimeout(90_000);

const PORT = 14022;
const REDIS_DB = 9;
/** Longer than every retry of a job with the short back-off (eight attempts, at most ~6.4 s). */
const OUTAGE_SECONDS = 8;

let stores: FreshStores;
let logs: CapturedLogs;
let pg: Client;
let notifier: INestApplication;
let sim: NotifySandbox;

const sms = async (id: string) => (await pg.query(`SELECT status, error, notify_id FROM sms_message WHERE id = $1`, [id])).rows[0];
const CONFIRMED = { specialty: 'Dermatology', hospital: 'Charing Cross Hospital', site: 'Fulham Palace Road', date: 'Tuesday 14 July', time: '9:30am', previous: 'Your earlier appointment has been cancelled.' };

beforeAll(async () => {
  expect(FAST_BACKOFF_MS).toBeLessThanOrEqual(50);
  // The notifier logs at info into `logs` (not printed, as it was silent): the last test reads it for personal data.
  logs = captureLogs({ print: 'nothing' });
  stores = await freshStores('sx_notify_outage', REDIS_DB);
  pg = stores.pg;
  sim = await startNotifySandbox();
  notifier = await startNotifier(stores, sim, PORT, {
    LOG_LEVEL: 'info', NOTIFY_TIMEOUT_MS: '1000', NOTIFY_SEND_SETTLE_MS: '500', NOTIFY_OUTAGE_THRESHOLD: '3', NOTIFY_OUTAGE_PAUSE_MS: '300', NOTIFY_AUTH_FAILED_PAUSE_MS: '300',
  });
});

afterAll(async () => {
  await notifier?.close();
  await sim?.app.close();
  await stores?.drop();
  restoreRetries();
  logs?.restore();
});

describe('a Notify outage', () => {
  it.each([
    ['refuses our API key (403 AuthError)', 'auth'],
    ['fails with its own 500', 'exception'],
    ['is unavailable (503)', 'unavailable'],
    ['drops every connection', 'drop'],
  ])('while Notify %s, every text waits and goes once after it is back; no offer is ended as undeliverable', async (_what, kind) => {
    const started = await http('POST', `${sim.url}/sim/outage`, { kind, seconds: OUTAGE_SECONDS });
    expect(started.status).toBe(200);
    const back = new Date(started.json.until as string);
    const offers = [await createOffer(pg), await createOffer(pg), await createOffer(pg)];
    const confirmation = await createMessage(pg, 'confirmed', undefined, CONFIRMED);
    const ids = [...offers.map((o) => o.smsId as string), confirmation.smsId];

    await until('every text settled', async () => (await pg.query(`SELECT 1 FROM sms_message WHERE id = ANY($1::uuid[]) AND status = 'queued'`, [ids])).rowCount === 0, 45_000);
    for (const id of ids) expect(await sms(id)).toMatchObject({ status: 'sent', error: null, notify_id: expect.any(String) });
    // The offers still stand, and nothing moved them on to other patients.
    expect((await pg.query(`SELECT status FROM offer WHERE id = ANY($1::uuid[])`, [offers.map((o) => o.offerId)])).rows.map((r) => r.status)).toEqual(['live', 'live', 'live']);
    expect((await pg.query(`SELECT 1 FROM outbox WHERE job_name = 'offer-undeliverable' AND payload->>'offerId' = ANY($1::text[])`, [offers.map((o) => o.offerId)])).rowCount).toBe(0);
    // Each patient has their text once, and only from when Notify was back.
    for (const phone of [...offers.map((o) => o.mobile), confirmation.mobile]) {
      const got = await sim.messages(phone);
      expect(got).toHaveLength(1);
      expect(new Date(got[0].created_at).getTime()).toBeGreaterThanOrEqual(back.getTime());
    }
    // The on-call operator's signal, without personal data in its labels.
    const metrics = (await http('GET', `http://127.0.0.1:${PORT}/metrics`)).text;
    const reason = kind === 'auth' ? 'auth' : 'unavailable';
    expect(Number(new RegExp(`notify_service_failures_total\\{[^}]*reason="${reason}"[^}]*\\} (\\d+)`).exec(metrics)?.[1] ?? 0)).toBeGreaterThan(0);
  });

  it('still fails at once a text Notify itself refuses (400), and moves its offer on', async () => {
    const offer = await createOffer(pg, { sms: false });
    // An offer text without its code: Notify refuses the missing personalisation.
    const smsId = (await queueSms(queryable(pg), { patientId: offer.patientId, offerId: offer.offerId, kind: 'offer', personalisation: {} })) as string;
    await until('refused', async () => (await sms(smsId)).status === 'failed', 15_000);
    expect((await sms(smsId)).error).toMatch(/^BadRequestError: Missing personalisation/);
    expect((await pg.query(`SELECT 1 FROM outbox WHERE job_name = 'offer-undeliverable' AND payload->>'offerId' = $1`, [offer.offerId])).rowCount).toBe(1);
    expect(await sim.messages(offer.mobile)).toEqual([]);
  });
});

describe('after every outage above (last in this file: it reads what they left)', () => {
  it("no NHS number or mobile of any patient appears in the notifier's log lines or anywhere in Redis (job ids, data, failure reasons, events)", async () => {
    await expectNoPersonalData(logs, stores.redisUrl, await storedPatients(pg));
  });
});
