/**
 * Texts from a mobile number that several patients share (siblings on a parent's phone, a carer's
 * number), on real Postgres: a text is the number's, so it is decided against every patient with
 * that number (CONTRACT.md "SMS": a code names a live offer of that number; a bare YES / NO acts
 * only when the number holds exactly one live offer; STOP means no more offers to that number).
 * Each case runs through the notifier's store (`storeReceivedTexts`) and both of the booking
 * service's paths: the batch (`processMany` → `decideBatch`) and the lone one (`processOne`).
 */
import { DEFAULT_POLICY, MatchingPolicy } from '@app/domain';
import { createTestDatabase, dataSourceOptions, storeReceivedTexts, TestDatabase } from '@app/persistence';
import { IcsDirectory, loadIcsDirectory, MetricsService, SystemClock } from '@app/platform';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { createOffer, OfferFixture } from '../../../test/support/offer-fixtures';
import { RepliesWorker } from './replies.worker';

const policy: MatchingPolicy = { ...DEFAULT_POLICY, quietHours: null };

let db: TestDatabase;
let ds: DataSource;
let pg: Client;
let ics: IcsDirectory;
let worker: RepliesWorker;

beforeAll(async () => {
  db = await createTestDatabase('sx_replies');
  ds = await new DataSource(dataSourceOptions(db.url, 10)).initialize();
  pg = new Client({ connectionString: db.url });
  await pg.connect();
  ics = loadIcsDirectory();
  // Driven directly: the jobs its decisions cause are observed as outbox / sms_message rows.
  worker = new RepliesWorker(ds, new SystemClock(), policy, ics, undefined as never, new MetricsService('test'));
});
afterAll(async () => {
  await pg?.end();
  await ds?.destroy();
  await db?.drop();
});

let phone = 500;
/**
 * Two patients on one mobile, each holding a live offer for a slot of their own. A is the patient
 * the number was most recently given to (what a lookup of "the" patient by number would find).
 */
async function siblings(): Promise<{ a: OfferFixture; b: OfferFixture; mobile: string }> {
  const mobile = `+447700900${++phone}`;
  const b = await createOffer(pg, { mobile, sms: false });
  const a = await createOffer(pg, { mobile, sms: false });
  await pg.query(`UPDATE patient SET updated_at = now() + interval '1 minute' WHERE id = $1`, [a.patientId]);
  return { a, b, mobile };
}

type Path = 'batch' | 'lone';

/** A text from `mobile`, stored as the notifier's callback stores it, then decided on `path`. */
async function text(mobile: string, intent: string, code: string | null, path: Path): Promise<string | undefined> {
  const externalId = `in-${randomBytes(6).toString('hex')}`;
  await storeReceivedTexts(ds, [{ externalId, mobile, intent, code }]);
  const [{ id }] = (await pg.query(`SELECT id FROM patient_reply WHERE channel = 'sms' AND external_id = $1`, [externalId])).rows;
  const outcome = path === 'batch' ? await worker.processMany({ replyIds: [id] }) : await worker.processOne(id);
  expect(outcome.status).toBe('done');
  return (await pg.query(`SELECT outcome FROM patient_reply WHERE id = $1`, [id])).rows[0].outcome;
}

const offerStatus = async (o: OfferFixture) => (await pg.query(`SELECT status FROM offer WHERE id = $1`, [o.offerId])).rows[0].status;
const bookings = async (...os: OfferFixture[]) =>
  (await pg.query(`SELECT patient_id FROM booking WHERE offer_id = ANY($1::uuid[])`, [os.map((o) => o.offerId)])).rows.map((r) => r.patient_id);
const textsTo = async (...os: OfferFixture[]) =>
  (await pg.query(`SELECT kind FROM sms_message WHERE patient_id = ANY($1::uuid[]) ORDER BY created_at`, [os.map((o) => o.patientId)])).rows.map((r) => r.kind);

