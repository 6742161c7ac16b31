/**
 * Issue 5, proved against the whole stack (built processes, real sockets, real Postgres, a real
 * Redis of our own, and a fault-injecting proxy in front of pas-sim):
 * - contested acceptance through the real HTTP callback: many slots × 3 patients each sending YES
 *   twice at once, repeated; then a late YES from a winner (a repeat of the confirmation) and from
 *   a loser (nothing new, no booking); and a crowd of 210 YES at one instant;
 * - a PAS that is slow, fails and drops its answer after committing: one appointment per booking;
 * - a PAS that refuses a booking for good: "could not", the slot back to matching, the failures list;
 * - a PAS that stays unreachable until the write-back's give-up limit: the same honest end, once;
 * - a booking across trusts: IPT record readable by the receiving adapter only, the old appointment
 *   cancelled at home with `pat-swl`; and when that cancel is refused, the booking stands and is
 *   flagged as double-held;
 * - `kill -9` of the booking process mid-burst; Redis killed and restarted empty together with every
 *   Postgres connection dropped, mid-burst; a graceful SIGTERM with claims in flight.
 * After each: every acceptance ends in a confirmed booking or an honest answer, exactly one PAS
 * appointment per booking, no slot lost, no reply unprocessed, no outbox row stuck.
 * Scenarios are kept apart by trust and TFC (patients consent to their own trust only unless said).
 */
import { QUEUE_EPOCH_KEY } from '@app/persistence';
import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import {
  ADAPTER_HTTP, FaultWorld, Patient, alive, expectSettled, freeSlots, http, offerCodes, outcomeOf, outcomes, pasAppointments, processOf, reply,
  personalDataFound, startProcess, startWorld, stopWorld, until, uploadPatients, url, yesAll,
} from './harness';

jest.setTimeout(120_000);

let w: FaultWorld;

/**
 * R1K's adapter gives a write-back up after 6 s (the rest of the world: WRITEBACK_GIVE_UP_MINUTES,
 * 30 s), so the unreachable-PAS scenario waits that long, not half a minute. R1K's PAS is only ever
 * faulty in that scenario and in the one that refuses a booking for good (a 4xx, not retried), so
 * no other scenario can meet the shorter limit.
 */
const R1K_GIVE_UP_MINUTES = 0.1;

beforeAll(async () => {
  w = await startWorld('sx_faults', { envFor: { 'trust-adapter-R1K': { PAS_WRITEBACK_GIVE_UP_MINUTES: String(R1K_GIVE_UP_MINUTES) } } });
}, 120_000);

afterAll(async () => {
  await stopWorld(w);
}, 60_000);

const bookingProcess = () => processOf(w, 'booking');
const restartBooking = () => startProcess(w, 'booking');
/** Every patient's YES at once; `fault` strikes once `after` replies are in, and the burst is delivered in full. */
async function burstWith(patients: Patient[], codes: string[], after: number, fault: () => Promise<void>): Promise<void> {
  let answered = 0;
  const burst = yesAll(patients, codes, 1, () => answered++);
  await until('the burst to be under way', async () => answered >= after, 20_000, 5);
  await fault();
  await burst; // the notifier keeps accepting replies: they wait in the outbox / queue
}

/** One winner per slot told "confirmed", every other patient "no longer available", and the invariants hold. */
async function expectEveryAcceptanceEnded(patients: Patient[], ods: string, tfc: string, slots: number, ms = 60_000) {
  const told = await outcomes(patients, ms);
  expect(told.filter((o) => o === 'confirmed')).toHaveLength(slots);
  expect(told.filter((o) => o === 'taken')).toHaveLength(patients.length - slots);
  await expectSettled(w, ods, tfc, slots);
  return told;
}

const lastReplyOf = async (p: Patient) => (await w.pg.query(
  `SELECT r.processed_at, r.outcome FROM patient_reply r WHERE r.mobile = $1 ORDER BY r.received_at DESC LIMIT 1`, [p.mobile],
)).rows[0];

