/**
 * DESIGN.md invariants under concurrency, against real Postgres with the real migrations:
 * - a slot is booked at most once, however many YES replies race;
 * - a patient holds at most one live offer, however many slots are matched at once;
 * - a slot inside the minimum notice is never offered;
 * - a write-back's outcome posted twice at once is recorded, and acted on, once.
 * The workers are the production classes; only the queue connection is left out (jobs are
 * observed as outbox rows, which is where they are born).
 */
import { randomUUID } from 'node:crypto';
import { JobOutcome, jobId, queueFor } from '@app/contracts';
import { FixedClock, DEFAULT_POLICY, MatchingPolicy, syntheticNhsNumbers } from '@app/domain';
import { claimSlot, createTestDatabase, dataSourceOptions, storeReceivedTexts, TestDatabase, listenToOutbox } from '@app/persistence';
import { IcsDirectory, loadIcsDirectory, MetricsService, PolicyConfig } from '@app/platform';
import { DataSource, QueryRunner } from 'typeorm';
import { RepliesWorker, WAIT_BATCH_LOCK_MS } from '../../apps/booking/src/replies.worker';
import { WritebackOutcomesWorker } from '../../apps/booking/src/writeback-outcomes.worker';
import { MatchingWorker } from '../../apps/slot-exchange/src/matching.worker';
import { SlotEventsService } from '../../apps/slot-exchange/src/slot-events.service';
import { WaitingListService } from '../../apps/slot-exchange/src/waiting-list.service';
import { WritebacksService } from '../../apps/slot-exchange/src/writebacks.service';
import { ExchangeConfig } from '../../apps/slot-exchange/src/config';
import { claimedBooking } from '../support/claimed-booking';
import { backendPid, untilBlockedBy, withoutWaitingOn } from '../support/locks';

const HOUR = 3_600_000;
const policy: MatchingPolicy = { ...DEFAULT_POLICY, quietHours: null, waveSize: 3 };

let db: TestDatabase;
let ds: DataSource;
let ics: IcsDirectory;
const clock = new FixedClock(new Date('2026-11-23T10:00:00Z'));
const metrics = new MetricsService('test');
const noQueues = undefined as never; // workers are driven directly; their queue connection is unused

let nhsSeq = 0;
const nhsNumbers = syntheticNhsNumbers(300_000);
/** A new patient's NHS number; also moves `nhsSeq` on, which names the patient's pathway. */
function nhs(): string {
  nhsSeq++;
  return nhsNumbers.next().value as string;
}

let mobileSeq = 0;
function row(over: Record<string, unknown> = {}) {
  return {
    rowNumber: 1, pathwayId: `PW${nhsSeq}-${mobileSeq}`, nhsNumber: nhs(), birthDate: '1970-01-01', tfc: '330', appointmentType: 'NEW' as const,
    rttStart: '2026-03-01', priority: 'P3' as const, mobile: `+447700900${String(mobileSeq++ % 1000).padStart(3, '0')}`,
    offerConsent: true, icsWideConsent: true, acceptableSites: ['ANY'], unavailable: [], ...over,
  };
}

let slotSeq = 0;
/** A slot freed at `trust` (its first site), `hoursAhead` from the clock's now. */
async function releaseSlot(events: SlotEventsService, hoursAhead: number, tfc = '330', trust = 'RQM'): Promise<string | undefined> {
  slotSeq++;
  const r = await events.handle(trust, {
    eventId: `ev-${slotSeq}-${Date.now()}`, kind: 'slot-released', controlId: `C${slotSeq}`, siteOds: `${trust}01`, clinicCode: `${tfc}-NEW`, tfc,
    appointmentType: 'NEW', start: new Date(clock.now().getTime() + hoursAhead * HOUR).toISOString(), durationMinutes: 20, fillerAppointmentId: `F${slotSeq}-${Date.now()}`,
  });
  return r.slotId;
}

beforeAll(async () => {
  db = await createTestDatabase('sx_inv');
  ds = await new DataSource(dataSourceOptions(db.url, 20)).initialize();
  ics = loadIcsDirectory();
});
afterAll(async () => {
  await ds?.destroy();
  await db?.drop();
});

const config = Object.assign(new ExchangeConfig(), { OFFER_PAGE_BASE_URL: 'http://offers.test' });

/** The services, on the suite's pool; the matcher on `matchOn` (another pool: another process's connections). */
function workers(matchOn: DataSource = ds) {
  return {
    events: new SlotEventsService(ds, clock, policy, ics, metrics),
    list: new WaitingListService(ds),
    matcher: new MatchingWorker(matchOn, clock, policy, ics, noQueues, metrics, config),
    replies: new RepliesWorker(ds, clock, policy, ics, noQueues, metrics),
  };
}

async function yesFrom(patientId: string, code: string, id: string): Promise<string> {
  const [r] = await ds.query(`INSERT INTO patient_reply (channel, external_id, patient_id, intent, code) VALUES ('sms', $1, $2, 'yes', $3) RETURNING id`, [id, patientId, code]);
  return r.id;
}

/** A replies worker whose relay is a stand-in recording its wake-ups (`wake`): for what it wakes instead of a NOTIFY. */
function quietReplies(): { replies: RepliesWorker; wake: jest.Mock } {
  const wake = jest.fn();
  return { replies: new RepliesWorker(ds, clock, policy, ics, noQueues, metrics, undefined, { wake } as never), wake };
}

/** Runs `during` while listening on the outbox's NOTIFY channel, with what has been heard so far. */
async function listeningToOutbox(during: (heard: string[]) => Promise<void>): Promise<void> {
  const listener = await listenToOutbox(db.url);
  try {
    await during(listener.heard);
  } finally {
    await listener.end();
  }
}

/**
 * Runs `during` while another transaction holds the slot's row lock, then ends that transaction:
 * rolled back, or committed (`commit`) with whatever `during` wrote through it.
 */
async function holdingSlot(slotId: string, during: (holder: QueryRunner) => Promise<void>, end: 'commit' | 'rollback' = 'rollback'): Promise<void> {
  const holder = ds.createQueryRunner();
  await holder.connect();
  await holder.startTransaction();
  try {
    await holder.query(`SELECT id FROM slot WHERE id = $1 FOR UPDATE`, [slotId]);
    await during(holder);
    if (end === 'commit') await holder.commitTransaction();
  } finally {
    if (holder.isTransactionActive) await holder.rollbackTransaction();
    await holder.release();
  }
}