describe.each<Path>(['batch', 'lone'])('a text from a number two patients share (%s path)', (path) => {
  it("books B when it names B's offer, though the number was last given to A", async () => {
    const { a, b, mobile } = await siblings();
    expect(await text(mobile, 'yes', b.code, path)).toBe('claimed');
    expect(await bookings(a, b)).toEqual([b.patientId]);
    expect(await offerStatus(b)).toBe('accepted');
    expect(await offerStatus(a)).toBe('live');
  });

  it("declines A's offer only when it names A's", async () => {
    const { a, b, mobile } = await siblings();
    expect(await text(mobile, 'no', a.code, path)).toBe('declined');
    expect([await offerStatus(a), await offerStatus(b)]).toEqual(['declined', 'live']);
  });

  it('answers a bare YES with the help text and books nobody, as the number holds two live offers', async () => {
    const { a, b, mobile } = await siblings();
    expect(await text(mobile, 'yes', null, path)).toBe('help');
    expect(await bookings(a, b)).toEqual([]);
    expect([await offerStatus(a), await offerStatus(b)]).toEqual(['live', 'live']);
    expect(await textsTo(a, b)).toEqual(['help']);
  });

  it('acts on a bare YES when the number holds exactly one live offer, whichever patient holds it', async () => {
    const { a, b, mobile } = await siblings();
    await pg.query(`UPDATE offer SET status = 'expired', ended_at = now() WHERE id = $1`, [a.offerId]);
    expect(await text(mobile, 'yes', null, path)).toBe('claimed');
    expect(await bookings(a, b)).toEqual([b.patientId]);
  });

  it('answers a code that two live offers of the number share with the help text, booking neither', async () => {
    const { a, b, mobile } = await siblings();
    await pg.query(`UPDATE offer SET code = $2 WHERE id = $1`, [a.offerId, b.code]);
    expect(await text(mobile, 'yes', b.code, path)).toBe('help');
    expect(await bookings(a, b)).toEqual([]);
    expect([await offerStatus(a), await offerStatus(b)]).toEqual(['live', 'live']);
  });

  it('answers a code that matches no offer of the number with the help text', async () => {
    const { a, b, mobile } = await siblings();
    // A number of its own: the fixture's default (a random one of the 1,000 drama numbers) could be one a later case gives its patients.
    const other = await createOffer(pg, { mobile: `+447700900${++phone}`, sms: false });
    expect(await text(mobile, 'yes', other.code === a.code || other.code === b.code ? '99999' : other.code, path)).toBe('help');
    expect(await bookings(a, b, other)).toEqual([]);
    expect(await offerStatus(other)).toBe('live');
  });

  it('STOP stops every patient with the number and ends all their live offers; START starts them all again', async () => {
    const { a, b, mobile } = await siblings();
    expect(await text(mobile, 'stop', null, path)).toBe('stopped');
    const stopped = async () => (await pg.query(`SELECT sms_stopped FROM patient WHERE id = ANY($1::uuid[])`, [[a.patientId, b.patientId]])).rows.map((r) => r.sms_stopped);
    expect(await stopped()).toEqual([true, true]);
    expect([await offerStatus(a), await offerStatus(b)]).toEqual(['declined', 'declined']);
    expect(await textsTo(a, b)).toEqual(['stopped']);
    expect(await text(mobile, 'start', null, path)).toBe('started');
    expect(await stopped()).toEqual([false, false]);
  });
});

describe('the batch (decideBatch) on a shared number', () => {
  /** Stored as the callback stores them; the reply ids in order. */
  async function stored(...texts: Array<{ mobile: string; intent: string; code: string | null }>): Promise<string[]> {
    const ids = texts.map(() => `in-${randomBytes(6).toString('hex')}`);
    await storeReceivedTexts(ds, texts.map((t, i) => ({ externalId: ids[i], ...t })));
    const rows = (await pg.query(`SELECT id, external_id FROM patient_reply WHERE external_id = ANY($1)`, [ids])).rows;
    return ids.map((e) => rows.find((r) => r.external_id === e).id);
  }

  it("claims a YES naming B's offer itself, and leaves an ambiguous code to the lone path's help text", async () => {
    const one = await siblings();
    const two = await siblings();
    await pg.query(`UPDATE offer SET code = $2 WHERE id = $1`, [two.a.offerId, two.b.code]);
    const [named, ambiguous] = await stored({ mobile: one.mobile, intent: 'yes', code: one.b.code }, { mobile: two.mobile, intent: 'yes', code: two.b.code });
    const decided = await worker.decideBatch([named, ambiguous]);
    expect(decided.get(named)).toEqual({ status: 'done', reason: 'claimed' });
    expect(decided.has(ambiguous)).toBe(false);
    expect(await bookings(one.a, one.b)).toEqual([one.b.patientId]);
    expect((await worker.processOne(ambiguous)).reason).toBe('help');
    expect(await bookings(two.a, two.b)).toEqual([]);
  });
});

