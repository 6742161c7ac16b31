/**
 * A text Notify accepted whose "sent" could not be recorded (a real failure of the UPDATE, made by
 * a trigger that refuses it once) is not sent again by the retry: the retry asks Notify for the
 * message by our reference, finds it, and records it as sent with Notify's id — even when its
 * offer ended before the retry, which would otherwise skip it. notify-sim and the real client,
 * real Postgres and Redis.
 */
import { INestApplication } from '@nestjs/common';
import { Client } from 'pg';
import { FreshStores, freshStores } from '../../../tools/stack/fresh-stack';
import { createMessage, createOffer } from '../../../test/support/offer-fixtures';
import { NotifySandbox, startNotifier, startNotifySandbox } from '../../../test/support/notify-sandbox';
import { until } from '../../../test/support/wait';

jest.setTimeout(60_000);

const PORT = 14042;
const REDIS_DB = 11;

let stores: FreshStores;
let pg: Client;
let sim: NotifySandbox;
let notifier: INestApplication;

beforeAll(async () => {
  stores = await freshStores('sx_sent_once', REDIS_DB);
  pg = stores.pg;
  sim = await startNotifySandbox();
  // The fault: recording "sent" fails once for the messages listed in sent_fault. A sequence, as
  // nextval() is not undone by the failed statement's rollback, where a row deleted would be.
  await pg.query(`
    CREATE TABLE sent_fault (sms_id uuid PRIMARY KEY);
    CREATE SEQUENCE sent_fault_count;
    CREATE FUNCTION fail_recording_sent_once() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.status = 'sent' AND EXISTS (SELECT 1 FROM sent_fault WHERE sms_id = NEW.id) AND nextval('sent_fault_count') = 1 THEN
        RAISE EXCEPTION 'recording sent failed (test fault)';
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER fail_recording_sent_once BEFORE UPDATE ON sms_message FOR EACH ROW EXECUTE FUNCTION fail_recording_sent_once();
  `);
  // Notify answered the send here, so its retry need not wait long for Notify to finish it.
  notifier = await startNotifier(stores, sim, PORT, { NOTIFY_TIMEOUT_MS: '1000', NOTIFY_SEND_SETTLE_MS: '0' });
});

afterAll(async () => {
  await notifier?.close();
  await sim?.app.close();
  await stores?.drop();
});

it('records a text Notify took as sent on the retry, and never sends it twice', async () => {
  // Queued with its fault in place before the relay can pick it up.
  await pg.query('BEGIN');
  const m = await createMessage(pg, 'help');
  await pg.query(`INSERT INTO sent_fault VALUES ($1)`, [m.smsId]);
  await pg.query('COMMIT');

  await until('sent', async () => (await pg.query(`SELECT status FROM sms_message WHERE id = $1`, [m.smsId])).rows[0].status === 'sent');
  // The fault did happen: the first "sent" failed.
  expect(Number((await pg.query(`SELECT last_value FROM sent_fault_count`)).rows[0].last_value)).toBeGreaterThanOrEqual(2);
  const held = await sim.messages(m.mobile);
  expect(held).toHaveLength(1);
  expect(held[0].reference).toBe(m.smsId);
  expect((await pg.query(`SELECT notify_id FROM sms_message WHERE id = $1`, [m.smsId])).rows[0].notify_id).toBe(held[0].id);
  // Nothing more goes later either.
  await new Promise((r) => setTimeout(r, 1500));
  expect(await sim.messages(m.mobile)).toHaveLength(1);
});

it('records as sent, not skipped, an offer text Notify took whose offer ended before the retry', async () => {
  await pg.query(`ALTER SEQUENCE sent_fault_count RESTART`);
  await pg.query('BEGIN');
  const offer = await createOffer(pg);
  await pg.query(`INSERT INTO sent_fault VALUES ($1)`, [offer.smsId]);
  await pg.query('COMMIT');
  // The first "sent" failed (the patient has the text): the wave ends before the job's retry.
  await until('the first "sent" refused', async () => (await pg.query(`SELECT is_called FROM sent_fault_count`)).rows[0].is_called === true, 10_000, 10);
  await pg.query(`UPDATE offer SET status = 'expired' WHERE id = $1`, [offer.offerId]);

  await until('settled', async () => (await pg.query(`SELECT status FROM sms_message WHERE id = $1`, [offer.smsId])).rows[0].status !== 'queued');
  const held = await sim.messages(offer.mobile);
  expect(held).toHaveLength(1);
  expect((await pg.query(`SELECT status, notify_id FROM sms_message WHERE id = $1`, [offer.smsId])).rows[0]).toEqual({ status: 'sent', notify_id: held[0].id });
});