describe('a slot is booked at most once', () => {
  it('holds for many slots, each with every offered patient saying YES at the same moment', async () => {
    const w = workers();
    const SLOTS = 12;
    await w.list.applyBatch('RYJ', { mode: 'delta', rows: Array.from({ length: SLOTS * 3 }, () => row({ tfc: '101' })) });
    const slotIds = [];
    for (let i = 0; i < SLOTS; i++) slotIds.push(await releaseSlot(w.events, 72 + i, '101'));
    // Match them all at once: the live-offer index must keep every patient to one slot.
    await Promise.all(slotIds.map((id) => w.matcher.match({ slotId: id!, round: 1 })));
    const offers: Array<{ slot_id: string; patient_id: string; code: string }> = await ds.query(
      `SELECT o.slot_id, o.patient_id, o.code FROM offer o WHERE o.slot_id = ANY($1::uuid[]) AND o.status = 'live'`, [slotIds],
    );
    expect(new Set(offers.map((o) => o.patient_id)).size).toBe(offers.length);
    expect(offers.length).toBe(SLOTS * 3);

    const replyIds = await Promise.all(offers.map((o, i) => yesFrom(o.patient_id, o.code, `race-${i}-${Date.now()}`)));
    const outcomes = await Promise.all(replyIds.map((id) => w.replies.process({ replyId: id })));
    expect(outcomes.filter((o) => o.reason === 'claimed')).toHaveLength(SLOTS);

    const perSlot = await ds.query(`SELECT slot_id, count(*)::int AS n FROM booking WHERE slot_id = ANY($1::uuid[]) GROUP BY slot_id`, [slotIds]);
    expect(perSlot).toHaveLength(SLOTS);
    expect(perSlot.every((r: { n: number }) => r.n === 1)).toBe(true);
    // Every loser is told, once.
    const taken = await ds.query(`SELECT offer_id FROM sms_message WHERE kind = 'taken' AND offer_id IN (SELECT id FROM offer WHERE slot_id = ANY($1::uuid[]))`, [slotIds]);
    expect(taken).toHaveLength(SLOTS * 2);
    expect(new Set(taken.map((t: { offer_id: string }) => t.offer_id)).size).toBe(SLOTS * 2);
    // The claim writes its jobs in its own transaction, with the contracts' deterministic ids.
    const jobs: Array<{ job_name: string; queue: string; job_id: string; payload: Record<string, string> }> = await ds.query(
      `SELECT job_name, queue, job_id, payload FROM outbox
        WHERE (job_name = 'write-back' AND payload->>'writebackId' IN (SELECT w.id::text FROM writeback w JOIN booking b ON b.id = w.booking_id WHERE b.slot_id = ANY($1::uuid[])))
           OR (job_name = 'send-sms' AND payload->>'smsId' IN (SELECT m.id::text FROM sms_message m JOIN offer o ON o.id = m.offer_id WHERE m.kind = 'taken' AND o.slot_id = ANY($1::uuid[])))`,
      [slotIds],
    );
    expect(jobs.filter((j) => j.job_name === 'write-back')).toHaveLength(SLOTS);
    expect(jobs.filter((j) => j.job_name === 'send-sms')).toHaveLength(SLOTS * 2);
    for (const j of jobs) {
      const payload = j.job_name === 'write-back' ? { writebackId: j.payload.writebackId } : { smsId: j.payload.smsId };
      expect(j.job_id).toBe(jobId(j.job_name as 'write-back' | 'send-sms', payload as never));
      expect(j.queue).toBe(queueFor(j.job_name as 'write-back' | 'send-sms', 'RQM'));
    }
  });

  it('is enforced by the database even if code tries twice', async () => {
    const w = workers();
    await w.list.applyBatch('RYJ', { mode: 'delta', rows: [row({ tfc: '110' }), row({ tfc: '110' })] });
    const slotId = await releaseSlot(w.events, 80, '110');
    await w.matcher.match({ slotId: slotId!, round: 1 });
    const offers = await ds.query(`SELECT id, entry_id, patient_id FROM offer WHERE slot_id = $1`, [slotId]);
    expect(offers).toHaveLength(2);
    const insert = (o: { id: string; entry_id: string; patient_id: string }) =>
      ds.query(`INSERT INTO booking (slot_id, offer_id, entry_id, patient_id, status, owning_trust_ods, home_trust_ods) VALUES ($1, $2, $3, $4, 'pending', 'RQM', 'RYJ')`, [slotId, o.id, o.entry_id, o.patient_id]);
    await insert(offers[0]);
    await expect(insert(offers[1])).rejects.toMatchObject({ code: '23505' });
  });
});