/** The patient's offer text went to Notify: they saw the offer. */
const seen = (o: OfferFixture) =>
  pg.query(`INSERT INTO sms_message (patient_id, offer_id, kind, personalisation, status) VALUES ($1, $2, 'offer', '{}', 'sent')`, [o.patientId, o.offerId]);
/** A and B offered one slot in one wave (B's own fixture slot left unused), A having seen it, and B unless `bSawIt` is false. */
async function waveOfTwo(bSawIt = true): Promise<{ a: OfferFixture; b: OfferFixture }> {
  const a = await createOffer(pg, { mobile: `+447700900${++phone}`, sms: false });
  const b = await createOffer(pg, { mobile: `+447700900${++phone}`, sms: false });
  await pg.query(`UPDATE offer SET slot_id = a.slot_id, wave_id = a.wave_id FROM offer a WHERE a.id = $2 AND offer.id = $1`, [b.offerId, a.offerId]);
  await seen(a);
  if (bSawIt) await seen(b);
  return { a, b: { ...b, slotId: a.slotId } };
}

describe.each<Path>(['batch', 'lone'])('a reply after the slot went (%s path): one answer, written once', (path) => {
  /** The texts to a patient after their offer's own, and the outbox rows that send them. */
  const sent = async (o: OfferFixture) => ({
    texts: (await textsTo(o)).filter((k) => k !== 'offer'),
    jobs: (await pg.query(
      `SELECT count(*)::int AS n FROM outbox x JOIN sms_message m ON x.payload->>'smsId' = m.id::text WHERE x.job_name = 'send-sms' AND m.patient_id = $1`, [o.patientId],
    )).rows[0].n,
  });
  /** What the notifier made of the text that told the patient the offer ended. */
  const endedText = (o: OfferFixture, status: string) => pg.query(`UPDATE sms_message SET status = $2 WHERE dedupe_key = $1`, [`ended-${o.offerId}`, status]);
  /** A text stored and decided, then its job delivered again. */
  async function twice(mobile: string, intent: string, code: string | null): Promise<string | undefined> {
    const outcome = await text(mobile, intent, code, path);
    const [{ id }] = (await pg.query(`SELECT id FROM patient_reply WHERE mobile = $1 ORDER BY received_at DESC, id DESC LIMIT 1`, [mobile])).rows;
    expect(path === 'batch' ? await worker.processMany({ replyIds: [id] }) : await worker.processOne(id)).toEqual({ status: 'skipped', reason: expect.stringMatching(/already processed|0 of 1/) });
    return outcome;
  }

  it.each<[string, 'code' | 'bare', string]>([
    ['with its code, "no longer available" on its way', 'code', 'queued'],
    ['with its code, "no longer available" delivered', 'code', 'delivered'],
    ['bare, "no longer available" on its way', 'bare', 'queued'],
    ['bare, "no longer available" delivered', 'bare', 'delivered'],
  ])("answers the loser's YES (%s) with the one \"no longer available\" the claim sent, and no \"no open offer\"", async (_how, how, status) => {
    const { a, b } = await waveOfTwo();
    expect(await text(a.mobile, 'yes', a.code, path)).toBe('claimed');
    expect(await sent(b)).toEqual({ texts: ['taken'], jobs: 1 });
    await endedText(b, status);
    expect(await twice(b.mobile, 'yes', how === 'code' ? b.code : null)).toBe('too-late');
    expect(await sent(b)).toEqual({ texts: ['taken'], jobs: 1 });
    expect(await bookings(a, b)).toEqual([a.patientId]);
  });

  it.each<[string, 'code' | 'bare', string, string, number]>([
    ['a bare YES, told of it: nothing new', 'bare', 'sent', 'too-late', 0],
    ['"YES <code>", told of it: nothing new', 'code', 'sent', 'too-late', 0],
    ['"YES <code>", its text failed at Notify: the polite answer, once', 'code', 'failed', 'no-offer', 1],
  ])('answers %s after a withdrawal', async (_what, how, status, outcome, jobs) => {
    const o = await createOffer(pg, { mobile: `+447700900${++phone}`, sms: false });
    await seen(o);
    await pg.query(`UPDATE offer SET status = 'withdrawn', ended_at = now() WHERE id = $1`, [o.offerId]);
    await pg.query(`INSERT INTO sms_message (patient_id, offer_id, kind, personalisation, dedupe_key, status) VALUES ($1, $2, 'withdrawn', '{}', $3, $4)`, [o.patientId, o.offerId, `ended-${o.offerId}`, status]);
    expect(await twice(o.mobile, 'yes', how === 'code' ? o.code : null)).toBe(outcome);
    expect(await sent(o)).toEqual({ texts: outcome === 'no-offer' ? ['withdrawn', 'no_offer'] : ['withdrawn'], jobs });
  });

  it.each<[string, boolean, string, 'code' | 'bare']>([
    ['its own offer text never went, so "no longer available" was skipped; bare', false, 'skipped', 'bare'],
    ['"no longer available" failed at Notify; bare', true, 'failed', 'bare'],
    ['its own offer text never went, so "no longer available" was skipped; with its code', false, 'skipped', 'code'],
    ['"no longer available" failed at Notify; with its code', true, 'failed', 'code'],
  ])('answers a YES after the slot went with the polite answer, once, when the patient was not told (%s)', async (_why, sawOffer, status, how) => {
    const { a, b } = await waveOfTwo(sawOffer);
    await text(a.mobile, 'yes', a.code, path);
    await endedText(b, status);
    expect(await twice(b.mobile, 'yes', how === 'code' ? b.code : null)).toBe('no-offer');
    expect(await sent(b)).toEqual({ texts: ['taken', 'no_offer'], jobs: 2 });
    expect(await bookings(a, b)).toEqual([a.patientId]);
  });

  it("answers \"YES <code>\" for a sibling's gone slot nobody told them of with the help text while the number holds another live offer", async () => {
    const { a, b, mobile } = await siblings();
    await seen(b);
    await pg.query(`UPDATE offer SET status = 'superseded', ended_at = now() WHERE id = $1`, [b.offerId]);
    await pg.query(`INSERT INTO sms_message (patient_id, offer_id, kind, personalisation, dedupe_key, status) VALUES ($1, $2, 'taken', '{}', $3, 'failed')`, [b.patientId, b.offerId, `ended-${b.offerId}`]);
    expect(await twice(mobile, 'yes', b.code)).toBe('help');
    expect((await textsTo(a, b)).filter((k) => k !== 'offer')).toEqual(['taken', 'help']);
    expect(await offerStatus(a)).toBe('live');
  });

  it('answers "YES <code>" after "could not book" with the polite answer, not silence', async () => {
    const { a } = await waveOfTwo();
    await text(a.mobile, 'yes', a.code, path);
    await pg.query(`UPDATE booking SET status = 'failed', failed_at = now() WHERE offer_id = $1`, [a.offerId]);
    expect(await twice(a.mobile, 'yes', a.code)).toBe('no-offer');
    expect(await sent(a)).toEqual({ texts: ['no_offer'], jobs: 1 });
  });

  it('answers the winner\'s bare YES while the PAS has not confirmed with nothing new, as its YES with the code: the confirmation is on its way, and "no open offer" would contradict it', async () => {
    const { a } = await waveOfTwo();
    expect(await text(a.mobile, 'yes', a.code, path)).toBe('claimed');
    expect(await twice(a.mobile, 'yes', null)).toBe('repeat-yes');
    expect(await sent(a)).toEqual({ texts: [], jobs: 0 });
  });

  it('answers the winner\'s bare YES after "could not book" with the polite answer, not silence', async () => {
    const { a } = await waveOfTwo();
    await text(a.mobile, 'yes', a.code, path);
    // As failBooking leaves it: the offer stays accepted.
    await pg.query(`UPDATE booking SET status = 'failed', failed_at = now() WHERE offer_id = $1`, [a.offerId]);
    await pg.query(`INSERT INTO sms_message (patient_id, offer_id, kind, personalisation, status) VALUES ($1, $2, 'booking_failed', '{}', 'sent')`, [a.patientId, a.offerId]);
    expect(await offerStatus(a)).toBe('accepted');
    expect(await twice(a.mobile, 'yes', null)).toBe('no-offer');
    expect(await sent(a)).toEqual({ texts: ['booking_failed', 'no_offer'], jobs: 1 });
  });

  it('answers the winner\'s bare YES once booked with the confirmation again, as its YES with the code', async () => {
    const { a } = await waveOfTwo();
    await text(a.mobile, 'yes', a.code, path);
    await pg.query(`UPDATE booking SET status = 'confirmed', confirmed_at = now() WHERE offer_id = $1`, [a.offerId]);
    expect(await twice(a.mobile, 'yes', null)).toBe('repeat-yes');
    expect(await sent(a)).toEqual({ texts: ['confirmed'], jobs: 1 });
  });

  it.each<[string, boolean, string | null, 'code' | 'bare']>([
    ['slot taken by another patient; bare', false, null, 'bare'],
    ['offer accepted by this one, booking confirmed; bare', true, 'confirmed', 'bare'],
    ['offer accepted by this one, booking failed; bare', true, 'failed', 'bare'],
    ['slot taken by another patient; with its code', false, null, 'code'],
    ['offer accepted by this one, booking confirmed; with its code', true, 'confirmed', 'code'],
    ['offer accepted by this one, booking failed; with its code', true, 'failed', 'code'],
  ])('answers a NO after the slot went (%s) with the polite answer, not silence', async (_how, winner, bookingStatus, how) => {
    const { a, b } = await waveOfTwo();
    await text(a.mobile, 'yes', a.code, path);
    if (bookingStatus) await pg.query(`UPDATE booking SET status = $2 WHERE offer_id = $1`, [a.offerId, bookingStatus]);
    const o = winner ? a : b;
    expect(await twice(o.mobile, 'no', how === 'code' ? o.code : null)).toBe('no-offer');
    expect(await sent(o)).toEqual({ texts: [...(winner ? [] : ['taken']), 'no_offer'], jobs: winner ? 1 : 2 });
    expect(await bookings(a, b)).toEqual([a.patientId]);
  });

  it.each<'code' | 'bare'>(['bare', 'code'])('answers the winner\'s NO (%s) while the PAS has not confirmed with nothing new: the booking\'s outcome is on its way, and "no open offer" would contradict it', async (how) => {
    const { a, b } = await waveOfTwo();
    await text(a.mobile, 'yes', a.code, path);
    expect(await twice(a.mobile, 'no', how === 'code' ? a.code : null)).toBe('decline-of-ended-offer');
    expect(await sent(a)).toEqual({ texts: [], jobs: 0 });
    expect(await bookings(a, b)).toEqual([a.patientId]);
    expect(await offerStatus(a)).toBe('accepted');
  });

  it("answers a bare YES on a shared number by the offer that ended last, not the one made last", async () => {
    const { a, b, mobile } = await siblings();
    await seen(a);
    await seen(b);
    // B's offer (made first) taken by another patient a minute ago; A's (made later) expired half an hour ago.
    await pg.query(`UPDATE offer SET status = 'superseded', ended_at = now() - interval '1 minute' WHERE id = $1`, [b.offerId]);
    await pg.query(`UPDATE offer SET status = 'expired', ended_at = now() - interval '30 minutes' WHERE id = $1`, [a.offerId]);
    for (const [o, kind] of [[b, 'taken'], [a, 'expired']] as const) {
      await pg.query(`INSERT INTO sms_message (patient_id, offer_id, kind, personalisation, dedupe_key, status) VALUES ($1, $2, $3, '{}', $4, 'sent')`, [o.patientId, o.offerId, kind, `ended-${o.offerId}`]);
    }
    expect(await twice(mobile, 'yes', null)).toBe('too-late');
    expect((await textsTo(a, b)).filter((k) => k !== 'offer').sort()).toEqual(['expired', 'taken']);
  });

  it('answers "NO <code>" for an expired offer with one polite "no open offer", and with the help text while the number holds another live offer', async () => {
    const expired = await createOffer(pg, { mobile: `+447700900${++phone}`, sms: false });
    await pg.query(`UPDATE offer SET status = 'expired', ended_at = now() WHERE id = $1`, [expired.offerId]);
    expect(await twice(expired.mobile, 'no', expired.code)).toBe('no-offer');
    expect(await sent(expired)).toEqual({ texts: ['no_offer'], jobs: 1 });
    const { a, b, mobile } = await siblings();
    await pg.query(`UPDATE offer SET status = 'expired', ended_at = now() WHERE id = $1`, [b.offerId]);
    expect(await twice(mobile, 'no', b.code)).toBe('help');
    expect(await textsTo(a, b)).toEqual(['help']);
    expect(await offerStatus(a)).toBe('live');
  });

  it('answers a bare YES after the offer expired, or from a patient never offered anything, with one polite "no open offer"', async () => {
    const expired = await createOffer(pg, { mobile: `+447700900${++phone}`, sms: false });
    await pg.query(`UPDATE offer SET status = 'expired', ended_at = now() WHERE id = $1`, [expired.offerId]);
    expect(await twice(expired.mobile, 'yes', null)).toBe('no-offer');
    expect(await sent(expired)).toEqual({ texts: ['no_offer'], jobs: 1 });
    const never = await createOffer(pg, { mobile: `+447700900${++phone}`, sms: false });
    await pg.query(`DELETE FROM offer WHERE id = $1`, [never.offerId]);
    expect(await twice(never.mobile, 'yes', null)).toBe('no-offer');
    expect(await sent(never)).toEqual({ texts: ['no_offer'], jobs: 1 });
  });

  it('answers a bare YES long after the slot went with the polite answer', async () => {
    const { a, b } = await waveOfTwo();
    await text(a.mobile, 'yes', a.code, path);
    await pg.query(`UPDATE offer SET ended_at = now() - interval '25 hours' WHERE id = $1`, [b.offerId]);
    expect(await twice(b.mobile, 'yes', null)).toBe('no-offer');
    expect(await sent(b)).toEqual({ texts: ['taken', 'no_offer'], jobs: 2 });
  });
});