describe('contested acceptance through the real callback', () => {
  const SLOTS = 6;
  for (const [round, tfc] of ['100', '101', '110'].entries()) {
    it(`round ${round + 1}: ${SLOTS} slots × 3 patients × YES twice at once → one booking per slot, every loser told once`, async () => {
      const patients = await uploadPatients('RYJ', tfc, 1000 + round * 100, SLOTS * 3);
      await freeSlots('RYJ', tfc, SLOTS);
      const codes = await offerCodes(patients);
      await yesAll(patients, codes, 2);
      const told = await expectEveryAcceptanceEnded(patients, 'RYJ', tfc, SLOTS);
      // A loser hears "no longer available" once, however many YES they sent; a winner hears only
      // "confirmed" (twice when their second YES came after the confirmation: a repeat of it).
      for (const [i, p] of patients.entries()) {
        const { bodies } = await outcomeOf(p);
        if (told[i] === 'taken') expect(bodies).toEqual([expect.stringMatching(/no longer available/)]);
        else {
          expect([1, 2]).toContain(bodies.length);
          for (const b of bodies) expect(b).toMatch(/is confirmed/);
        }
      }
      if (round > 0) return;
      // Late answers: a winner's YES gets the confirmation again, a loser's changes nothing.
      const winner = patients[told.indexOf('confirmed')];
      const loser = patients[told.indexOf('taken')];
      const before = (await outcomeOf(winner)).bodies.length;
      await reply(winner.mobile, `YES ${codes[told.indexOf('confirmed')]}`);
      await reply(loser.mobile, `yes ${codes[told.indexOf('taken')]}!`);
      await until('the winner to hear the confirmation again', async () => (await outcomeOf(winner)).bodies.length === before + 1, 15_000);
      expect((await outcomeOf(winner)).bodies.every((b) => /is confirmed/.test(b))).toBe(true);
      const late = await until('the late YES to be processed', async () => (await lastReplyOf(loser))?.processed_at && lastReplyOf(loser));
      expect(late.outcome).toBe('too-late');
      expect((await outcomeOf(loser)).bodies).toHaveLength(1);
      await expectSettled(w, 'RYJ', tfc, SLOTS);
    });
  }
});

describe('a crowd of YES through the real callback (RQM)', () => {
  // Issue 5: the notifier once ran out of database connections under 200 simultaneous YES. Now the
  // callback's writes are batched and bounded (503 + Retry-After past the backlog, which Notify
  // retries): every one of 210 texts sent at the same instant must end in the right answer.
  it('70 slots × 3 patients, all 210 YES at one instant: one booking per slot, every other patient told, nothing lost', async () => {
    const SLOTS = 70;
    const patients = await uploadPatients('RQM', '100', 2000, SLOTS * 3);
    await freeSlots('RQM', '100', SLOTS);
    const codes = await offerCodes(patients, 90_000);
    await yesAll(patients, codes);
    await expectEveryAcceptanceEnded(patients, 'RQM', '100', SLOTS, 110_000);
    const stored = (await w.pg.query(
      `SELECT count(*)::int AS n, count(DISTINCT p.id)::int AS patients FROM patient_reply r JOIN patient p ON p.mobile = r.mobile WHERE r.mobile = ANY($1)`,
      [patients.map((p) => p.mobile)],
    )).rows[0];
    expect(stored).toEqual({ n: SLOTS * 3, patients: SLOTS * 3 });
  }, 240_000);
});