describe('replies decided together (a batch)', () => {
  /** A slot offered to `n` new patients; their live offers. */
  async function offeredSlot(w: ReturnType<typeof workers>, tfc: string, n = 3): Promise<{ slotId: string; offers: Array<{ id: string; patient_id: string; code: string }> }> {
    await w.list.applyBatch('RYJ', { mode: 'delta', rows: Array.from({ length: n }, () => row({ tfc })) });
    const slotId = (await releaseSlot(w.events, 90, tfc))!;
    await w.matcher.match({ slotId, round: 1 });
    const offers = await ds.query(`SELECT id, patient_id, code FROM offer WHERE slot_id = $1 AND status = 'live' ORDER BY id`, [slotId]);
    expect(offers).toHaveLength(n);
    return { slotId, offers };
  }

  it('decides every YES for one slot and a repeat of one in one transaction: one claim, each loser told once, nobody booked twice', async () => {
    const w = workers();
    const { slotId, offers } = await offeredSlot(w, '120');
    const ids = await Promise.all(offers.map((o, i) => yesFrom(o.patient_id, o.code, `batch-${i}-${Date.now()}`)));
    // The first patient says YES twice.
    ids.push(await yesFrom(offers[0].patient_id, offers[0].code, `batch-again-${Date.now()}`));
    const decided = await w.replies.decideBatch(ids);
    expect(ids.map((id) => decided.get(id)?.status)).toEqual(['done', 'done', 'done', 'done']);
    const reasons = ids.map((id) => decided.get(id)!.reason);
    expect(reasons.filter((r) => r === 'claimed')).toHaveLength(1);
    // The winner's second YES repeats (nothing new to say while the PAS has not confirmed); the rest lost.
    const [winner] = await ds.query(`SELECT offer_id, patient_id FROM booking WHERE slot_id = $1`, [slotId]);
    const repeats = reasons.filter((r) => r === 'repeat-yes').length;
    expect(repeats).toBe(winner.patient_id === offers[0].patient_id ? 1 : 0);
    expect(reasons.filter((r) => r === 'too-late')).toHaveLength(3 - repeats);
    expect((await ds.query(`SELECT id FROM booking WHERE slot_id = $1`, [slotId]))).toHaveLength(1);
    const taken = await ds.query(`SELECT offer_id FROM sms_message WHERE kind = 'taken' AND offer_id = ANY($1::uuid[])`, [offers.map((o) => o.id)]);
    expect(taken.map((t: { offer_id: string }) => t.offer_id).sort()).toEqual(offers.map((o) => o.id).filter((id) => id !== winner.offer_id).sort());
    // The booking, the losers' texts and every reply's outcome committed together.
    const txids = await ds.query(
      `SELECT xmin::text AS x FROM patient_reply WHERE id = ANY($1::uuid[]) UNION SELECT xmin::text FROM booking WHERE slot_id = $2
        UNION SELECT xmin::text FROM sms_message WHERE kind = 'taken' AND offer_id = ANY($3::uuid[])`,
      [ids, slotId, offers.map((o) => o.id)],
    );
    expect(txids).toHaveLength(1);
    // Run again (a job delivered twice): nothing more.
    const again = await w.replies.decideBatch(ids);
    expect(ids.map((id) => again.get(id)?.reason)).toEqual(ids.map(() => 'already processed'));
  });

  it('gives the slot to the YES that arrived first, whatever order the batch is handed its replies in', async () => {
    const w = workers();
    const { slotId, offers } = await offeredSlot(w, '170');
    // Stored one after another, so received_at orders them (the middle patient answered first),
    // with ids that sort the other way round: the id must not decide.
    const order = [1, 0, 2];
    const ids = ['ffffffff', 'aaaaaaaa', '00000000'].map((h) => `${h}-${randomUUID().slice(9)}`);
    for (const [n, k] of order.entries()) {
      await ds.query(`INSERT INTO patient_reply (id, channel, external_id, patient_id, intent, code) VALUES ($1, 'sms', $2, $3, 'yes', $4)`,
        [ids[n], `first-${k}-${Date.now()}`, offers[k].patient_id, offers[k].code]);
    }
    const decided = await w.replies.decideBatch([...ids].reverse());
    expect(ids.map((id) => decided.get(id)?.reason)).toEqual(['claimed', 'too-late', 'too-late']);
    const [booking] = await ds.query(`SELECT patient_id FROM booking WHERE slot_id = $1`, [slotId]);
    expect(booking.patient_id).toBe(offers[1].patient_id);
  });

  it('stores the texts of one notifier batch received in their order of arrival, so the first YES keeps its place', async () => {
    const stamp = Date.now();
    const texts = [3, 1, 2].map((k) => ({ externalId: `arrival-${k}-${stamp}`, mobile: `+4477009${String(90000 + k)}`, intent: 'yes' as const, code: `C${k}` }));
    await ds.transaction((tx) => storeReceivedTexts(tx, texts));
    const rows = await ds.query(`SELECT external_id FROM patient_reply WHERE external_id LIKE $1 ORDER BY received_at, external_id`, [`arrival-%-${stamp}`]);
    expect(rows.map((r: { external_id: string }) => r.external_id)).toEqual(texts.map((t) => t.externalId));
  });

  it("decides a notifier batch's one job (process-replies) as each reply's own job would: one claim, each loser told once; delivered again, nothing more", async () => {
    const w = workers();
    const { slotId, offers } = await offeredSlot(w, '171');
    const mobiles = await ds.query(`SELECT id, mobile FROM patient WHERE id = ANY($1::uuid[])`, [offers.map((o) => o.patient_id)]);
    const mobileOf = new Map<string, string>(mobiles.map((m: { id: string; mobile: string }) => [m.id, m.mobile]));
    const stamp = Date.now();
    const texts = offers.map((o, k) => ({ externalId: `job-${k}-${stamp}`, mobile: mobileOf.get(o.patient_id)!, intent: 'yes' as const, code: o.code }));
    await ds.transaction((tx) => storeReceivedTexts(tx, texts));
    const stored = await ds.query(`SELECT id FROM patient_reply WHERE external_id LIKE $1 ORDER BY received_at`, [`job-%-${stamp}`]);
    const [job] = await ds.query(`SELECT job_id, payload FROM outbox WHERE job_name = 'process-replies' AND payload->'replyIds' ? $1`, [stored[0].id]);
    expect(job.payload.replyIds).toEqual(stored.map((r: { id: string }) => r.id));
    expect(await w.replies.processMany(job.payload)).toEqual({ status: 'done', reason: '3 of 3 repl(ies) decided' });
    const outcomes = await ds.query(`SELECT outcome FROM patient_reply WHERE id = ANY($1::uuid[]) ORDER BY received_at`, [job.payload.replyIds]);
    // The first to arrive won.
    expect(outcomes.map((o: { outcome: string }) => o.outcome)).toEqual(['claimed', 'too-late', 'too-late']);
    const [booking] = await ds.query(`SELECT patient_id FROM booking WHERE slot_id = $1`, [slotId]);
    expect(booking.patient_id).toBe(offers[0].patient_id);
    expect(await ds.query(`SELECT offer_id FROM sms_message WHERE kind = 'taken' AND offer_id = ANY($1::uuid[])`, [offers.map((o) => o.id)])).toHaveLength(2);
    expect(await w.replies.processMany(job.payload)).toEqual({ status: 'skipped', reason: '0 of 3 repl(ies) decided' });
    expect(await ds.query(`SELECT id FROM booking WHERE slot_id = $1`, [slotId])).toHaveLength(1);
  });

  it('answers a YES whose offer has already ended without waiting for the slot lock a claim in flight holds', async () => {
    const w = workers();
    const { slotId, offers } = await offeredSlot(w, '130', 2);
    // The first YES claims; the other patient's offer is superseded (committed).
    const first = await yesFrom(offers[0].patient_id, offers[0].code, `lock-a-${Date.now()}`);
    expect((await w.replies.process({ replyId: first })).reason).toBe('claimed');
    const loser = (await ds.query(`SELECT o.id, o.patient_id, o.code FROM offer o WHERE o.slot_id = $1 AND o.status = 'superseded'`, [slotId]))[0];
    const reply = await yesFrom(loser.patient_id, loser.code, `lock-b-${Date.now()}`);
    await holdingSlot(slotId, async (holder) => {
      // Postgres shows nobody queued behind the holder, and the holder's transaction still open, when the answer came.
      const outcome = await withoutWaitingOn(ds, await backendPid(holder), w.replies.process({ replyId: reply }));
      expect(outcome).toEqual({ status: 'done', reason: 'too-late' });
    });
  });

  it("decides a batch's other slots without waiting for a slot another transaction holds; that slot's YES is decided once the lock goes", async () => {
    const w = workers();
    const held = await offeredSlot(w, '172', 2);
    const free = await offeredSlot(w, '173', 2);
    const stamp = Date.now();
    const heldYes = await yesFrom(held.offers[0].patient_id, held.offers[0].code, `skip-a-${stamp}`);
    const freeYes = await yesFrom(free.offers[0].patient_id, free.offers[0].code, `skip-b-${stamp}`);
    await holdingSlot(held.slotId, async (holder) => {
      const decided = await withoutWaitingOn(ds, await backendPid(holder), w.replies.decideBatch([heldYes, freeYes]));
      // The free slot's YES is claimed and committed; the held slot's is left for processOne.
      expect(decided).toEqual(new Map([[freeYes, { status: 'done', reason: 'claimed' }]]));
      expect((await ds.query(`SELECT outcome FROM patient_reply WHERE id = $1`, [heldYes]))[0].outcome).toBeNull();
    });
    expect(await w.replies.process({ replyId: heldYes })).toEqual({ status: 'done', reason: 'claimed' });
    expect(await ds.query(`SELECT id FROM booking WHERE slot_id = ANY($1::uuid[])`, [[held.slotId, free.slotId]])).toHaveLength(2);
  });

  it("decides a batch's YES for a slot another transaction holds together, in one transaction once the lock goes, not one transaction each", async () => {
    const w = workers();
    const { slotId, offers } = await offeredSlot(w, '175', 3);
    const stamp = Date.now();
    const ids: string[] = [];
    for (const [i, o] of offers.entries()) ids.push(await yesFrom(o.patient_id, o.code, `held-batch-${i}-${stamp}`));
    let outcome!: Promise<JobOutcome>;
    await holdingSlot(slotId, async (holder) => {
      outcome = w.replies.processMany({ replyIds: ids });
      // The waiting batch is queued behind the holder (the first skipped the slot, deciding nothing).
      await untilBlockedBy(ds, await backendPid(holder));
      expect((await ds.query(`SELECT count(*)::int AS n FROM patient_reply WHERE id = ANY($1::uuid[]) AND outcome IS NOT NULL`, [ids]))[0].n).toBe(0);
    });
    expect(await outcome).toEqual({ status: 'done', reason: '3 of 3 repl(ies) decided' });
    // The rows a transaction updates carry its id (xmin): one for all three decisions.
    const decided = await ds.query(`SELECT r.outcome, r.xmin::text AS xid FROM patient_reply r WHERE r.id = ANY($1::uuid[]) ORDER BY r.received_at, r.id`, [ids]);
    expect(decided.map((d: { outcome: string }) => d.outcome)).toEqual(['claimed', 'too-late', 'too-late']);
    expect(new Set(decided.map((d: { xid: string }) => d.xid)).size).toBe(1);
    expect(await ds.query(`SELECT id FROM booking WHERE slot_id = $1`, [slotId])).toHaveLength(1);
  });

  it('gives up the waiting batch after WAIT_BATCH_LOCK_MS, so a slot held long does not hold up the YES for another slot', async () => {
    const w = workers();
    const one = await offeredSlot(w, '179', 2);
    const two = await offeredSlot(w, '180', 2);
    // The waiting batch locks slots in id order: the long-held slot is the first it waits for.
    const [long, short] = one.slotId < two.slotId ? [one, two] : [two, one];
    const stamp = Date.now();
    const yesLong = await yesFrom(long.offers[0].patient_id, long.offers[0].code, `long-${stamp}`);
    const yesShort = await yesFrom(short.offers[0].patient_id, short.offers[0].code, `short-${stamp}`);
    const outcomeOf = async (id: string) => (await ds.query(`SELECT outcome FROM patient_reply WHERE id = $1`, [id]))[0].outcome;
    let outcome!: Promise<JobOutcome>;
    await holdingSlot(long.slotId, async () => {
      await holdingSlot(short.slotId, async () => {
        outcome = w.replies.processMany({ replyIds: [yesLong, yesShort] });
        await new Promise((r) => setTimeout(r, 300));
      });
      // The short hold has ended; the long one lasts well past WAIT_BATCH_LOCK_MS.
      await new Promise((r) => setTimeout(r, WAIT_BATCH_LOCK_MS + 800));
      expect(await outcomeOf(yesShort)).toBe('claimed');
      expect(await outcomeOf(yesLong)).toBeNull();
    });
    expect(await outcome).toEqual({ status: 'done', reason: '2 of 2 repl(ies) decided' });
    expect(await outcomeOf(yesLong)).toBe('claimed');
  });

  it("decides the held YES one by one when the waiting batch's connection dies mid-transaction, keeping what the first batch decided", async () => {
    const w = workers();
    const held = await offeredSlot(w, '177', 2);
    const free = await offeredSlot(w, '178', 2);
    const stamp = Date.now();
    const heldYes = await yesFrom(held.offers[0].patient_id, held.offers[0].code, `fallback-a-${stamp}`);
    const freeYes = await yesFrom(free.offers[0].patient_id, free.offers[0].code, `fallback-b-${stamp}`);
    const outcomeOf = async (id: string) => (await ds.query(`SELECT outcome FROM patient_reply WHERE id = $1`, [id]))[0].outcome;
    let outcome!: Promise<JobOutcome>;
    await holdingSlot(held.slotId, async (holder) => {
      const holderPid = await backendPid(holder);
      outcome = w.replies.processMany({ replyIds: [heldYes, freeYes] });
      // The first batch skipped the held slot and committed the free one's claim; the waiting
      // batch has locked the held YES and queues for the slot. Its backend is killed there, a
      // real lost connection in the middle of its transaction.
      const [waiting] = await untilBlockedBy(ds, holderPid);
      expect(waiting.query).toMatch(/FROM slot WHERE id = ANY/);
      expect(await outcomeOf(freeYes)).toBe('claimed');
      expect((await ds.query(`SELECT pg_terminate_backend($1) AS ok`, [waiting.pid]))[0].ok).toBe(true);
      // Its lock on the held YES went with it: that YES is now decided alone, on another
      // connection, which queues for the same slot.
      await untilBlockedBy(ds, holderPid, { except: [waiting.pid] });
      expect(await outcomeOf(heldYes)).toBeNull();
    });
    expect(await outcome).toEqual({ status: 'done', reason: '2 of 2 repl(ies) decided' });
    expect(await outcomeOf(heldYes)).toBe('claimed');
    expect(await outcomeOf(freeYes)).toBe('claimed');
    // Nothing lost, nothing twice: one booking on each slot, for the patient who said YES.
    const bookings = await ds.query(`SELECT slot_id, patient_id FROM booking WHERE slot_id = ANY($1::uuid[]) ORDER BY slot_id`, [[held.slotId, free.slotId]]);
    expect(bookings).toEqual(
      [{ slot_id: held.slotId, patient_id: held.offers[0].patient_id }, { slot_id: free.slotId, patient_id: free.offers[0].patient_id }]
        .sort((a, b) => (a.slot_id < b.slot_id ? -1 : 1)),
    );
    // The pool recovered: the next reply is decided as usual.
    const late = await yesFrom(free.offers[1].patient_id, free.offers[1].code, `fallback-c-${stamp}`);
    expect(await w.replies.process({ replyId: late })).toEqual({ status: 'done', reason: 'too-late' });
  });

  it("answers a batch's YES for a slot another transaction is claiming from that claim once it commits: one transaction, every loser told once", async () => {
    const w = workers();
    const { slotId, offers } = await offeredSlot(w, '176', 3);
    const stamp = Date.now();
    // Patients 1 and 2 say YES; patient 0's YES is being claimed by another transaction meanwhile.
    const ids = [await yesFrom(offers[1].patient_id, offers[1].code, `claiming-1-${stamp}`), await yesFrom(offers[2].patient_id, offers[2].code, `claiming-2-${stamp}`)];
    const [winner] = await ds.query(
      `SELECT o.id, o.entry_id, o.patient_id, o.wave_id, s.trust_ods, s.id AS slot_id FROM offer o JOIN slot s ON s.id = o.slot_id WHERE o.id = $1`, [offers[0].id],
    );
    let outcome!: Promise<JobOutcome>;
    await holdingSlot(slotId, async (holder) => {
      await claimSlot(holder.manager, {
        slotId, offerId: winner.id, entryId: winner.entry_id, patientId: winner.patient_id, waveId: winner.wave_id, owningTrustOds: winner.trust_ods, takenWording: {},
      });
      outcome = w.replies.processMany({ replyIds: ids });
      // The batch queues behind the claim before it commits.
      await untilBlockedBy(ds, await backendPid(holder));
    }, 'commit');
    expect(await outcome).toEqual({ status: 'done', reason: '2 of 2 repl(ies) decided' });
    const decided = await ds.query(`SELECT r.outcome, r.xmin::text AS xid FROM patient_reply r WHERE r.id = ANY($1::uuid[])`, [ids]);
    expect(decided.map((d: { outcome: string }) => d.outcome)).toEqual(['too-late', 'too-late']);
    expect(new Set(decided.map((d: { xid: string }) => d.xid)).size).toBe(1);
    const taken = await ds.query(`SELECT offer_id FROM sms_message WHERE kind = 'taken' AND offer_id = ANY($1::uuid[])`, [[offers[1].id, offers[2].id]]);
    expect(taken.map((t: { offer_id: string }) => t.offer_id).sort()).toEqual([offers[1].id, offers[2].id].sort());
    const bookings = await ds.query(`SELECT patient_id FROM booking WHERE slot_id = $1`, [slotId]);
    expect(bookings).toEqual([{ patient_id: offers[0].patient_id }]);
  });

  it('gives the slot to the first YES even while a row naming its offer is being written elsewhere (a foreign-key share lock, not a claim)', async () => {
    const w = workers();
    const { slotId, offers } = await offeredSlot(w, '174', 2);
    const stamp = Date.now();
    // Patient 0 answered first, patient 1 after.
    const first = await yesFrom(offers[0].patient_id, offers[0].code, `fk-a-${stamp}`);
    const second = await yesFrom(offers[1].patient_id, offers[1].code, `fk-b-${stamp}`);
    // Meanwhile patient 0 also answers on the offer page: that insert's foreign key holds a KEY
    // SHARE lock on their offer (not the slot) until it commits.
    const holder = ds.createQueryRunner();
    await holder.connect();
    await holder.startTransaction();
    let decided: Promise<Map<string, unknown>>;
    try {
      await holder.query(
        `INSERT INTO patient_reply (channel, external_id, patient_id, offer_id, intent, code) VALUES ('web', $1, $2, $3, 'yes', $4)`,
        [`fk-web-${stamp}`, offers[0].patient_id, offers[0].id, offers[0].code],
      );
      decided = w.replies.decideBatch([first, second]);
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      await holder.commitTransaction();
      await holder.release();
    }
    const outcome = await decided;
    expect(outcome.get(first)).toEqual({ status: 'done', reason: 'claimed' });
    expect(outcome.get(second)).toEqual({ status: 'done', reason: 'too-late' });
    const [booking] = await ds.query(`SELECT patient_id FROM booking WHERE slot_id = $1`, [slotId]);
    expect(booking.patient_id).toBe(offers[0].patient_id);
  });

  it('decides YES without a code (each on its own, the slot and offer locked together) with one claim and every loser told once', async () => {
    const w = workers();
    const { slotId, offers } = await offeredSlot(w, '150');
    const ids = await Promise.all(offers.map(async (o, i) => {
      const [r] = await ds.query(`INSERT INTO patient_reply (channel, external_id, patient_id, intent) VALUES ('sms', $1, $2, 'yes') RETURNING id`, [`nocode-${i}-${Date.now()}`, o.patient_id]);
      return r.id as string;
    }));
    // All three have found their live offer and queue for the slot before any claim commits (a
    // YES read after the claim finds no live offer: that is another case, "no open offer").
    let deciding!: Promise<JobOutcome[]>;
    await holdingSlot(slotId, async (holder) => {
      deciding = Promise.all(ids.map((id) => w.replies.process({ replyId: id })));
      await untilBlockedBy(ds, await backendPid(holder), { count: 3 });
    });
    const outcomes = await deciding;
    expect(outcomes.map((o) => o.reason).sort()).toEqual(['claimed', 'too-late', 'too-late']);
    expect(await ds.query(`SELECT id FROM booking WHERE slot_id = $1`, [slotId])).toHaveLength(1);
    const taken = await ds.query(`SELECT offer_id FROM sms_message WHERE kind = 'taken' AND offer_id = ANY($1::uuid[])`, [offers.map((o) => o.id)]);
    expect(new Set(taken.map((t: { offer_id: string }) => t.offer_id)).size).toBe(2);
    expect(taken).toHaveLength(2);
  });

  it("answers a YES decided alone as too late when another claim of its slot reached the booking index first (booking_one_per_slot's 23505), rolling back its own claim", async () => {
    const w = workers();
    const { slotId, offers } = await offeredSlot(w, '143', 2);
    const [loser] = await ds.query(`SELECT entry_id FROM offer WHERE id = $1`, [offers[1].id]);
    const reply = await yesFrom(offers[1].patient_id, offers[1].code, `index-${Date.now()}`);
    // Another transaction has claimed the slot for patient 0 without taking the slot's lock (the
    // one way a claim can reach the index first): its booking row is written, not yet committed.
    const holder = ds.createQueryRunner();
    await holder.connect();
    await holder.startTransaction();
    let outcome!: Promise<JobOutcome>;
    try {
      const [winner] = await holder.query(`SELECT id, entry_id, patient_id FROM offer WHERE id = $1`, [offers[0].id]);
      await holder.query(
        `INSERT INTO booking (slot_id, offer_id, entry_id, patient_id, status, owning_trust_ods, home_trust_ods) VALUES ($1, $2, $3, $4, 'pending', 'RQM', 'RYJ')`,
        [slotId, winner.id, winner.entry_id, winner.patient_id],
      );
      // Patient 1's YES, on the lone path, queues behind the holder (the booking's foreign key
      // holds a share lock on the slot's row). Once the holder commits it finds the slot still
      // offered and its own offer live, decides to claim, and the index refuses its booking.
      outcome = w.replies.processOne(reply);
      await untilBlockedBy(ds, await backendPid(holder));
      await holder.commitTransaction();
    } finally {
      if (holder.isTransactionActive) await holder.rollbackTransaction();
      await holder.release();
    }
    expect(await outcome).toEqual({ status: 'done', reason: 'too-late' });
    expect((await ds.query(`SELECT outcome FROM patient_reply WHERE id = $1`, [reply]))[0].outcome).toBe('too-late');
    expect(await ds.query(`SELECT offer_id FROM booking WHERE slot_id = $1`, [slotId])).toEqual([{ offer_id: offers[0].id }]);
    // Patient 1 is told the slot has gone, once; nothing of their claim's first try is left.
    expect(await ds.query(`SELECT kind FROM sms_message WHERE offer_id = $1 AND kind <> 'offer'`, [offers[1].id])).toEqual([{ kind: 'taken' }]);
    expect((await ds.query(`SELECT status FROM waiting_list_entry WHERE id = $1`, [loser.entry_id]))[0].status).not.toBe('booked');
    expect((await ds.query(`SELECT status FROM offer WHERE id = $1`, [offers[1].id]))[0].status).not.toBe('accepted');
    expect(await ds.query(`SELECT w.id FROM writeback w JOIN booking b ON b.id = w.booking_id WHERE b.slot_id = $1`, [slotId])).toEqual([]);
  });

  it('writes its jobs without a NOTIFY and wakes its own relay for them instead', async () => {
    const w = workers();
    const { replies, wake } = quietReplies();
    const { offers } = await offeredSlot(w, '140');
    const ids = await Promise.all(offers.map((o, i) => yesFrom(o.patient_id, o.code, `quiet-${i}-${Date.now()}`)));
    await listeningToOutbox(async (heard) => {
      const decided = await replies.decideBatch(ids);
      expect([...decided.values()].filter((o) => o.reason === 'claimed')).toHaveLength(1);
      await new Promise((r) => setTimeout(r, 300));
      expect(heard).toEqual([]);
      expect(wake).toHaveBeenCalledTimes(1);
      expect(wake.mock.calls[0][0].sort()).toEqual([queueFor('send-sms'), queueFor('write-back', 'RQM')].sort());
    });
  });

  it('decides a reply on its own (STOP, NO, a YES without its code) without a NOTIFY, and wakes its own relay for the queues it wrote to', async () => {
    const w = workers();
    const { replies, wake } = quietReplies();
    const { slotId, offers } = await offeredSlot(w, '141');
    const stamp = Date.now();
    const reply = async (patientId: string, intent: string, code: string | null, i: number): Promise<string> => {
      const [r] = await ds.query(`INSERT INTO patient_reply (channel, external_id, patient_id, intent, code) VALUES ('sms', $1, $2, $3, $4) RETURNING id`, [`lone-${i}-${stamp}`, patientId, intent, code]);
      return r.id as string;
    };
    await listeningToOutbox(async (heard) => {
      // STOP: the patient's live offer declined, "stopped" sent.
      expect(await replies.processOne(await reply(offers[0].patient_id, 'stop', null, 0))).toEqual({ status: 'done', reason: 'stopped' });
      expect(wake.mock.calls.at(-1)![0]).toEqual([queueFor('send-sms')]);
      // YES without a code: claimed on the lone path (its write-back order and the loser's "no longer available").
      expect(await replies.processOne(await reply(offers[1].patient_id, 'yes', null, 1))).toEqual({ status: 'done', reason: 'claimed' });
      expect(wake.mock.calls.at(-1)![0].sort()).toEqual([queueFor('send-sms'), queueFor('write-back', 'RQM')].sort());
      // A late YES with its code, decided alone: "no longer available" once (already sent: nothing new to wake for).
      expect(await replies.processOne(await reply(offers[2].patient_id, 'yes', offers[2].code, 2))).toEqual({ status: 'done', reason: 'too-late' });
      await new Promise((r) => setTimeout(r, 300));
      expect(heard).toEqual([]);
      expect(wake).toHaveBeenCalledTimes(2);
      // The rows are there for the relay it woke.
      const jobs = await ds.query(`SELECT DISTINCT queue FROM outbox WHERE published_at IS NULL AND (payload->>'smsId')::uuid IN (SELECT id FROM sms_message WHERE patient_id = ANY($1::uuid[]))`, [offers.map((o) => o.patient_id)]);
      expect(jobs).toEqual([{ queue: queueFor('send-sms') }]);
      expect(await ds.query(`SELECT id FROM booking WHERE slot_id = $1`, [slotId])).toHaveLength(1);
    });
  });

  it('decides a NO that ends the wave alone without a NOTIFY, and wakes its relay for the next round too', async () => {
    const w = workers();
    const { replies, wake } = quietReplies();
    const { offers } = await offeredSlot(w, '142', 1);
    const [r] = await ds.query(`INSERT INTO patient_reply (channel, external_id, patient_id, intent, code) VALUES ('sms', $1, $2, 'no', $3) RETURNING id`, [`lone-no-${Date.now()}`, offers[0].patient_id, offers[0].code]);
    await listeningToOutbox(async (heard) => {
      expect(await replies.processOne(r.id)).toEqual({ status: 'done', reason: 'declined' });
      await new Promise((res) => setTimeout(res, 300));
      expect(heard).toEqual([]);
      expect(wake).toHaveBeenCalledTimes(1);
      expect(wake.mock.calls[0][0]).toContain(queueFor('match-slot'));
    });
  });
});

