/**
 * `close-slot` at a cut-off a shortened notice has moved later, on real Postgres (real
 * migrations): a slot it keeps open with no live wave (its waves spent, nobody eligible, too near
 * the old cut-off for a later look) has its next match ordered in the same transaction, rather
 * than waiting for the matching sweep's next pass; once only, however often the job comes; and a
 * slot whose wave is still live is left to that wave. Jobs are observed as outbox rows.
 */
import { DEFAULT_POLICY, FixedClock, MatchingPolicy, syntheticNhsNumbers } from '@app/domain';
import { createTestDatabase, dataSourceOptions, recordPolicy, TestDatabase } from '@app/persistence';
import { loadIcsDirectory, MetricsService } from '@app/platform';
import { DataSource } from 'typeorm';
import { ExchangeConfig } from './config';
import { MatchingWorker } from './matching.worker';
import { SlotEventsService } from './slot-events.service';
import { WaitingListService } from './waiting-list.service';

const HOUR = 3_600_000;
const policy: MatchingPolicy = { ...DEFAULT_POLICY, quietHours: null, waveSize: 1 };
const released = new Date('2026-11-23T10:00:00Z');
const nhsNumbers = syntheticNhsNumbers(430_000);
const noQueues = undefined as never;

let db: TestDatabase;
let ds: DataSource;
let clock: FixedClock;
let list: WaitingListService;
let events: SlotEventsService;
let matcher: MatchingWorker;

beforeAll(async () => {
  db = await createTestDatabase('sx_close_slot');
  ds = await new DataSource(dataSourceOptions(db.url, 5)).initialize();
  const ics = loadIcsDirectory();
  const metrics = new MetricsService('test');
  clock = new FixedClock(released);
  list = new WaitingListService(ds);
  events = new SlotEventsService(ds, clock, policy, ics, metrics);
  matcher = new MatchingWorker(ds, clock, policy, ics, noQueues, metrics, new ExchangeConfig());
});
afterAll(async () => {
  await ds?.destroy();
  await db?.drop();
});
afterEach(async () => {
  await ds.query(`DELETE FROM matching_policy`);
});

let seq = 0;
async function patientOnList(tfc: string): Promise<void> {
  seq++;
  await list.applyBatch('RQM', {
    mode: 'delta',
    rows: [{
      rowNumber: 1, pathwayId: `PW-C-${seq}`, nhsNumber: nhsNumbers.next().value as string, birthDate: '1970-01-01', tfc, appointmentType: 'NEW',
      rttStart: '2026-03-01', priority: 'P2', mobile: `+447700900${String(seq).padStart(3, '0')}`, offerConsent: true, icsWideConsent: true,
      acceptableSites: ['ANY'], unavailable: [],
    }],
  });
}

/** A slot 72 hours ahead (cut-off 24 hours before it under the notice at release), offered to its one patient. */
async function offered(tfc: string): Promise<{ slotId: string; start: Date }> {
  clock.set(released);
  await patientOnList(tfc);
  seq++;
  const r = await events.handle('RQM', {
    eventId: `close-${seq}`, kind: 'slot-released', controlId: `CC${seq}`, siteOds: 'RQM01', clinicCode: `${tfc}-NEW`, tfc,
    appointmentType: 'NEW', start: new Date(released.getTime() + 72 * HOUR).toISOString(), durationMinutes: 20, fillerAppointmentId: `CF${seq}`,
  });
  const slotId = r.slotId!;
  expect(await matcher.match({ slotId, round: 1 })).toMatchObject({ status: 'done', reason: 'offered to 1' });
  return { slotId, start: new Date(released.getTime() + 72 * HOUR) };
}

const notice = (minNoticeHours: number) =>
  ds.transaction((tx) => recordPolicy(tx, { ...policy, minNoticeHours }, { source: 'admin', changedBy: 'ops-admin', reason: `${minNoticeHours}-hour notice` }));
