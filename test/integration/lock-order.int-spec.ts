/**
 * Every path that locks a booking's rows takes them in one order, slot → booking → write-back
 * (libs/persistence/src/lock-order.ts, the claim's order), so two of them never deadlock: Postgres would abort
 * one (40P01) and its job would be retried, or, for an adapter's forwarded SIU, refused and sent
 * again. Proved here by racing, many times over against real Postgres, the production code of the
 * exchange's S17 handler (the PAS deleted a claimed slot: slot, then booking) against the booking
 * service's two ways of failing a booking: the reconciler at the cut-off and a refused write-back's
 * outcome. Each race must end without a deadlock, in one of the two states the two orders of
 * commit give.
 */
import { FixedClock, DEFAULT_POLICY, MatchingPolicy } from '@app/domain';
import { DELETED_IN_PAS, createTestDatabase, dataSourceOptions, TestDatabase } from '@app/persistence';
import { IcsDirectory, loadIcsDirectory, MetricsService } from '@app/platform';
import { DataSource } from 'typeorm';
import { Reconciler } from '../../apps/booking/src/reconciler';
import { WritebackOutcomesWorker } from '../../apps/booking/src/writeback-outcomes.worker';
import { SlotEventsService } from '../../apps/slot-exchange/src/slot-events.service';
import { WritebacksService } from '../../apps/slot-exchange/src/writebacks.service';
import { ClaimedBooking, claimedBooking } from '../support/claimed-booking';

const HOUR = 3_600_000;
const ROUNDS = 25;
const policy: MatchingPolicy = { ...DEFAULT_POLICY, quietHours: null, waveSize: 1 };
const clock = new FixedClock(new Date(Date.now()));
const metrics = new MetricsService('test');
const noQueues = undefined as never; // driven directly: jobs are observed as outbox rows

let db: TestDatabase;
let ds: DataSource;
let ics: IcsDirectory;

beforeAll(async () => {
  db = await createTestDatabase('sx_lockorder');
  ds = await new DataSource(dataSourceOptions(db.url, 10)).initialize();
  ics = loadIcsDirectory();
});
afterAll(async () => {
  await ds?.destroy();
  await db?.drop();
});

let seq = 0;
const book = (): Promise<ClaimedBooking> => claimedBooking({ ds, clock, policy, ics, metrics }, ++seq);

/** The PAS deleted the slot's appointment (SIU^S17), as the exchange receives it. */
function deleted(b: ClaimedBooking): Promise<unknown> {
  return new SlotEventsService(ds, clock, policy, ics, metrics).handle('RQM', {
    eventId: `s17-${b.slotId}`, kind: 'slot-withdrawn', controlId: `S17${seq}`, siteOds: 'RQM01', clinicCode: '320-NEW', tfc: '320', appointmentType: 'NEW',
    start: b.start.toISOString(), durationMinutes: 20, fillerAppointmentId: b.fillerAppointmentId,
  });
}

/**
 * `a` and `b` started together, one of them a random few milliseconds late (so both orders of
 * their locks are met); what they threw, as `code: message` (a deadlock is 40P01).
 */
async function race(a: () => Promise<unknown>, b: () => Promise<unknown>): Promise<string[]> {
  const late = async (f: () => Promise<unknown>) => {
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 8)));
    return f();
  };
  const settled = await Promise.allSettled(Math.random() < 0.5 ? [a(), late(b)] : [late(a), b()]);
  return settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected')
    .map((s) => `${(s.reason as { code?: string }).code ?? 'no code'}: ${(s.reason as Error).message}`);
}

async function endState(b: ClaimedBooking) {
  const [row] = await ds.query(
    `SELECT s.status AS slot, s.closed_reason, s.pas_deleted_at IS NOT NULL AS deleted_noted, bk.status AS booking, w.status AS writeback,
            (SELECT array_agg(f.kind ORDER BY f.kind) FROM booking_failure f WHERE f.booking_id = bk.id) AS listed
       FROM booking bk JOIN slot s ON s.id = bk.slot_id JOIN writeback w ON w.booking_id = bk.id AND w.kind = 'book' WHERE bk.id = $1`,
    [b.bookingId],
  );
  return row;
}

describe('a PAS deleting a claimed slot while the booking service fails its booking', () => {
  it("racing the reconciler's failure at the cut-off: never a deadlock, and one of the two orders' end states", async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const b = await book();
      // An hour past the slot's cut-off, its PAS still silent: the reconciler fails the booking.
      const pastCutoff = new FixedClock(new Date(b.start.getTime() - (policy.minNoticeHours - 1) * HOUR));
      const reconciler = new Reconciler(ds, undefined as never, noQueues, metrics, pastCutoff, policy, ics);
      expect(await race(() => reconciler.failUnansweredAtCutoff(), () => deleted(b))).toEqual([]);
      const end = await endState(b);
      expect(end).toMatchObject({ booking: 'failed', writeback: 'failed' });
      if (end.deleted_noted) {
        // S17 first: the booking flagged, then failed; the deleted slot withdrawn, never reopened.
        expect(end).toMatchObject({ slot: 'withdrawn', closed_reason: DELETED_IN_PAS, listed: ['no-pas-answer', 'pas-deleted'] });
      } else {
        // The reconciler first: the slot closed at the cut-off; the S17 then finds nothing to do.
        expect(end).toMatchObject({ slot: 'unfilled', closed_reason: 'no answer from the PAS before the cut-off', listed: ['no-pas-answer'] });
      }
    }
  });

  it("racing a refused write-back's outcome: never a deadlock, and one of the two orders' end states", async () => {
    const outcomes = new WritebackOutcomesWorker(ds, clock, policy, ics, noQueues, metrics, undefined as never);
    const adapter = new WritebacksService(ds, clock, policy);
    for (let i = 0; i < ROUNDS; i++) {
      const b = await book();
      await adapter.outcome('RQM', b.writebackId, { outcome: 'failed', permanent: true, reason: 'PAS said 409' });
      expect(await race(() => outcomes.process({ writebackId: b.writebackId }), () => deleted(b))).toEqual([]);
      const end = await endState(b);
      expect(end).toMatchObject({ booking: 'failed', writeback: 'failed' });
      if (end.deleted_noted) {
        expect(end).toMatchObject({ slot: 'withdrawn', closed_reason: DELETED_IN_PAS, listed: ['pas-deleted', 'writeback-failed'] });
      } else {
        // The outcome first: well before the cut-off, the slot went back to matching; the S17
        // then withdrew it as any open freed slot.
        expect(end).toMatchObject({ slot: 'withdrawn', closed_reason: DELETED_IN_PAS, listed: ['writeback-failed'] });
      }
    }
  });
});