describe('minimum notice', () => {
  it('records a slot inside the notice window as too late and never matches it', async () => {
    const w = workers();
    await w.list.applyBatch('RYJ', { mode: 'delta', rows: [row({ tfc: '120' })] });
    const slotId = await releaseSlot(w.events, 10, '120');
    const [slot] = await ds.query(`SELECT status, closed_reason FROM slot WHERE id = $1`, [slotId]);
    expect(slot.status).toBe('too_late');
    expect(slot.closed_reason).toMatch(/minimum notice/);
    expect(await ds.query(`SELECT 1 FROM outbox WHERE job_id LIKE $1`, [`match-${slotId}%`])).toHaveLength(0);
    expect((await w.matcher.match({ slotId: slotId!, round: 1 })).status).toBe('skipped');
  });

  it('closes a slot whose cut-off has passed instead of offering it', async () => {
    const w = workers();
    await w.list.applyBatch('RYJ', { mode: 'delta', rows: [row({ tfc: '130' })] });
    const slotId = await releaseSlot(w.events, 30, '130');
    clock.advance(7 * HOUR); // now 23 h before the start: inside the notice
    try {
      await w.matcher.match({ slotId: slotId!, round: 1 });
      const [slot] = await ds.query(`SELECT status FROM slot WHERE id = $1`, [slotId]);
      expect(slot.status).toBe('unfilled');
      expect(await ds.query(`SELECT 1 FROM offer WHERE slot_id = $1`, [slotId])).toHaveLength(0);
    } finally {
      clock.advance(-7 * HOUR);
    }
  });
});

