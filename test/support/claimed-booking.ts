/**
 * A booking claimed the way production makes one (PTL row → S15 → first wave → the patient's YES),
 * awaiting its PAS: the booking `pending`, its `book` write-back `pending`, the slot `booked`. For
 * suites about what happens next (reconciler, write-back outcomes, a PAS deleting the slot). The
 * services run in this process with no queue connection: their jobs stay outbox rows.
 */
import { Clock, MatchingPolicy, syntheticNhsNumber } from '@app/domain';
import { IcsDirectory, MetricsService } from '@app/platform';
import { DataSource } from 'typeorm';
import { RepliesWorker } from '../../apps/booking/src/replies.worker';
import { ExchangeConfig } from '../../apps/slot-exchange/src/config';
import { MatchingWorker } from '../../apps/slot-exchange/src/matching.worker';
import { SlotEventsService } from '../../apps/slot-exchange/src/slot-events.service';
import { WaitingListService } from '../../apps/slot-exchange/src/waiting-list.service';

const HOUR = 3_600_000;

export interface BookingWorld {
  ds: DataSource;
  clock: Clock;
  policy: MatchingPolicy;
  ics: IcsDirectory;
  metrics: MetricsService;
}

export interface ClaimedBooking {
  bookingId: string;
  writebackId: string;
  slotId: string;
  /** The PAS appointment whose cancellation freed the slot (what an S17 for it names). */
  fillerAppointmentId: string;
  start: Date;
}

/**
 * The `n`th claimed booking of a suite (n names the pathway, NHS number and mobile, so keep it
 * unique per database), at RQM, for a slot `72 + n` hours after the clock's now.
 */
export async function claimedBooking(w: BookingWorld, n: number): Promise<ClaimedBooking> {
  const { ds, clock, policy, ics, metrics } = w;
  const events = new SlotEventsService(ds, clock, policy, ics, metrics);
  const list = new WaitingListService(ds);
  const matcher = new MatchingWorker(ds, clock, policy, ics, undefined as never, metrics, Object.assign(new ExchangeConfig(), { OFFER_PAGE_BASE_URL: 'http://offers.test' }));
  const replies = new RepliesWorker(ds, clock, policy, ics, undefined as never, metrics);
  await list.applyBatch('RQM', { mode: 'delta', rows: [{
    rowNumber: 1, pathwayId: `PW-REC-${n}`, nhsNumber: syntheticNhsNumber(700000 + n * 10), birthDate: '1970-01-01', tfc: '320', appointmentType: 'NEW',
    rttStart: '2026-03-01', priority: 'P3', mobile: `+4477009${String(80000 + n).padStart(5, '0')}`, offerConsent: true, icsWideConsent: false, acceptableSites: ['ANY'], unavailable: [],
  }] });
  const start = new Date(clock.now().getTime() + (72 + n) * HOUR);
  const fillerAppointmentId = `F-REC-${n}-${Date.now()}`;
  const r = await events.handle('RQM', {
    eventId: `rec-${n}-${Date.now()}`, kind: 'slot-released', controlId: `REC${n}`, siteOds: 'RQM01', clinicCode: '320-NEW', tfc: '320', appointmentType: 'NEW',
    start: start.toISOString(), durationMinutes: 20, fillerAppointmentId,
  });
  await matcher.match({ slotId: r.slotId!, round: 1 });
  const [offer] = await ds.query(`SELECT patient_id, code FROM offer WHERE slot_id = $1 AND status = 'live'`, [r.slotId]);
  const [reply] = await ds.query(`INSERT INTO patient_reply (channel, external_id, patient_id, intent, code) VALUES ('sms', $1, $2, 'yes', $3) RETURNING id`, [`rec-${n}-${Date.now()}`, offer.patient_id, offer.code]);
  const claimed = await replies.process({ replyId: reply.id });
  if (claimed.reason !== 'claimed') throw new Error(`the YES for slot ${r.slotId} was not a claim: ${claimed.reason}`);
  const [b] = await ds.query(`SELECT b.id AS booking_id, w.id AS writeback_id FROM booking b JOIN writeback w ON w.booking_id = b.id WHERE b.slot_id = $1`, [r.slotId]);
  return { bookingId: b.booking_id, writebackId: b.writeback_id, slotId: r.slotId!, fillerAppointmentId, start };
}
