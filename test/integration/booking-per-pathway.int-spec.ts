/**
 * DESIGN.md's invariant "a pathway gets at most one booking", proven against real Postgres the way
 * it could break: a patient's YES for one slot racing the matching of another slot for which the
 * same pathway is the only candidate, many times over, and then the patient answering YES to
 * whatever else they were offered. The database's `booking_one_per_entry` is the last line; these
 * check that the services never rely on hitting it, and that it holds when code tries anyway.
 */
import { FixedClock, DEFAULT_POLICY, MatchingPolicy, syntheticNhsNumbers } from '@app/domain';
import { createTestDatabase, dataSourceOptions, TestDatabase } from '@app/persistence';
import { IcsDirectory, loadIcsDirectory, MetricsService } from '@app/platform';
import { DataSource } from 'typeorm';
import { RepliesWorker } from '../../apps/booking/src/replies.worker';
import { ExchangeConfig } from '../../apps/slot-exchange/src/config';
import { MatchingWorker } from '../../apps/slot-exchange/src/matching.worker';
import { SlotEventsService } from '../../apps/slot-exchange/src/slot-events.service';
import { WaitingListService } from '../../apps/slot-exchange/src/waiting-list.service';

const HOUR = 3_600_000;
const policy: MatchingPolicy = { ...DEFAULT_POLICY, quietHours: null, waveSize: 3 };
const clock = new FixedClock(new Date('2026-11-23T10:00:00Z'));
const metrics = new MetricsService('test');
const noQueues = undefined as never; // workers are driven directly
const numbers = syntheticNhsNumbers(700_000);

let db: TestDatabase;
let ds: DataSource;
let ics: IcsDirectory;

beforeAll(async () => {
  db = await createTestDatabase('sx_pathway');
  ds = await new DataSource(dataSourceOptions(db.url, 20)).initialize();
  ics = loadIcsDirectory();
});
afterAll(async () => {
  await ds?.destroy();
  await db?.drop();
});

function workers() {
  return {
    events: new SlotEventsService(ds, clock, policy, ics, metrics),
    list: new WaitingListService(ds),
    matcher: new MatchingWorker(ds, clock, policy, ics, noQueues, metrics, Object.assign(new ExchangeConfig(), { OFFER_PAGE_BASE_URL: 'http://offers.test' })),
    replies: new RepliesWorker(ds, clock, policy, ics, noQueues, metrics),
  };
}

let seq = 0;
async function release(w: ReturnType<typeof workers>, tfc: string, hoursAhead: number): Promise<string> {
  seq++;
  const r = await w.events.handle('RQM', {
    eventId: `ev-pw-${seq}`, kind: 'slot-released', controlId: `PW${seq}`, siteOds: 'RQM01', clinicCode: `${tfc}-NEW`, tfc, appointmentType: 'NEW',
    start: new Date(clock.now().getTime() + hoursAhead * HOUR).toISOString(), durationMinutes: 20, fillerAppointmentId: `F-PW-${seq}`,
  });
  return r.slotId!;
}

async function yes(patientId: string, code: string): Promise<string> {
  seq++;
  const [r] = await ds.query(`INSERT INTO patient_reply (channel, external_id, patient_id, intent, code) VALUES ('sms', $1, $2, 'yes', $3) RETURNING id`, [`pw-${seq}`, patientId, code]);
  return r.id;
}

describe('a pathway gets at most one booking', () => {
  it('holds when a patient\'s YES races the matching of another slot their pathway is the only candidate for, and they then say YES to that too', async () => {
    const w = workers();
    const ROUNDS = 12;
    for (let round = 0; round < ROUNDS; round++) {
      // Each round its own specialty, so the patient is the only candidate for both slots.
      const tfc = ['100', '101', '110', '120', '130', '140', '150', '160', '170', '300', '301', '320'][round];
      await w.list.applyBatch('RQM', {
        mode: 'delta',
        rows: [{
          rowNumber: 1, pathwayId: `PW-ONE-${round}`, nhsNumber: numbers.next().value as string, birthDate: '1970-01-01', tfc, appointmentType: 'NEW',
          rttStart: '2026-03-01', priority: 'P3', mobile: `+447700900${String(round).padStart(3, '0')}`, offerConsent: true, icsWideConsent: true, acceptableSites: ['ANY'], unavailable: [],
        }],
      });
      const first = await release(w, tfc, 72);
      await w.matcher.match({ slotId: first, round: 1 });
      const [offer] = await ds.query(`SELECT id, patient_id, entry_id, code FROM offer WHERE slot_id = $1 AND status = 'live'`, [first]);
      expect(offer).toBeDefined();
      const second = await release(w, tfc, 96);
      // The race: the YES for the first slot, and the second slot's matching, at once.
      const replyId = await yes(offer.patient_id, offer.code);
      const [claim] = await Promise.all([w.replies.process({ replyId }), w.matcher.match({ slotId: second, round: 1 })]);
      expect(claim.reason).toBe('claimed');
      // Whatever the second slot's matching did, a YES to any offer the patient now holds books nothing more.
      for (const o of await ds.query(`SELECT id, code FROM offer WHERE patient_id = $1 AND status = 'live'`, [offer.patient_id])) {
        const again = await w.replies.process({ replyId: await yes(offer.patient_id, o.code) });
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
      rows: [{
        rowNumber: 1, pathwayId: 'PW-OTHER', nhsNumber: numbers.next().value as string, birthDate: '1970-01-01', tfc: '502', appointmentType: 'NEW',
        rttStart: '2026-03-01', priority: 'P3', mobile: '+447700900555', offerConsent: true, icsWideConsent: true, acceptableSites: ['ANY'], unavailable: [],
      }],
    });
    const slot = await release(w, '502', 72);
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