const state = async (slotId: string) => (await ds.query(`SELECT status, closed_reason, cutoff_at FROM slot WHERE id = $1`, [slotId]))[0];
const matchJobs = (slotId: string, round: number): Promise<Array<{ job_id: string }>> => ds.query(
  `SELECT job_id FROM outbox WHERE job_name = 'match-slot' AND payload->>'slotId' = $1 AND (payload->>'round')::int = $2 ORDER BY id`,
  [slotId, round],
);
const liveOffers = async (slotId: string) => ds.query(`SELECT id FROM offer WHERE slot_id = $1 AND status = 'live'`, [slotId]);

describe('close-slot at a cut-off a shortened notice moved later', () => {
  it('orders the next match, once, of a slot it keeps open with no live wave and no next look', async () => {
    const { slotId, start } = await offered('177');
    // Ten minutes before the recorded cut-off its only wave runs out and nobody else is eligible:
    // too near that cut-off for a later look, so no job of the slot is left but its close-slot.
    clock.set(new Date(start.getTime() - 24 * HOUR - 10 * 60_000));
    const [wave] = await ds.query(`SELECT id FROM offer_wave WHERE slot_id = $1 AND status = 'live'`, [slotId]);
    expect(await matcher.expireWave({ waveId: wave.id })).toEqual({ status: 'done' });
    expect(await matcher.match({ slotId, round: 2 })).toEqual({ status: 'done', reason: 'no eligible patient yet' });
    expect(await matchJobs(slotId, 3)).toEqual([]);
    // A patient joins the list meanwhile, and the notice is shortened to 12 hours.
    await patientOnList('177');
    await notice(12);
    clock.set(new Date(start.getTime() - 24 * HOUR));

    expect(await matcher.closeSlot({ slotId })).toMatchObject({ status: 'done', reason: expect.stringMatching(/not reached under the 12-hour notice/) });
    const later = new Date(start.getTime() - 12 * HOUR);
    expect(await state(slotId)).toEqual({ status: 'open', closed_reason: null, cutoff_at: later });
    const ordered = [{ job_id: `match-${slotId}-3-at-${later.getTime()}` }];
    expect(await matchJobs(slotId, 3)).toEqual(ordered);
    // The superseded job delivered again finds that match on its way, and orders no other.
    await matcher.closeSlot({ slotId });
    expect(await matchJobs(slotId, 3)).toEqual(ordered);
    // The match it ordered offers the slot to the patient who joined.
    expect(await matcher.match({ slotId, round: 3 })).toEqual({ status: 'done', reason: 'offered to 1' });
    expect(await liveOffers(slotId)).toHaveLength(1);
  });

  it('orders none while a match for the next round is still on its way (a later look not yet relayed)', async () => {
    const { slotId, start } = await offered('178');
    // An hour before the recorded cut-off the wave runs out, nobody is eligible: a look in 15 minutes.
    clock.set(new Date(start.getTime() - 25 * HOUR));
    const [wave] = await ds.query(`SELECT id FROM offer_wave WHERE slot_id = $1 AND status = 'live'`, [slotId]);
    await matcher.expireWave({ waveId: wave.id });
    expect(await matcher.match({ slotId, round: 2 })).toEqual({ status: 'done', reason: 'no eligible patient yet' });
    const look = await matchJobs(slotId, 3);
    expect(look).toEqual([{ job_id: `match-${slotId}-3` }]);
    await notice(12);
    clock.set(new Date(start.getTime() - 24 * HOUR));
    expect(await matcher.closeSlot({ slotId })).toMatchObject({ status: 'done' });
    expect(await matchJobs(slotId, 3)).toEqual(look);
  });

  it('orders none for a slot whose wave is still live: its expiry orders the next round', async () => {
    const { slotId, start } = await offered('179');
    await notice(12);
    clock.set(new Date(start.getTime() - 24 * HOUR));
    expect(await matcher.closeSlot({ slotId })).toMatchObject({ status: 'done' });
    expect((await state(slotId)).status).toBe('offering');
    expect(await matchJobs(slotId, 2)).toEqual([]);
  });
});