describe('waves', () => {
  it('offers the next wave when everyone in the first declines, and ranks by priority', async () => {
    const w = workers();
    const rows = [row({ tfc: '300', priority: 'P4' }), row({ tfc: '300', priority: 'P2' }), row({ tfc: '300', priority: 'P3' }), row({ tfc: '300', priority: 'P4', rttStart: '2026-06-01' })];
    await w.list.applyBatch('RYJ', { mode: 'delta', rows });
    const slotId = await releaseSlot(w.events, 96, '300');
    await w.matcher.match({ slotId: slotId!, round: 1 });
    const first = await ds.query(`SELECT o.id, o.patient_id, o.code, o.rank, e.priority FROM offer o JOIN waiting_list_entry e ON e.id = o.entry_id WHERE o.slot_id = $1 ORDER BY o.rank`, [slotId]);
    expect(first.map((o: { priority: string }) => o.priority)).toEqual(['P2', 'P3', 'P4']);
    for (const [i, o] of first.entries()) {
      const [r] = await ds.query(`INSERT INTO patient_reply (channel, external_id, patient_id, intent, code) VALUES ('sms', $1, $2, 'no', $3) RETURNING id`, [`no-${i}-${Date.now()}`, o.patient_id, o.code]);
      const out = await w.replies.process({ replyId: r.id });
      expect(out.reason).toBe("declined");
    }
    const next = await ds.query(`SELECT job_id FROM outbox WHERE job_id = $1`, [`match-${slotId}-2`]);
    expect(next).toHaveLength(1);
    await w.matcher.match({ slotId: slotId!, round: 2 });
    const second = await ds.query(`SELECT e.rtt_start FROM offer o JOIN waiting_list_entry e ON e.id = o.entry_id WHERE o.slot_id = $1 AND o.status = 'live'`, [slotId]);
    expect(second).toEqual([{ rtt_start: '2026-06-01' }]);
  });
});