describe('a PAS that is slow, fails, and drops its answer after committing (RAS)', () => {
  it('ends with exactly one PAS appointment per booking and every winner confirmed', async () => {
    const SLOTS = 4;
    const patients = await uploadPatients('RAS', '120', 400, SLOTS * 3);
    await freeSlots('RAS', '120', SLOTS);
    const codes = await offerCodes(patients);
    w.pas.set('RAS', { delayMs: 1000, failNext: 3, dropAfterCommitNext: 2 });
    await yesAll(patients, codes);
    await expectEveryAcceptanceEnded(patients, 'RAS', '120', SLOTS);
    // The faults were really met: refused writes, and answers lost after the PAS had committed.
    expect(w.pas.seen('RAS')).toMatchObject({ failed: 3, dropped: 2 });
    w.pas.clear();
  });
});

describe('a PAS that refuses a booking for good (R1K)', () => {
  it('tells the patient the truth, puts the slot back into matching and lists the failure', async () => {
    w.pas.set('R1K', { refuseWrites: ['POST'] });
    const [patient] = await uploadPatients('R1K', '130', 300, 1);
    await freeSlots('R1K', '130', 1);
    const [code] = await offerCodes([patient]);
    await reply(patient.mobile, `YES ${code}`);
    const told = await until('the honest failure', async () => {
      const o = await outcomeOf(patient);
      return o.outcome === 'could-not' ? o : undefined;
    }, 30_000);
    expect(told.bodies).toEqual([expect.stringMatching(/could not book/)]);
    const [booking] = (await w.pg.query(`SELECT id, slot_id, status, needs_attention FROM booking WHERE owning_trust_ods = 'R1K'`)).rows;
    expect(booking.status).toBe('failed');
    expect(booking.needs_attention).toMatch(/write-back failed/);
    const [slot] = (await w.pg.query(`SELECT status, match_round FROM slot WHERE id = $1`, [booking.slot_id])).rows;
    expect(slot.status).not.toBe('booked');
    expect((await w.pg.query(`SELECT 1 FROM outbox WHERE job_id = $1`, [`match-${booking.slot_id}-2`])).rowCount).toBe(1);
    const failures = (await w.pg.query(`SELECT kind, trust_ods, slot_id, reason FROM booking_failure WHERE booking_id = $1`, [booking.id])).rows;
    expect(failures).toEqual([{ kind: 'writeback-failed', trust_ods: 'R1K', slot_id: booking.slot_id, reason: expect.stringMatching(/422/) }]);
    expect((await pasAppointments('R1K')).some((a) => a.identifier?.some((i) => i.value === booking.id))).toBe(false);
    w.pas.clear();
  });
});