describe('replies that cross in flight', () => {
  /** Replies stored as one callback stores them; their ids in order of arrival. */
  async function stored(mobile: string, ...replies: Array<{ intent: string; code: string | null }>): Promise<string[]> {
    const ids = replies.map(() => `in-${randomBytes(6).toString('hex')}`);
    await storeReceivedTexts(ds, replies.map((r, i) => ({ externalId: ids[i], mobile, ...r })));
    const found = (await pg.query(`SELECT id, external_id FROM patient_reply WHERE external_id = ANY($1)`, [ids])).rows;
    return ids.map((e) => found.find((r) => r.external_id === e).id);
  }
  const outcomeOf = async (id: string) => (await pg.query(`SELECT outcome FROM patient_reply WHERE id = $1`, [id])).rows[0].outcome;
  const textsAfterOffer = async (o: OfferFixture) => (await textsTo(o)).filter((k) => k !== 'offer');

  /**
   * Holds the lock of `table`'s row `id` from a connection of its own while `run` starts, until
   * `waiters` transactions queue for it (they have read what they read without it), then runs
   * `meanwhile` (in the holder's transaction, or in transactions of its own) and commits: what they
   * do under the lock meets what it committed.
   */
  async function underRowLock<T>(table: 'slot' | 'patient_reply', id: string, waiters: number, run: () => Promise<T>, meanwhile: (holder: Client) => Promise<unknown> = async () => undefined): Promise<T> {
    const holder = new Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT id FROM ${table} WHERE id = $1 FOR UPDATE`, [id]);
      const result = run();
      for (let waited = 0; ; waited += 20) {
        const [{ n }] = (await pg.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows;
        if (n >= waiters) break;
        if (waited > 10_000) throw new Error(`only ${n} of ${waiters} transaction(s) queued for the ${table} row`);
        await new Promise((r) => setTimeout(r, 20));
      }
      await meanwhile(holder);
      await holder.query('COMMIT');
      return await result;
    } finally {
      await holder.end();
    }
  }

  it.each<'bare' | 'with its code'>(['bare', 'with its code'])('answers "YES <code>" then a NO (%s) in one job with the claim and nothing new: the booking\'s outcome is on its way', async (how) => {
    const o = await createOffer(pg, { mobile: `+447700900${++phone}`, sms: false });
    const [yes, no] = await stored(o.mobile, { intent: 'yes', code: o.code }, { intent: 'no', code: how === 'bare' ? null : o.code });
    expect(await worker.processMany({ replyIds: [yes, no] })).toEqual({ status: 'done', reason: '2 of 2 repl(ies) decided' });
    expect([await outcomeOf(yes), await outcomeOf(no)]).toEqual(['claimed', 'decline-of-ended-offer']);
    expect(await bookings(o)).toEqual([o.patientId]);
    expect(await textsAfterOffer(o)).toEqual([]);
  });

  it.each<'bare' | 'with its code'>(['bare', 'with its code'])('answers a NO (%s) whose offer expired after it was read, before the decline locked its slot, as what it is now: not "declined"', async (how) => {
    const o = await createOffer(pg, { mobile: `+447700900${++phone}`, sms: false });
    const [no] = await stored(o.mobile, { intent: 'no', code: how === 'bare' ? null : o.code });
    const outcome = await underRowLock('slot', o.slotId, 1, () => worker.processOne(no), (holder) =>
      holder.query(`UPDATE offer SET status = 'expired', ended_at = now() WHERE id = $1`, [o.offerId]),
    );
    expect(outcome).toEqual({ status: 'done', reason: 'no-offer' });
    expect(await offerStatus(o)).toBe('expired');
    expect(await textsAfterOffer(o)).toEqual(['no_offer']);
  });

  it('answers two bare YES of one number, decided side by side for an offer whose slot went untold, with one "no longer available" and nothing on top', async () => {
    const o = await createOffer(pg, { mobile: `+447700900${++phone}`, sms: false });
    await pg.query(`INSERT INTO sms_message (patient_id, offer_id, kind, personalisation, status) VALUES ($1, $2, 'offer', '{}', 'sent')`, [o.patientId, o.offerId]);
    await pg.query(`UPDATE offer SET status = 'superseded', ended_at = now() WHERE id = $1`, [o.offerId]);
    const [first, second] = await stored(o.mobile, { intent: 'yes', code: null }, { intent: 'yes', code: null });
    // Both read the offer with no "no longer available" written, then queue for its slot.
    const outcomes = await underRowLock('slot', o.slotId, 2, () => Promise.all([worker.processOne(first), worker.processOne(second)]));
    expect(outcomes.map((x) => x.reason)).toEqual(['too-late', 'too-late']);
    expect(await textsAfterOffer(o)).toEqual(['taken']);
  });

  /** What ends B's offer: A's YES claiming the slot, B's own NO, or the wave's end with nothing said. */
  const endings: Array<[string, (a: OfferFixture, b: OfferFixture) => Promise<unknown>]> = [
    ["another patient's YES claims the slot", async (a) => expect((await worker.processOne((await stored(a.mobile, { intent: 'yes', code: a.code }))[0])).reason).toBe('claimed')],
    ['its own NO declines it', async (_a, b) => expect((await worker.processOne((await stored(b.mobile, { intent: 'no', code: b.code }))[0])).reason).toBe('declined')],
    ['it expires, nobody told', (_a, b) => pg.query(`UPDATE offer SET status = 'expired', ended_at = now() WHERE id = $1`, [b.offerId])],
  ];

  it.each(endings)("answers a batch's YES whose offer was live when read and ended before its lock (%s) as a YES after that end is answered alone", async (_how, end) => {
    // Alone: the end committed, then B's YES decided by itself.
    const alone = await waveOfTwo();
    await end(alone.a, alone.b);
    const [yesAlone] = await stored(alone.b.mobile, { intent: 'yes', code: alone.b.code });
    const expected = (await worker.processOne(yesAlone)).reason;

    // In a batch: B's reply held elsewhere (another delivery of its job being decided) while the
    // batch reads it, so the batch sees B's offer live; while it waits, the offer ends in a
    // transaction of its own. When the batch locks B's offer, it has ended.
    const { a, b } = await waveOfTwo();
    const [yesB] = await stored(b.mobile, { intent: 'yes', code: b.code });
    const decided = await underRowLock('patient_reply', yesB, 1, () => worker.decideBatch([yesB]), () => end(a, b));
    // Decided in the batch from what the end committed, where the patient was told of it; else
    // left to the lone path, which answers it as it answered the first.
    if (decided.has(yesB)) expect(decided.get(yesB)).toEqual({ status: 'done', reason: expected });
    else expect((await worker.processOne(yesB)).reason).toBe(expected);
    expect(await outcomeOf(yesB)).toBe(expected);
    expect(await textsAfterOffer(b)).toEqual(await textsAfterOffer(alone.b));
    /** Who of the pair holds a booking: 'a', 'b' or neither. */
    const booked = async (x: OfferFixture, y: OfferFixture) => (await bookings(x, y)).map((p) => (p === x.patientId ? 'a' : 'b'));
    expect(await booked(a, b)).toEqual(await booked(alone.a, alone.b));
  });

  it("decides a claim's losers in the batch itself, not one transaction each", async () => {
    const { a, b } = await waveOfTwo();
    const [yesB] = await stored(b.mobile, { intent: 'yes', code: b.code });
    const decided = await underRowLock('patient_reply', yesB, 1, () => worker.decideBatch([yesB]), () => endings[0][1](a, b));
    expect(decided.get(yesB)).toEqual({ status: 'done', reason: 'too-late' });
    expect(await bookings(a, b)).toEqual([a.patientId]);
    expect(await textsAfterOffer(b)).toEqual(['taken']);
  });
});

describe('a batch transaction that fails with something other than an Error', () => {
  it('still has its replies decided one by one, so their jobs are answered', async () => {
    const own = new RepliesWorker(ds, new SystemClock(), policy, ics, undefined as never, new MetricsService('test'));
    own.decideBatch = () => Promise.reject(undefined);
    const o = await createOffer(pg, { mobile: `+447700900${++phone}`, sms: false });
    const externalId = `in-${randomBytes(6).toString('hex')}`;
    await storeReceivedTexts(ds, [{ externalId, mobile: o.mobile, intent: 'yes', code: o.code }]);
    const [{ id }] = (await pg.query(`SELECT id FROM patient_reply WHERE external_id = $1`, [externalId])).rows;
    expect(await own.processMany({ replyIds: [id] })).toEqual({ status: 'done', reason: '1 of 1 repl(ies) decided' });
    expect(await bookings(o)).toEqual([o.patientId]);
  });
});

describe('a click on the offer page for an offer that has ended meanwhile', () => {
  /** A click as the offer page stores it (`act`), decided alone. */
  async function click(o: OfferFixture, intent: 'yes' | 'no'): Promise<string> {
    const [{ id }] = (await pg.query(
      `INSERT INTO patient_reply (channel, external_id, patient_id, offer_id, intent, code) VALUES ('web', $1, $2, $3, $4, $5) RETURNING id`,
      [o.offerId, o.patientId, o.offerId, intent, o.code],
    )).rows;
    return (await worker.processOne(id)).reason!;
  }

  it('gets no text for it: its page answered it', async () => {
    const declined = await createOffer(pg, { mobile: `+447700900${++phone}`, sms: false });
    await pg.query(`UPDATE offer SET status = 'expired', ended_at = now() WHERE id = $1`, [declined.offerId]);
    expect(await click(declined, 'no')).toBe('decline-of-ended-offer');
    const accepted = await createOffer(pg, { mobile: `+447700900${++phone}`, sms: false });
    await pg.query(`UPDATE offer SET status = 'superseded', ended_at = now() WHERE id = $1`, [accepted.offerId]);
    await pg.query(`INSERT INTO sms_message (patient_id, offer_id, kind, personalisation, dedupe_key, status) VALUES ($1, $2, 'taken', '{}', $3, 'failed')`, [accepted.patientId, accepted.offerId, `ended-${accepted.offerId}`]);
    expect(await click(accepted, 'yes')).toBe('too-late');
    expect(await textsTo(declined, accepted)).toEqual(['taken']);
  });
});

describe('a text from a number nobody on the waiting list has', () => {
  it('is recorded as from an unknown number and acted on for nobody', async () => {
    expect(await text('+447700900999', 'yes', '1234', 'lone')).toBe('unknown-number');
  });
});