describe('undeliverable offers', () => {
  it('move the slot straight to the next wave instead of waiting for expiry', async () => {
    const w = workers();
    await w.list.applyBatch('RYJ', { mode: 'delta', rows: [row({ tfc: '301', priority: 'P2' }), row({ tfc: '301', priority: 'P4' })] });
    const slotId = await releaseSlot(w.events, 100, '301');
    const policyOfOne = { ...policy, waveSize: 1 };
    const matcher = new MatchingWorker(ds, clock, policyOfOne, ics, noQueues, metrics, config);
    await matcher.match({ slotId: slotId!, round: 1 });
    const [first] = await ds.query(`SELECT id FROM offer WHERE slot_id = $1 AND status = 'live'`, [slotId]);
    expect((await w.replies.undeliverable({ offerId: first.id })).status).toBe('done');
    expect((await w.replies.undeliverable({ offerId: first.id })).status).toBe('skipped'); // a repeat does nothing
    expect((await ds.query(`SELECT status FROM offer WHERE id = $1`, [first.id]))[0].status).toBe('undeliverable');
    expect(await ds.query(`SELECT 1 FROM outbox WHERE job_id = $1`, [`match-${slotId}-2`])).toHaveLength(1);
    await matcher.match({ slotId: slotId!, round: 2 });
    const next = await ds.query(`SELECT e.priority FROM offer o JOIN waiting_list_entry e ON e.id = o.entry_id WHERE o.slot_id = $1 AND o.status = 'live'`, [slotId]);
    expect(next).toEqual([{ priority: 'P4' }]);
  });
});