describe('a PAS that stays unreachable until the write-back gives up (R1K)', () => {
  // A write-back retries with capped exponential back-off until PAS_WRITEBACK_GIVE_UP_MINUTES (30 in
  // production, R1K_GIVE_UP_MINUTES here); the back-off itself is production's.
  // The proxy cuts each connection after the request is sent: the adapter cannot know whether the
  // PAS took it, and the PAS cannot be asked at the end either, so the slot is closed and listed
  // for the booking team to check, never offered again (a second patient could be booked into a
  // time the PAS already gave the first). A PAS that refuses every connection, so never took the
  // booking, puts the slot back into matching: writeback-faults.int-spec.
  it('gives up once, honestly: "could not", the slot closed and listed to check in the PAS, one outcome', async () => {
    w.pas.set('R1K', { unreachable: true });
    const [patient] = await uploadPatients('R1K', '101', 330, 1);
    await freeSlots('R1K', '101', 1);
    const [code] = await offerCodes([patient]);
    // The write-back is ordered after this YES, so none may give up sooner than the limit after it.
    const ordered = Date.now();
    await reply(patient.mobile, `YES ${code}`);
    const told = await until('the honest failure after the last retry', async () => {
      const o = await outcomeOf(patient);
      return o.outcome === 'could-not' ? o : undefined;
    }, 110_000, 250).finally(() => w.pas.clear()); // a failure here must not leave R1K unreachable for the next tests
    // The attempts met a PAS that was not there (an attempt may also be refused by the open circuit
    // breaker before it connects), and none gave up before the limit.
    expect(w.pas.seen('R1K').cut).toBeGreaterThan(0);
    expect(Date.now() - ordered).toBeGreaterThanOrEqual(R1K_GIVE_UP_MINUTES * 60_000);
    const [booking] = (await w.pg.query(
      `SELECT b.id, b.slot_id, b.status, b.needs_attention FROM booking b JOIN slot s ON s.id = b.slot_id WHERE s.trust_ods = 'R1K' AND s.tfc = '101'`,
    )).rows;
    expect(booking).toMatchObject({ status: 'failed', needs_attention: expect.stringMatching(/write-back failed/) });
    const [wb] = (await w.pg.query(`SELECT status, attempts, last_error FROM writeback WHERE booking_id = $1 AND kind = 'book'`, [booking.id])).rows;
    expect(wb).toMatchObject({ status: 'failed', last_error: expect.stringMatching(/unreachable/i) });
    expect(wb.attempts).toBeGreaterThan(1);
    // The slot is closed, though days away: the PAS may hold the booking; nothing offers it again.
    const [slot] = (await w.pg.query(`SELECT status FROM slot WHERE id = $1`, [booking.slot_id])).rows;
    expect(slot.status).toBe('unfilled');
    expect((await w.pg.query(`SELECT 1 FROM outbox WHERE job_id = $1`, [`match-${booking.slot_id}-2`])).rowCount).toBe(0);
    const failures = (await w.pg.query(`SELECT kind, trust_ods, slot_id, reason FROM booking_failure WHERE booking_id = $1`, [booking.id])).rows;
    expect(failures).toEqual([{ kind: 'no-pas-answer', trust_ods: 'R1K', slot_id: booking.slot_id, reason: expect.stringMatching(/unreachable/i) }]);
    // Exactly one outcome: one "could not", never a confirmation, and nothing in the PAS.
    await new Promise((r) => setTimeout(r, 2000)); // room for a second message, were one coming
    expect((await outcomeOf(patient)).bodies).toEqual([expect.stringMatching(/could not book/)]);
    expect(told.bodies).toEqual([expect.stringMatching(/could not book/)]);
    w.pas.clear();
    expect((await pasAppointments('R1K')).some((a) => a.identifier?.some((i) => i.value === booking.id))).toBe(false);
  }, 150_000);
});

