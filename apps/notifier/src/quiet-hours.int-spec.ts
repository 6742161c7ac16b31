/**
 * Quiet hours in the notifier (CONTRACT `QUIET_HOURS`, Europe/London: no SMS then), on real
 * Postgres and Redis with notify-sim and the real client, the notifier's clock fixed at 20:30 on a
 * December evening: a text that comes up then waits in the queue until 08:00, re-reads its message
 * then (an offer that ended overnight is not sent, nor one still recorded live whose expiry or
 * slot's cut-off passed in the night), and goes once; with QUIET_HOURS empty nothing
 * waits. And a text saying an offer has ended goes only to a patient whose offer text was sent: one
 * whose offer text was held (here, or by an outage) never saw the offer.
 */
import { INestApplication } from '@nestjs/common';
import { QueueName, jobId } from '@app/contracts';
import { DEFAULT_POLICY, FixedClock } from '@app/domain';
import { queueSms, recordPolicy } from '@app/persistence';
import { Job, Queue } from 'bullmq';
import IORedis from 'ioredis';
import { Client } from 'pg';
import { FreshStores, freshStores } from '../../../tools/stack/fresh-stack';
import { createMessage, createOffer, queryable } from '../../../test/support/offer-fixtures';
import { NotifySandbox, startNotifier, startNotifySandbox } from '../../../test/support/notify-sandbox';
import { until } from '../../../test/support/wait';

jest.setTimeout(60_000);

const PORT = 14032;
const REDIS_DB = 10;
/** 20:30 in London (GMT in December): quiet hours began half an hour ago. */
const EVENING = new Date('2026-12-01T20:30:00Z');
/** 08:00 in London the next morning, when they end. */
const MORNING = new Date('2026-12-02T08:00:00Z');
const HOUR = 3_600_000;

let stores: FreshStores;
let pg: Client;
let sim: NotifySandbox;
let queue: Queue;
const clock = new FixedClock(EVENING);

const sms = async (id: string) => (await pg.query(`SELECT status, error FROM sms_message WHERE id = $1`, [id])).rows[0];
const sendJob = async (smsId: string) => Job.fromId(queue, jobId('send-sms', { smsId }));

const startNotifierAt = (quietHours: string) => startNotifier(stores, sim, PORT, { QUIET_HOURS: quietHours }, { clock });

/** Waits until the message's send job is held in the delayed set, and says for how long. */
async function heldFor(smsId: string): Promise<number> {
  return until('the send job held back', async () => {
    const job = await sendJob(smsId);
    return job && (await job.getState()) === 'delayed' ? job.delay : undefined;
  }, 15_000, 100);
}

beforeAll(async () => {
  stores = await freshStores('sx_quiet_hours', REDIS_DB);
  pg = stores.pg;
  queue = new Queue(QueueName.smsOutbound, { connection: new IORedis(stores.redisUrl, { maxRetriesPerRequest: null }) });
  sim = await startNotifySandbox();
});

afterAll(async () => {
  await queue?.close();
  await (await queue?.client)?.quit().catch(() => undefined);
  await sim?.app.close();
  await stores?.drop();
});