// Keeps the config class honest: PolicyConfig defaults are the contract's defaults.
it('uses the contract defaults for policy', () => {
  const c = new PolicyConfig();
  expect([c.MIN_NOTICE_HOURS, c.WAVE_SIZE, c.OFFER_TTL_MINUTES, c.QUIET_HOURS]).toEqual([24, 3, 120, '20:00-08:00']);
});

/**
 * "A pathway gets at most one booking", the way it could break: a patient's YES for one slot racing
 * the matching of another slot for which the same pathway is the only candidate, many times over,
 * then the patient answering YES to whatever else they were offered. The database's
 * `booking_one_per_entry` is the last line; the services must never rely on hitting it.
 */
describe('a pathway gets at most one booking', () => {
  it('holds when a patient\'s YES races the matching of another slot their pathway is the only candidate for, and they then say YES to that too', async () => {
    const w = workers();
    const ROUNDS = 12;
    for (let round = 0; round < ROUNDS; round++) {
      // Each round its own specialty, so the patient is the only candidate for both slots.
      const tfc = String(610 + round);
      await w.list.applyBatch('RQM', {
        mode: 'delta',
        rows: [row({ tfc })],
      });
      const first = (await releaseSlot(w.events, 72, tfc))!;
      await w.matcher.match({ slotId: first, round: 1 });
      const [offer] = await ds.query(`SELECT id, patient_id, entry_id, code FROM offer WHERE slot_id = $1 AND status = 'live'`, [first]);
      expect(offer).toBeDefined();
      const second = (await releaseSlot(w.events, 96, tfc))!;
      // The race: the YES for the first slot, and the second slot's matching, at once.
      const replyId = await yesFrom(offer.patient_id, offer.code, `pw-${round}-${Date.now()}`);
      const [claim] = await Promise.all([w.replies.process({ replyId }), w.matcher.match({ slotId: second, round: 1 })]);
      expect(claim.reason).toBe('claimed');
      // Whatever the second slot's matching did, a YES to any offer the patient now holds books nothing more.
      for (const o of await ds.query(`SELECT id, code FROM offer WHERE patient_id = $1 AND status = 'live'`, [offer.patient_id])) {
        const again = await w.replies.process({ replyId: await yesFrom(offer.patient_id, o.code, `pw-again-${o.id}`) });
        expect(again.reason).not.toBe('claimed');
      }
      const bookings = await ds.query(`SELECT count(*)::int AS n FROM booking WHERE entry_id = $1 AND status <> 'failed'`, [offer.entry_id]);
      expect({ round, bookings: bookings[0].n }).toEqual({ round, bookings: 1 });
    }
    // And across every round: no pathway with two bookings, and no booked pathway left holding a live offer.
    expect(await ds.query(`SELECT entry_id FROM booking WHERE status <> 'failed' GROUP BY entry_id HAVING count(*) > 1`)).toEqual([]);
    expect(await ds.query(`SELECT o.id FROM offer o JOIN waiting_list_entry e ON e.id = o.entry_id WHERE o.status = 'live' AND e.status = 'booked'`)).toEqual([]);
  });

  it('is enforced by the database even if code tries twice; a failed booking does not count', async () => {
    // A pathway booked above, and another patient's live offer with no booking: the entry is what must clash.
    const w = workers();
    await w.list.applyBatch('RQM', {
      mode: 'delta',
      rows: [row({ tfc: '609' })],
    });
    const slot = (await releaseSlot(w.events, 72, '609'))!;
    await w.matcher.match({ slotId: slot, round: 1 });
    const [booked] = await ds.query(`SELECT id, entry_id, patient_id FROM booking WHERE status <> 'failed' ORDER BY created_at LIMIT 1`);
    const [spare] = await ds.query(`SELECT id, slot_id FROM offer WHERE slot_id = $1 AND status = 'live'`, [slot]);
    expect(booked).toBeDefined();
    expect(spare).toBeDefined();
    const insert = () => ds.query(
      `INSERT INTO booking (slot_id, offer_id, entry_id, patient_id, status, owning_trust_ods, home_trust_ods) VALUES ($1, $2, $3, $4, 'pending', 'RQM', 'RQM')`,
      [spare.slot_id, spare.id, booked.entry_id, booked.patient_id],
    );
    await expect(insert()).rejects.toMatchObject({ code: '23505', constraint: 'booking_one_per_entry' });
    await ds.query(`UPDATE booking SET status = 'failed', failed_at = now() WHERE id = $1`, [booked.id]);
    await expect(insert()).resolves.toBeDefined();
  });
});

/**
 * "A patient holds at most one live offer", where it could break: two slots of different
 * specialties (never batched together: each is matched on its own walk, by its own worker on its
 * own pool) whose best candidate is the same patient, matched at the same moment. A wave ranks in
 * one statement and inserts its offers in a later one; a wave that committed the patient's offer
 * in between is caught only by `offer_one_live_per_patient` (the insert's ON CONFLICT DO NOTHING),
 * and the wave then moves on down its own list.
 */