describe('a booking at another trust (RYJ patient, R1K slot)', () => {
  const transfersAs = (ods: string, token: string | undefined) =>
    http('GET', url(ADAPTER_HTTP[ods], '/v1/transfers'), undefined, token ? { authorization: `Bearer ${token}` } : {});

  it('records the transfer for the receiving trust only, and cancels the old appointment with pat-swl', async () => {
    const [patient] = await uploadPatients('RYJ', '502', 600, 1, { icsWide: true, currentAppointmentInDays: 60 });
    await freeSlots('R1K', '502', 1);
    const [code] = await offerCodes([patient]);
    await reply(patient.mobile, `YES ${code}`);
    expect(await until('the confirmation', async () => (await outcomeOf(patient)).outcome, 30_000)).toBe('confirmed');
    const [booking] = (await w.pg.query(`SELECT b.id, b.pas_appointment_id FROM booking b JOIN slot s ON s.id = b.slot_id WHERE s.trust_ods = 'R1K' AND s.tfc = '502'`)).rows;
    const old = await until('the old appointment to be cancelled at RYJ', async () =>
      (await pasAppointments('RYJ')).find((a) => a.id === patient.currentAppointmentId && a.status === 'cancelled'), 30_000);
    expect(old.cancelationReason?.coding?.[0]?.code).toBe('pat-swl');

    const mine = await transfersAs('R1K', 'dev-R1K-token');
    expect(mine.status).toBe(200);
    expect(mine.json).toEqual([expect.objectContaining({
      bookingId: booking.id, sendingTrustOds: 'RYJ', receivingTrustOds: 'R1K', rttStart: '2026-03-01', priority: 'P3',
      referral: { pathwayId: 'PW-F-600-0', tfc: '502', appointmentType: 'NEW' },
      appointment: { start: expect.any(String), pasAppointmentId: booking.pas_appointment_id },
      patient: { nhsNumber: patient.nhs },
    })]);
    // The sending trust does not see it as its own; nobody reads it without a token; a token acts for its trust only.
    expect((await transfersAs('RYJ', 'dev-RYJ-token')).json).toEqual([]);
    expect((await transfersAs('R1K', undefined)).status).toBe(401);
    expect((await transfersAs('R1K', 'dev-RYJ-token')).status).toBe(401);
    const direct = await http('GET', url(3000, '/v1/trusts/R1K/transfers'), undefined, { authorization: 'Bearer dev-exchange-RYJ-token' });
    expect(direct.status).toBe(403);
    expect((await http('GET', url(ADAPTER_HTTP.R1K, '/v1/transfers?since=yesterday'), undefined, { authorization: 'Bearer dev-R1K-token' })).status).toBe(400);
  });

  it('keeps the new booking and lists it as double-held when the home trust refuses the cancel', async () => {
    w.pas.set('RYJ', { refuseWrites: ['PUT'] });
    const [patient] = await uploadPatients('RYJ', '320', 650, 1, { icsWide: true, currentAppointmentInDays: 60 });
    await freeSlots('R1K', '320', 1);
    const [code] = await offerCodes([patient]);
    await reply(patient.mobile, `YES ${code}`);
    expect(await until('the confirmation', async () => (await outcomeOf(patient)).outcome, 30_000)).toBe('confirmed');
    const flagged = await until('the double-held flag', async () => (await w.pg.query(
      `SELECT b.id, b.status, b.needs_attention, f.kind, f.trust_ods FROM booking b JOIN slot s ON s.id = b.slot_id JOIN booking_failure f ON f.booking_id = b.id
        WHERE s.trust_ods = 'R1K' AND s.tfc = '320'`,
    )).rows[0], 30_000);
    expect(flagged).toMatchObject({ status: 'confirmed', kind: 'double-held', trust_ods: 'RYJ', needs_attention: expect.stringMatching(/two appointments/) });
    expect((await pasAppointments('RYJ')).find((a) => a.id === patient.currentAppointmentId)?.status).toBe('booked');
    expect(w.pas.seen('RYJ').refused).toBeGreaterThan(0);
    expect((await outcomeOf(patient)).bodies.some((b) => /could not/.test(b))).toBe(false);
    w.pas.clear();
  });
});

describe('kill -9 of the booking process mid-burst (RQM)', () => {
  it('ends every acceptance in a confirmed booking or an honest answer after a restart', async () => {
    const SLOTS = 8;
    const patients = await uploadPatients('RQM', '300', 500, SLOTS * 3);
    await freeSlots('RQM', '300', SLOTS);
    const codes = await offerCodes(patients);
    const booking = bookingProcess();
    // Mid-burst: once some replies are in (and some of them being claimed), the process dies hard.
    await burstWith(patients, codes, SLOTS, async () => {
      process.kill(booking.pid, 'SIGKILL');
      await until('the booking process to be gone', async () => !alive(booking.pid), 10_000, 50);
    });
    await restartBooking();
    // Jobs the dead process held are found stalled (lockDuration + stalledInterval) and run again.
    // A patient can hear "no longer available" (their offer superseded by another's claim) before
    // their own YES, held by the dead process, is run: expectSettled waits for every reply.
    await expectEveryAcceptanceEnded(patients, 'RQM', '300', SLOTS);
  });
});