describe('with QUIET_HOURS 20:00-08:00, at 20:30', () => {
  let notifier: INestApplication;
  beforeAll(async () => {
    notifier = await startNotifierAt('20:00-08:00');
  });
  afterAll(async () => {
    await notifier?.close();
  });
  beforeEach(() => clock.set(EVENING));

  it('holds a text until 08:00 without spending an attempt, then sends it once', async () => {
    const m = await createMessage(pg, 'help');
    const delay = await heldFor(m.smsId);
    // Eleven and a half hours on the notifier's clock, give or take the test's own seconds.
    expect(Math.abs(delay - (MORNING.getTime() - EVENING.getTime()))).toBeLessThan(30_000);
    expect(await sms(m.smsId)).toMatchObject({ status: 'queued' });
    expect(await sim.messages(m.mobile)).toEqual([]);

    clock.set(MORNING);
    await (await sendJob(m.smsId))!.promote();
    await until('sent at 08:00', async () => (await sms(m.smsId)).status === 'sent');
    expect(await sim.messages(m.mobile)).toHaveLength(1);
    expect((await sendJob(m.smsId))?.attemptsMade).toBe(1);
  });

  it('skips at 08:00 an offer that ended overnight', async () => {
    const offer = await createOffer(pg, { now: clock.now() });
    await heldFor(offer.smsId!);
    await pg.query(`UPDATE offer SET status = 'expired' WHERE id = $1`, [offer.offerId]);
    clock.set(MORNING);
    await (await sendJob(offer.smsId!))!.promote();
    await until('skipped', async () => (await sms(offer.smsId!)).status === 'skipped');
    expect(await sms(offer.smsId!)).toMatchObject({ error: 'offer is expired' });
    expect(await sim.messages(offer.mobile)).toEqual([]);
  });

  /**
   * An offer text held overnight whose offer, still recorded live, ended in the night: its wave's
   * expiry or its slot's cut-off passed while the exchange's `expire-wave` / `close-slot` are late
   * (here no exchange runs at all). CONTRACT/DESIGN: no offer goes out inside the minimum notice.
   */
  const heldOfferEndingAt = async (slotStart: Date, expiresAt: Date) => {
    const offer = await createOffer(pg, { now: clock.now() });
    await heldFor(offer.smsId!);
    // The slot's cut-off as recorded at its release, under the 24-hour notice.
    await pg.query(`UPDATE slot SET start_at = $2, cutoff_at = $3 WHERE id = $1`, [offer.slotId, slotStart, new Date(slotStart.getTime() - 24 * HOUR)]);
    await pg.query(`UPDATE offer SET expires_at = $2 WHERE id = $1`, [offer.offerId, expiresAt]);
    await pg.query(`UPDATE offer_wave SET expires_at = $2 WHERE id = (SELECT wave_id FROM offer WHERE id = $1)`, [offer.offerId, expiresAt]);
    return offer;
  };
  const at08 = (hours: number) => new Date(MORNING.getTime() + hours * HOUR);

  it.each([
    ['its slot came inside the minimum notice at 07:00 (close-slot late)', at08(23), at08(1), 'skipped', 'slot inside the minimum notice before the offer text went'],
    ['its wave expired at 07:00 (expire-wave late)', at08(72), at08(-1), 'skipped', 'offer expired before its text went'],
    ['it is still live and outside the notice (control)', at08(72), at08(2), 'sent', null],
  ])('at 08:00, an offer text held overnight whose offer is recorded live: %s', async (_what, slotStart, expiresAt, status, error) => {
    const offer = await heldOfferEndingAt(slotStart, expiresAt);
    clock.set(MORNING);
    await (await sendJob(offer.smsId!))!.promote();
    await until(`the offer text ${status}`, async () => (await sms(offer.smsId!)).status !== 'queued');
    expect(await sms(offer.smsId!)).toEqual({ status, error });
    expect(await sim.messages(offer.mobile)).toHaveLength(status === 'sent' ? 1 : 0);
    // The offer is left to the exchange's own jobs (the sweep orders them again) to end.
    expect((await pg.query(`SELECT status FROM offer WHERE id = $1`, [offer.offerId])).rows[0].status).toBe('live');
  });

  it('judges the notice by the recorded policy in force, as the exchange does, not by the cut-off recorded at release', async () => {
    // Released under the 24-hour notice (cut-off 14:00 tomorrow); an administrator has lengthened it to 48 hours since.
    const offer = await heldOfferEndingAt(at08(30), at08(2));
    await pg.query('BEGIN');
    await recordPolicy(queryable(pg), { ...DEFAULT_POLICY, minNoticeHours: 48 }, { source: 'admin', changedBy: 'test', reason: 'longer notice' }).catch(async (e) => {
      await pg.query('ROLLBACK');
      throw e;
    });
    await pg.query('COMMIT');
    try {
      clock.set(MORNING);
      await (await sendJob(offer.smsId!))!.promote();
      await until('skipped', async () => (await sms(offer.smsId!)).status === 'skipped');
      expect(await sms(offer.smsId!)).toMatchObject({ error: 'slot inside the minimum notice before the offer text went' });
      expect(await sim.messages(offer.mobile)).toEqual([]);
    } finally {
      await pg.query(`DELETE FROM matching_policy`);
    }
  });

  it('follows the quiet hours in force in the recorded policy, as matching does', async () => {
    // An administrator turns quiet hours off on the dashboard.
    await pg.query('BEGIN');
    await recordPolicy(queryable(pg), { ...DEFAULT_POLICY, quietHours: null }, { source: 'admin', changedBy: 'test', reason: 'no quiet hours' }).catch(async (e) => {
      await pg.query('ROLLBACK');
      throw e;
    });
    await pg.query('COMMIT');
    try {
      const m = await createMessage(pg, 'help');
      await until('sent at 20:30', async () => (await sms(m.smsId)).status === 'sent', 15_000);
    } finally {
      await pg.query(`DELETE FROM matching_policy`);
    }
  });
});