describe('a patient holds at most one live offer', () => {
  it('holds round after round when two workers match at once two specialties\' slots whose best candidate is the same patient, each wave otherwise the best of its own list', async () => {
    const ROUNDS = 40;
    const otherPool = await new DataSource(dataSourceOptions(db.url, 5)).initialize();
    const problems: Array<Record<string, unknown>> = [];
    try {
      const w = workers();
      const elsewhere = workers(otherPool).matcher;
      for (let round = 0; round < ROUNDS; round++) {
        // Each round its own two specialties, one at RQM and one at RAS: the patient, P2, ranks
        // first on both lists; four P3 patients on each, longest wait first.
        const tfcs = [String(700 + 2 * round), String(701 + 2 * round)];
        const shared = row({ tfc: tfcs[0], priority: 'P2' });
        const lists = tfcs.map((tfc) => [1, 2, 3, 4].map((day) => row({ tfc, rttStart: `2026-03-0${day}` })));
        await w.list.applyBatch('RQM', { mode: 'delta', rows: [shared, ...lists[0]] });
        await w.list.applyBatch('RAS', { mode: 'delta', rows: [{ ...shared, pathwayId: `${shared.pathwayId}-RAS`, tfc: tfcs[1] }, ...lists[1]] });
        const slots = [(await releaseSlot(w.events, 72, tfcs[0], 'RQM'))!, (await releaseSlot(w.events, 72, tfcs[1], 'RAS'))!];
        // Each worker takes either slot in turn.
        const [m0, m1] = round % 2 ? [elsewhere, w.matcher] : [w.matcher, elsewhere];
        const outcomes = await Promise.all([m0.match({ slotId: slots[0], round: 1 }), m1.match({ slotId: slots[1], round: 1 })]);

        const live: Array<{ slot_id: string; nhs: string }> = await ds.query(
          `SELECT o.slot_id, p.nhs_number AS nhs FROM offer o JOIN patient p ON p.id = o.patient_id WHERE o.slot_id = ANY($1::uuid[]) AND o.status = 'live'`, [slots],
        );
        const holders = new Set(live.filter((o) => o.nhs === shared.nhsNumber).map((o) => o.slot_id));
        if (holders.size !== 1) problems.push({ round, liveOffersOfThePatient: holders.size });
        // Each wave: the patient if it got them, else the next on its own list.
        for (const [k, slotId] of slots.entries()) {
          const got = live.filter((o) => o.slot_id === slotId).map((o) => o.nhs).sort();
          const want = (holders.has(slotId) ? [shared, ...lists[k].slice(0, 2)] : lists[k].slice(0, 3)).map((r) => r.nhsNumber).sort();
          if (JSON.stringify(got) !== JSON.stringify(want)) problems.push({ round, slot: k, outcome: outcomes[k].reason, offered: got.length, right: got.filter((n) => want.includes(n)).length });
        }
        // One live wave each, the slot moved on with it, and one offer text (and its job) per offer.
        const state = await ds.query(
          `SELECT s.status, s.match_round,
                  (SELECT count(*)::int FROM offer_wave v WHERE v.slot_id = s.id AND v.status = 'live') AS waves,
                  (SELECT count(*)::int FROM sms_message m JOIN offer o ON o.id = m.offer_id WHERE o.slot_id = s.id AND m.kind = 'offer') AS texts,
                  (SELECT count(*)::int FROM outbox x JOIN sms_message m ON m.id::text = x.payload->>'smsId' JOIN offer o ON o.id = m.offer_id
                    WHERE o.slot_id = s.id AND x.job_name = 'send-sms') AS jobs
             FROM slot s WHERE s.id = ANY($1::uuid[])`, [slots],
        );
        for (const s of state) if (JSON.stringify(s) !== JSON.stringify({ status: 'offering', match_round: 1, waves: 1, texts: 3, jobs: 3 })) problems.push({ round, state: s });
      }
    } finally {
      await otherPool.destroy();
    }
    expect(problems).toEqual([]);
    expect(await ds.query(`SELECT patient_id FROM offer WHERE status = 'live' GROUP BY patient_id HAVING count(*) > 1`)).toEqual([]);
  });
});

/**
 * A PAS's answer posted twice at the same moment (the adapter's job redelivered while its first
 * delivery still runs, two adapter replicas): the write-back's row lock (`FOR UPDATE OF w` in
 * `WritebacksService.outcome`) makes the second read what the first decided, so the outcome is
 * recorded, and acted on, once.
 */
describe('a write-back outcome posted twice at once', () => {
  let n = 0;
  const book = { outcome: 'succeeded', pasAppointmentId: 'RQM-TWICE-1' } as const;
  const refused = { outcome: 'failed', permanent: true, reason: 'PAS: slot no longer bookable' } as const;

  /**
   * A claimed booking whose write-back both posts read at once: another transaction holds the
   * write-back's row until both wait behind it (at their locked read, or with no such lock at their
   * update), so they race from the same state. Then each outcome job written is delivered.
   */
  async function postedTwice(first: typeof book | typeof refused, second: typeof book | typeof refused) {
    const b = await claimedBooking({ ds, clock, policy, ics, metrics }, ++n);
    const exchange = new WritebacksService(ds, clock, policy);
    const holder = ds.createQueryRunner();
    await holder.connect();
    await holder.startTransaction();
    let posted!: Promise<Array<{ status: string }>>;
    try {
      await holder.query(`SELECT id FROM writeback WHERE id = $1 FOR NO KEY UPDATE`, [b.writebackId]);
      posted = Promise.all([exchange.outcome('RQM', b.writebackId, first), exchange.outcome('RQM', b.writebackId, second)]);
      await untilBlockedBy(ds, await backendPid(holder), { count: 2 });
    } finally {
      await holder.rollbackTransaction();
      await holder.release();
    }
    const answers = await posted;
    const jobs: Array<{ payload: { writebackId: string } }> = await ds.query(
      `SELECT payload FROM outbox WHERE job_name = 'writeback-outcome' AND payload->>'writebackId' = $1`, [b.writebackId],
    );
    const outcomes = new WritebackOutcomesWorker(ds, clock, policy, ics, noQueues, metrics, workers().replies);
    for (const j of jobs) await outcomes.process({ writebackId: j.payload.writebackId });
    const [wb] = await ds.query(`SELECT status, attempts, pas_appointment_id FROM writeback WHERE id = $1`, [b.writebackId]);
    const [booking] = await ds.query(`SELECT status, pas_appointment_id FROM booking WHERE id = $1`, [b.bookingId]);
    const texts = await ds.query(
      `SELECT m.kind FROM sms_message m JOIN booking bk ON bk.patient_id = m.patient_id WHERE bk.id = $1 AND m.kind <> 'offer' ORDER BY m.kind`, [b.bookingId],
    );
    return { b, answers, jobs: jobs.length, wb, booking, texts: texts.map((t: { kind: string }) => t.kind) };
  }

  it('the same success twice: one outcome job, one attempt, the booking confirmed with one confirmation text', async () => {
    const r = await postedTwice(book, book);
    expect(r.answers).toEqual([{ status: 'succeeded' }, { status: 'succeeded' }]);
    expect(r.jobs).toBe(1);
    expect(r.wb).toEqual({ status: 'succeeded', attempts: 1, pas_appointment_id: 'RQM-TWICE-1' });
    expect(r.booking).toEqual({ status: 'confirmed', pas_appointment_id: 'RQM-TWICE-1' });
    expect(r.texts).toEqual(['confirmed']);
  });

  it.each([
    ['a success, then a refusal', book, refused],
    ['a refusal, then a success', refused, book],
  ] as const)('%s, at once: whichever took the lock first stands, both posts are told it, and the booking follows it alone', async (_, one, other) => {
    const r = await postedTwice(one, other);
    const [first] = r.answers;
    expect(['succeeded', 'failed']).toContain(first.status);
    expect(r.answers).toEqual([first, first]);
    expect(r.jobs).toBe(1);
    expect(r.wb).toMatchObject({ status: first.status, attempts: 1 });
    if (first.status === 'succeeded') {
      expect(r.booking).toEqual({ status: 'confirmed', pas_appointment_id: 'RQM-TWICE-1' });
      expect(r.texts).toEqual(['confirmed']);
    } else {
      // The success that lost is kept as the appointment the adapter now cancels in the PAS.
      expect(r.wb.pas_appointment_id).toBe('RQM-TWICE-1');
      expect(r.booking.status).toBe('failed');
      expect(r.texts).not.toContain('confirmed');
    }
  });
});