describe('Redis killed and restarted empty, and every Postgres connection dropped, mid-burst (RAS)', () => {
  it('rebuilds the queues from Postgres and ends every acceptance', async () => {
    const SLOTS = 6;
    const patients = await uploadPatients('RAS', '301', 700, SLOTS * 3);
    await freeSlots('RAS', '301', SLOTS);
    const codes = await offerCodes(patients);
    await burstWith(patients, codes, SLOTS, async () => {
      const dropped = await w.pg.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
      );
      expect(dropped.rowCount).toBeGreaterThan(5);
      await w.redis.stop();
      await new Promise((r) => setTimeout(r, 1000));
      await w.redis.start(); // empty: no persistence
    });
    // Notify's callbacks are retried by notify-sim while the notifier's connections come back.
    await expectEveryAcceptanceEnded(patients, 'RAS', '301', SLOTS);
    // The relays noticed the empty Redis and rebuilt the queues from the outbox (queue-rebuild.ts).
    const redis = new IORedis(w.redisUrl);
    try {
      expect(await redis.exists(QUEUE_EPOCH_KEY)).toBe(1);
    } finally {
      redis.disconnect();
    }
  });
});

describe('graceful SIGTERM of the booking process with claims in flight (RQM)', () => {
  it('finishes the claims it holds before exiting, leaving nothing stalled', async () => {
    const SLOTS = 4;
    const patients = await uploadPatients('RQM', '330', 800, SLOTS * 3);
    await freeSlots('RQM', '330', SLOTS);
    const codes = await offerCodes(patients);
    // Hold one slot's row lock, so that the claims for it are certainly in flight at SIGTERM.
    const [held] = (await w.pg.query(`SELECT id FROM slot WHERE trust_ods = 'RQM' AND tfc = '330' ORDER BY start_at LIMIT 1`)).rows;
    await w.pg.query('BEGIN');
    await w.pg.query(`SELECT 1 FROM slot WHERE id = $1 FOR UPDATE`, [held.id]);
    const heldReplies = async () => (await w.pg.query(
      `SELECT r.processed_at FROM patient_reply r JOIN patient p ON p.mobile = r.mobile JOIN offer o ON o.patient_id = p.id AND o.code = r.code WHERE o.slot_id = $1`, [held.id],
    )).rows;
    await yesAll(patients, codes);
    const waiting = async () => (await w.pg.query(
      `SELECT count(DISTINCT l.pid)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE a.datname = current_database() AND NOT l.granted`,
    )).rows[0].n as number;
    await until('the held slot\'s claims to be waiting on its lock', async () => (await waiting()) > 0, 20_000, 100);
    await new Promise((r) => setTimeout(r, 300)); // let the rest of the held slot's claims reach the lock
    const booking = bookingProcess();
    process.kill(booking.pid, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 1500));
    expect(alive(booking.pid)).toBe(true); // still finishing what it holds
    await w.pg.query('COMMIT');
    await until('the booking process to exit', async () => !alive(booking.pid), 20_000, 50);
    // Everything it held finished before it went: nothing is left active for the stall check.
    // (A claim still waiting in the queue at SIGTERM is left for the next process, as it should be;
    // other processes may queue on the same row too, so the waiters are not all the booking's.)
    expect((await heldReplies()).filter((r) => r.processed_at).length).toBeGreaterThanOrEqual(1);
    const q = new Queue('offer-replies', { connection: { host: '127.0.0.1', port: w.redis.port } });
    try {
      expect(await q.getActiveCount()).toBe(0);
    } finally {
      await q.close();
    }
    await restartBooking();
    await expectEveryAcceptanceEnded(patients, 'RQM', '330', SLOTS, 30_000);
  });
});

describe('after every fault above (last in this file: it reads what they left)', () => {
  it('no NHS number or mobile of any patient appears in any process\'s log lines or anywhere in Redis (job ids, data, failure reasons, events)', async () => {
    expect(w.logs.length).toBeGreaterThan(0);
    expect(await personalDataFound(w)).toEqual([]);
  });
});