describe('with QUIET_HOURS empty, at 20:30', () => {
  let notifier: INestApplication;
  beforeAll(async () => {
    clock.set(EVENING);
    notifier = await startNotifierAt('');
  });
  afterAll(async () => {
    await notifier?.close();
  });

  it('sends at once, as before', async () => {
    const m = await createMessage(pg, 'help');
    await until('sent', async () => (await sms(m.smsId)).status === 'sent', 15_000);
    expect(await sim.messages(m.mobile)).toHaveLength(1);
  });

  it('tells a patient an offer ended (taken, expired, withdrawn) only if its offer text went to Notify', async () => {
    const told = await createOffer(pg, { now: clock.now() });
    await until('the offer text sent', async () => (await sms(told.smsId!)).status === 'sent', 15_000);
    // Offers whose text was still held when they ended: never sent (skipped), or still queued.
    const skippedOffer = await createOffer(pg, { sms: false, now: clock.now() });
    await pg.query(`INSERT INTO sms_message (patient_id, offer_id, kind, personalisation, status) VALUES ($1, $2, 'offer', '{}', 'skipped')`, [skippedOffer.patientId, skippedOffer.offerId]);
    const heldOffer = await createOffer(pg, { sms: false, now: clock.now() });
    await pg.query(`INSERT INTO sms_message (patient_id, offer_id, kind, personalisation, status) VALUES ($1, $2, 'offer', '{}', 'queued')`, [heldOffer.patientId, heldOffer.offerId]);
    const [personalisation] = (await pg.query(`SELECT personalisation FROM sms_message WHERE id = $1`, [told.smsId])).rows.map((r) => r.personalisation);
    const lapse = async (o: { patientId: string; offerId: string }, kind: 'taken' | 'expired' | 'withdrawn') => {
      await pg.query(`UPDATE offer SET status = $2 WHERE id = $1`, [o.offerId, kind === 'taken' ? 'superseded' : kind]);
      return (await queueSms(queryable(pg), { patientId: o.patientId, offerId: o.offerId, kind, personalisation, dedupeKey: `ended-${o.offerId}` })) as string;
    };
    const toTold = await lapse(told, 'expired');
    const toSkipped = await lapse(skippedOffer, 'taken');
    const toHeld = await lapse(heldOffer, 'withdrawn');
    await until('the ended offers settled', async () => (await pg.query(`SELECT 1 FROM sms_message WHERE id = ANY($1::uuid[]) AND status = 'queued'`, [[toTold, toSkipped, toHeld]])).rowCount === 0, 15_000);
    expect(await sms(toTold)).toMatchObject({ status: 'sent' });
    expect(await sms(toSkipped)).toMatchObject({ status: 'skipped', error: 'the offer itself was never sent' });
    expect(await sms(toHeld)).toMatchObject({ status: 'skipped', error: 'the offer itself was never sent' });
    expect(await sim.messages(told.mobile)).toHaveLength(2);
    expect(await sim.messages(skippedOffer.mobile)).toEqual([]);
    expect(await sim.messages(heldOffer.mobile)).toEqual([]);
  });
});
