/**
 * Every SIU kind as the exchange acts on it, against real Postgres with the real migrations:
 * S15 frees (and our own echo does not), S17 withdraws a freed slot and tells its live offers,
 * S12 fills the current appointment and withdraws a slot the trust re-booked itself, S13/S14
 * move the current appointment (and withdraw a slot whose time they really move one into, not for
 * an S14 of an appointment already there), S26 is recorded,
 * the minimum notice is the recorded policy's, and every event is processed once however
 * often (and however concurrently) it arrives.
 */
import { SlotEventDto, SMS_TEMPLATES, renderTemplate } from '@app/contracts';
import { DEFAULT_POLICY, FixedClock, MatchingPolicy, syntheticNhsNumbers } from '@app/domain';
import { createTestDatabase, dataSourceOptions, recordPolicy, TestDatabase } from '@app/persistence';
import { IcsDirectory, loadIcsDirectory, MetricsService } from '@app/platform';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { SlotEventsService } from './slot-events.service';
import { WaitingListService } from './waiting-list.service';

const HOUR = 3_600_000;
const policy: MatchingPolicy = { ...DEFAULT_POLICY, quietHours: null };
const clock = new FixedClock(new Date('2026-11-23T10:00:00Z'));
let db: TestDatabase;
let ds: DataSource;
let ics: IcsDirectory;
let events: SlotEventsService;
let list: WaitingListService;

let seq = 0;
const nhsNumbers = syntheticNhsNumbers(410_000);
/** A new patient's NHS number; also moves `seq` on, which names the patient's pathway. */
function nhs(): string {
  seq++;
  return nhsNumbers.next().value as string;
}

function event(kind: SlotEventDto['kind'], over: Partial<SlotEventDto> = {}): SlotEventDto {
  seq++;
  return {
    eventId: randomUUID(), kind, controlId: `C${seq}`, siteOds: 'RQM01', clinicCode: '330-NEW', tfc: '330', appointmentType: 'NEW',
    start: new Date(clock.now().getTime() + 72 * HOUR).toISOString(), durationMinutes: 20, fillerAppointmentId: `F${seq}`, ...over,
  };
}

async function patientOnList(over: Record<string, unknown> = {}): Promise<{ nhsNumber: string; patientId: string; entryId: string }> {
  const nhsNumber = nhs();
  const pathwayId = `PW${seq}`;
  await list.applyBatch('RQM', {
    mode: 'delta',
    rows: [{
      rowNumber: 1, pathwayId, nhsNumber, birthDate: '1970-01-01', tfc: '330', appointmentType: 'NEW', rttStart: '2026-05-01', priority: 'P3',
      mobile: `+447700900${String(seq % 1000).padStart(3, '0')}`, offerConsent: true, icsWideConsent: false, acceptableSites: ['ANY'], unavailable: [], ...over,
    }],
  });
  const [r] = await ds.query(`SELECT e.id AS entry_id, p.id AS patient_id FROM waiting_list_entry e JOIN patient p ON p.id = e.patient_id WHERE e.trust_ods = 'RQM' AND e.pathway_id = $1`, [pathwayId]);
  return { nhsNumber, patientId: r.patient_id, entryId: r.entry_id };
}

/** A live wave on the slot with one offer per patient, as the matching worker leaves it. */
async function liveWave(slotId: string, patients: Array<{ patientId: string; entryId: string }>): Promise<string[]> {
  const [w] = await ds.query(
    `INSERT INTO offer_wave (slot_id, round, status, policy_version, send_at, expires_at) VALUES ($1, 1, 'live', 1, now(), now() + interval '2 hours') RETURNING id`,
    [slotId],
  );
  await ds.query(`UPDATE slot SET status = 'offering', match_round = 1 WHERE id = $1`, [slotId]);
  const ids: string[] = [];
  for (const [i, p] of patients.entries()) {
    const [o] = await ds.query(
      `INSERT INTO offer (slot_id, wave_id, entry_id, patient_id, rank, explanation, policy_version, code, token, status, expires_at)
       VALUES ($1, $2, $3, $4, $5, '{}', 1, $6, $7, 'live', now() + interval '2 hours') RETURNING id`,
      [slotId, w.id, p.entryId, p.patientId, i + 1, String(1000 + i), randomUUID()],
    );
    ids.push(o.id);
  }
  return ids;
}

async function bookedBy(slotId: string, p: { patientId: string; entryId: string }, pasAppointmentId: string | null, previous: string | null = null): Promise<string> {
  const [offerId] = await liveWave(slotId, [p]);
  await ds.query(`UPDATE offer SET status = 'accepted' WHERE id = $1`, [offerId]);
  await ds.query(`UPDATE offer_wave SET status = 'ended' WHERE slot_id = $1`, [slotId]);
  await ds.query(`UPDATE slot SET status = 'booked' WHERE id = $1`, [slotId]);
  const [b] = await ds.query(
    `INSERT INTO booking (slot_id, offer_id, entry_id, patient_id, status, owning_trust_ods, home_trust_ods, pas_appointment_id, previous_appointment_id)
     VALUES ($1, $2, $3, $4, 'confirmed', 'RQM', 'RQM', $5, $6) RETURNING id`,
    [slotId, offerId, p.entryId, p.patientId, pasAppointmentId, previous],
  );
  return b.id;
}

/**
 * A freed slot our write-back booked a patient into, and a second freed slot at the same clinic and
 * time (a clinic runs several at once), which our booking coming back must not be taken for.
 */
async function ourBookingWithTwin(hoursAhead: number, pasAppointmentId: string) {
  const released = await events.handle('RQM', event('slot-released', { start: new Date(clock.now().getTime() + hoursAhead * HOUR).toISOString() }));
  const [slot] = await ds.query(`SELECT start_at FROM slot WHERE id = $1`, [released.slotId]);
  const patient = await patientOnList();
  await bookedBy(released.slotId!, patient, pasAppointmentId);
  const twin = await events.handle('RQM', event('slot-released', { start: new Date(slot.start_at).toISOString() }));
  return { bookedSlotId: released.slotId!, start: new Date(slot.start_at).toISOString(), patient, twinSlotId: twin.slotId! };
}

const slotStatus = async (id: string) => (await ds.query(`SELECT status, closed_reason FROM slot WHERE id = $1`, [id]))[0];
const outboxJobs = async (name: string) => Number((await ds.query(`SELECT count(*)::int AS n FROM outbox WHERE job_name = $1`, [name]))[0].n);

beforeAll(async () => {
  db = await createTestDatabase('sx_events');
  ds = await new DataSource(dataSourceOptions(db.url, 10)).initialize();
  ics = loadIcsDirectory();
  events = new SlotEventsService(ds, clock, policy, ics, new MetricsService('test'));
  list = new WaitingListService(ds);
});
afterAll(async () => {
  await ds?.destroy();
  await db?.drop();
});

describe('S15 slot-released', () => {
  it('frees a slot once, however often and however concurrently the same event arrives', async () => {
    const e = event('slot-released');
    const results = await Promise.all(Array.from({ length: 6 }, () => events.handle('RQM', e)));
    expect(results.filter((r) => r.outcome === 'slot-created')).toHaveLength(1);
    expect(results.filter((r) => r.outcome === 'duplicate')).toHaveLength(5);
    expect((await ds.query(`SELECT count(*)::int AS n FROM slot WHERE filler_appointment_id = $1`, [e.fillerAppointmentId]))[0].n).toBe(1);
    // A resend under a new control id (a new event) for the same appointment is still one slot.
    expect((await events.handle('RQM', { ...e, eventId: randomUUID(), controlId: 'RESEND' })).outcome).toBe('duplicate');
  });

  it('does not free the cancellation of an appointment our own write-back booked, sent back with our reason', async () => {
    const p = await patientOnList();
    const released = await events.handle('RQM', event('slot-released'));
    await bookedBy(released.slotId!, p, 'PAS-OURS-1');
    const slotsBefore = (await ds.query(`SELECT count(*)::int AS n FROM slot`))[0].n;
    const echo = await events.handle('RQM', event('slot-released', { fillerAppointmentId: 'PAS-OURS-1', eventReason: 'pat-swl', patientNhsNumber: p.nhsNumber }));
    expect(echo.outcome).toBe('echo');
    expect((await ds.query(`SELECT count(*)::int AS n FROM slot`))[0].n).toBe(slotsBefore);
  });

  it('does free the old appointment our write-back cancelled when it moved the patient on (the chain)', async () => {
    const p = await patientOnList({ currentAppointmentId: 'OLD-APPT-1', currentAppointmentStart: new Date(clock.now().getTime() + 40 * 24 * HOUR).toISOString() });
    const released = await events.handle('RQM', event('slot-released'));
    await bookedBy(released.slotId!, p, 'PAS-NEW-1', 'OLD-APPT-1');
    const chained = await events.handle('RQM', event('slot-released', { fillerAppointmentId: 'OLD-APPT-1', eventReason: 'pat-swl', start: new Date(clock.now().getTime() + 40 * 24 * HOUR).toISOString() }));
    expect(chained.outcome).toBe('slot-created');
  });

  it('an S15 inside the minimum notice is recorded too late and never matched', async () => {
    const before = await outboxJobs('match-slot');
    const r = await events.handle('RQM', event('slot-released', { start: new Date(clock.now().getTime() + 5 * HOUR).toISOString() }));
    expect(r.outcome).toBe('too-late');
    expect(await outboxJobs('match-slot')).toBe(before);
  });
});

describe('S17 slot-withdrawn', () => {
  it('closes a freed slot being offered as withdrawn; each live offer ends with a "no longer available" SMS; nothing re-matched', async () => {
    const released = await events.handle('RQM', event('slot-released'));
    const a = await patientOnList();
    const b = await patientOnList();
    const offers = await liveWave(released.slotId!, [a, b]);
    const matchJobs = await outboxJobs('match-slot');
    const [slot] = await ds.query(`SELECT filler_appointment_id FROM slot WHERE id = $1`, [released.slotId]);

    const r = await events.handle('RQM', event('slot-withdrawn', { fillerAppointmentId: slot.filler_appointment_id }));
    expect(r).toMatchObject({ outcome: 'withdrawn', slotId: released.slotId });
    expect(await slotStatus(released.slotId!)).toEqual({ status: 'withdrawn', closed_reason: 'deleted in the PAS (SIU^S17)' });
    const ended = await ds.query(`SELECT status FROM offer WHERE id = ANY($1::uuid[])`, [offers]);
    expect(ended.map((o: { status: string }) => o.status)).toEqual(['withdrawn', 'withdrawn']);
    const sms = await ds.query(`SELECT m.patient_id, m.kind, m.personalisation, o.job_name FROM sms_message m JOIN outbox o ON o.job_id = 'sms-' || m.id WHERE m.offer_id = ANY($1::uuid[])`, [offers]);
    expect(sms.map((m: { patient_id: string }) => m.patient_id).sort()).toEqual([a.patientId, b.patientId].sort());
    for (const m of sms) {
      expect(m.job_name).toBe('send-sms');
      expect(renderTemplate(SMS_TEMPLATES[m.kind as 'withdrawn'].body, m.personalisation)).toContain('no longer available');
    }
    expect(await outboxJobs('match-slot')).toBe(matchJobs);

    // The same deletion again changes nothing and tells nobody twice.
    expect((await events.handle('RQM', event('slot-withdrawn', { fillerAppointmentId: slot.filler_appointment_id }))).outcome).toBe('recorded');
    expect((await ds.query(`SELECT count(*)::int AS n FROM sms_message WHERE offer_id = ANY($1::uuid[])`, [offers]))[0].n).toBe(2);
  });

  it('leaves a slot that is already booked alone, flags the booking and lists it for a person', async () => {
    const released = await events.handle('RQM', event('slot-released'));
    const bookingId = await bookedBy(released.slotId!, await patientOnList(), 'PAS-B-17');
    const [slot] = await ds.query(`SELECT filler_appointment_id FROM slot WHERE id = $1`, [released.slotId]);
    const r = await events.handle('RQM', event('slot-withdrawn', { fillerAppointmentId: slot.filler_appointment_id }));
    expect(r.outcome).toBe('ignored');
    expect((await slotStatus(released.slotId!)).status).toBe('booked');
    expect((await ds.query(`SELECT needs_attention FROM booking WHERE id = $1`, [bookingId]))[0].needs_attention).toMatch(/S17/);
    // On the booking team's failures list, and remembered on the slot (never to be reopened).
    expect(await ds.query(`SELECT kind, trust_ods, slot_id FROM booking_failure WHERE booking_id = $1`, [bookingId])).toEqual([{ kind: 'pas-deleted', trust_ods: 'RQM', slot_id: released.slotId }]);
    expect((await ds.query(`SELECT pas_deleted_at FROM slot WHERE id = $1`, [released.slotId]))[0].pas_deleted_at).not.toBeNull();
  });
});

describe('S12 appointment-booked', () => {
  it('fills the patient\'s current appointment, and withdraws a freed slot the trust re-booked itself', async () => {
    const released = await events.handle('RQM', event('slot-released', { clinicianId: 'C1', start: new Date(clock.now().getTime() + 80 * HOUR).toISOString() }));
    const [slot] = await ds.query(`SELECT start_at FROM slot WHERE id = $1`, [released.slotId]);
    const offered = await patientOnList();
    const [offerId] = await liveWave(released.slotId!, [offered]);
    const p = await patientOnList();

    const r = await events.handle('RQM', event('appointment-booked', {
      fillerAppointmentId: 'LOCAL-REBOOK-1', start: new Date(slot.start_at).toISOString(), clinicianId: 'C1', patientNhsNumber: p.nhsNumber,
    }));
    expect(r).toMatchObject({ outcome: 'withdrawn', slotId: released.slotId, entriesUpdated: 1 });
    expect((await slotStatus(released.slotId!)).status).toBe('withdrawn');
    expect((await ds.query(`SELECT status FROM offer WHERE id = $1`, [offerId]))[0].status).toBe('withdrawn');
    const [entry] = await ds.query(`SELECT current_appointment_id, current_appointment_start FROM waiting_list_entry WHERE id = $1`, [p.entryId]);
    expect(entry.current_appointment_id).toBe('LOCAL-REBOOK-1');
    expect(new Date(entry.current_appointment_start).getTime()).toBe(new Date(slot.start_at).getTime());
  });

  it('does not withdraw anything when the booking is our own write-back coming back', async () => {
    const ours = await ourBookingWithTwin(81, 'PAS-OURS-12');
    const r = await events.handle('RQM', event('appointment-booked', { fillerAppointmentId: 'PAS-OURS-12', start: ours.start, patientNhsNumber: ours.patient.nhsNumber }));
    expect(r.outcome).toBe('echo');
    expect((await slotStatus(ours.twinSlotId)).status).toBe('open');
    expect((await slotStatus(ours.bookedSlotId)).status).toBe('booked');
  });

  it('a booking at another clinic or time withdraws nothing', async () => {
    const released = await events.handle('RQM', event('slot-released'));
    const r = await events.handle('RQM', event('appointment-booked', { clinicCode: '330-FUP', appointmentType: 'FUP' }));
    expect(r.outcome).toBe('recorded');
    expect((await slotStatus(released.slotId!)).status).toBe('open');
  });
});

describe('S13/S14 appointment-moved, S26 no-show', () => {
  it('moves the current appointment of the entries that hold it', async () => {
    const p = await patientOnList({ currentAppointmentId: 'MOVE-ME', currentAppointmentStart: new Date(clock.now().getTime() + 30 * 24 * HOUR).toISOString() });
    const to = new Date(clock.now().getTime() + 50 * 24 * HOUR);
    const r = await events.handle('RQM', event('appointment-moved', { fillerAppointmentId: 'MOVE-ME', start: to.toISOString() }));
    expect(r).toMatchObject({ outcome: 'appointment-updated', entriesUpdated: 1 });
    const [entry] = await ds.query(`SELECT current_appointment_start FROM waiting_list_entry WHERE id = $1`, [p.entryId]);
    expect(new Date(entry.current_appointment_start).getTime()).toBe(to.getTime());
    // Another trust's appointment with the same id is not ours to move.
    await expect(events.handle('RAS', event('appointment-moved', { siteOds: 'RAS01', fillerAppointmentId: 'MOVE-ME' }))).resolves.toMatchObject({ outcome: 'recorded' });
  });

  it('withdraws a freed slot when the trust moves another appointment, known at another time, into its time (S14 too); its live offers end with a "no longer available" SMS', async () => {
    const released = await events.handle('RQM', event('slot-released', { start: new Date(clock.now().getTime() + 82 * HOUR).toISOString() }));
    const [slot] = await ds.query(`SELECT start_at FROM slot WHERE id = $1`, [released.slotId]);
    const offered = await patientOnList();
    const [offerId] = await liveWave(released.slotId!, [offered]);
    const mover = await patientOnList({ currentAppointmentId: 'APPT-C', currentAppointmentStart: new Date(clock.now().getTime() + 30 * 24 * HOUR).toISOString() });

    const r = await events.handle('RQM', event('appointment-moved', { fillerAppointmentId: 'APPT-C', start: new Date(slot.start_at).toISOString(), trigger: 'S14' }));
    expect(r).toMatchObject({ outcome: 'withdrawn', slotId: released.slotId, entriesUpdated: 1 });
    expect((await slotStatus(released.slotId!)).status).toBe('withdrawn');
    expect((await ds.query(`SELECT status FROM offer WHERE id = $1`, [offerId]))[0].status).toBe('withdrawn');
    const [sms] = await ds.query(`SELECT m.kind, m.personalisation, o.job_name FROM sms_message m JOIN outbox o ON o.job_id = 'sms-' || m.id WHERE m.offer_id = $1`, [offerId]);
    expect(sms.job_name).toBe('send-sms');
    expect(renderTemplate(SMS_TEMPLATES[sms.kind as 'withdrawn'].body, sms.personalisation)).toContain('no longer available');
    const [entry] = await ds.query(`SELECT current_appointment_start FROM waiting_list_entry WHERE id = $1`, [mover.entryId]);
    expect(new Date(entry.current_appointment_start).getTime()).toBe(new Date(slot.start_at).getTime());
  });

  it('a move of an appointment our own write-back booked, at the time we booked it, withdraws nothing; moved on into another freed time, it does', async () => {
    const ours = await ourBookingWithTwin(83, 'PAS-OURS-13');
    const echo = await events.handle('RQM', event('appointment-moved', { fillerAppointmentId: 'PAS-OURS-13', start: ours.start }));
    expect(echo.outcome).not.toBe('withdrawn');
    expect((await slotStatus(ours.twinSlotId)).status).toBe('open');
    expect((await slotStatus(ours.bookedSlotId)).status).toBe('booked');

    // The clerk later moves that patient into the time of another freed slot: no longer free.
    const other = await events.handle('RQM', event('slot-released', { start: new Date(clock.now().getTime() + 84 * HOUR).toISOString() }));
    const [otherSlot] = await ds.query(`SELECT start_at FROM slot WHERE id = $1`, [other.slotId]);
    const moved = await events.handle('RQM', event('appointment-moved', { fillerAppointmentId: 'PAS-OURS-13', start: new Date(otherSlot.start_at).toISOString() }));
    expect(moved).toMatchObject({ outcome: 'withdrawn', slotId: other.slotId });
  });

  it('an S13/S14 of an appointment already known at the slot\'s time (a note or status change) leaves the slot and its offers alone', async () => {
    const released = await events.handle('RQM', event('slot-released', { start: new Date(clock.now().getTime() + 91 * HOUR).toISOString() }));
    const [slot] = await ds.query(`SELECT start_at FROM slot WHERE id = $1`, [released.slotId]);
    const at = new Date(slot.start_at).toISOString();
    const [offerId] = await liveWave(released.slotId!, [await patientOnList()]);
    // One of the clinic's other appointments at that time, held on the list as someone's current one.
    await patientOnList({ currentAppointmentId: 'APPT-NEIGHBOUR', currentAppointmentStart: at });

    expect((await events.handle('RQM', event('appointment-moved', { fillerAppointmentId: 'APPT-NEIGHBOUR', start: at, trigger: 'S14' }))).outcome).toBe('recorded');
    // Known there, even a reschedule (or an older adapter's event without a trigger) moved nothing into the time.
    expect((await events.handle('RQM', event('appointment-moved', { fillerAppointmentId: 'APPT-NEIGHBOUR', start: at, trigger: 'S13' }))).outcome).toBe('recorded');
    expect((await events.handle('RQM', event('appointment-moved', { fillerAppointmentId: 'APPT-NEIGHBOUR', start: at }))).outcome).toBe('recorded');
    expect((await slotStatus(released.slotId!)).status).toBe('offering');
    expect((await ds.query(`SELECT status FROM offer WHERE id = $1`, [offerId]))[0].status).toBe('live');
  });

  it('an S13/S14 of the slot\'s own cancelled appointment never withdraws it', async () => {
    const released = await events.handle('RQM', event('slot-released', { fillerAppointmentId: 'APPT-CANCELLED', start: new Date(clock.now().getTime() + 92 * HOUR).toISOString() }));
    const [slot] = await ds.query(`SELECT start_at FROM slot WHERE id = $1`, [released.slotId]);
    const [offerId] = await liveWave(released.slotId!, [await patientOnList()]);

    for (const trigger of ['S14', 'S13', undefined]) {
      const r = await events.handle('RQM', event('appointment-moved', { fillerAppointmentId: 'APPT-CANCELLED', start: new Date(slot.start_at).toISOString(), trigger }));
      expect(r.outcome).toBe('recorded');
    }
    expect((await slotStatus(released.slotId!)).status).toBe('offering');
    expect((await ds.query(`SELECT status FROM offer WHERE id = $1`, [offerId]))[0].status).toBe('live');
  });

  it('an appointment known nowhere: an S14 at the slot\'s time leaves it open, an S13 into the time withdraws it', async () => {
    const released = await events.handle('RQM', event('slot-released', { start: new Date(clock.now().getTime() + 93 * HOUR).toISOString() }));
    const [slot] = await ds.query(`SELECT start_at FROM slot WHERE id = $1`, [released.slotId]);
    const at = new Date(slot.start_at).toISOString();

    expect((await events.handle('RQM', event('appointment-moved', { fillerAppointmentId: 'APPT-UNSEEN-14', start: at, trigger: 'S14' }))).outcome).toBe('recorded');
    expect((await slotStatus(released.slotId!)).status).toBe('open');
    expect(await events.handle('RQM', event('appointment-moved', { fillerAppointmentId: 'APPT-UNSEEN-13', start: at, trigger: 'S13' })))
      .toMatchObject({ outcome: 'withdrawn', slotId: released.slotId });
    expect((await slotStatus(released.slotId!)).status).toBe('withdrawn');
  });

  it('an appointment known from its own earlier events: the last one decides, also within one batch', async () => {
    const T = new Date(clock.now().getTime() + 94 * HOUR).toISOString();
    const U = new Date(clock.now().getTime() + 95 * HOUR).toISOString();
    // Booked at T (no freed slot there yet), moved away to U, then T is freed and an S14 puts it back at T.
    const results = await events.handleBatch('RQM', [
      event('appointment-booked', { fillerAppointmentId: 'APPT-BACK', start: T }),
      event('appointment-moved', { fillerAppointmentId: 'APPT-BACK', start: U, trigger: 'S13' }),
      event('slot-released', { start: T }),
      event('appointment-moved', { fillerAppointmentId: 'APPT-BACK', start: T, trigger: 'S14' }),
    ]);
    const freed = results[2] as { slotId: string };
    expect(results[3]).toMatchObject({ outcome: 'withdrawn', slotId: freed.slotId });
  });

  it('a move to another clinic or time withdraws nothing', async () => {
    const released = await events.handle('RQM', event('slot-released', { start: new Date(clock.now().getTime() + 85 * HOUR).toISOString() }));
    const [slot] = await ds.query(`SELECT start_at FROM slot WHERE id = $1`, [released.slotId]);
    const at = new Date(slot.start_at).toISOString();
    expect((await events.handle('RQM', event('appointment-moved', { clinicCode: '330-FUP', appointmentType: 'FUP', start: at }))).outcome).toBe('recorded');
    expect((await events.handle('RQM', event('appointment-moved', { start: new Date(new Date(at).getTime() + HOUR).toISOString() }))).outcome).toBe('recorded');
    expect((await slotStatus(released.slotId!)).status).toBe('open');
  });

  it('records a no-show once', async () => {
    const e = event('no-show', { fillerAppointmentId: 'DNA-1' });
    expect((await events.handle('RQM', e)).outcome).toBe('recorded');
    expect((await events.handle('RQM', e)).outcome).toBe('duplicate');
    const rows = await ds.query(`SELECT kind, outcome FROM slot_event WHERE trust_ods = 'RQM' AND filler_appointment_id = 'DNA-1'`);
    expect(rows).toEqual([{ kind: 'no-show', outcome: 'recorded' }]);
  });

  it('refuses an event whose site belongs to another trust, changing nothing', async () => {
    const e = event('slot-released', { siteOds: 'RYJ02' });
    await expect(events.handle('RQM', e)).rejects.toMatchObject({ status: 422 });
    expect((await ds.query(`SELECT count(*)::int AS n FROM slot_event WHERE event_id = $1`, [e.eventId]))[0].n).toBe(0);
  });
});

describe('a batch of events (the forward worker\'s POST /events/batch)', () => {
  const TRACE = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

  it('applies the events in order, each once, with the same outcomes, slots and jobs as one at a time', async () => {
    const a = event('slot-released', { traceparent: TRACE } as Partial<SlotEventDto>);
    const late = event('slot-released', { start: new Date(clock.now().getTime() + 5 * HOUR).toISOString() });
    const resent = { ...event('slot-released'), fillerAppointmentId: a.fillerAppointmentId };
    const withdraw = event('slot-withdrawn', { fillerAppointmentId: a.fillerAppointmentId });
    const b = event('slot-released');
    const results = await events.handleBatch('RQM', [a, late, a, resent, withdraw, b, event('slot-released', { siteOds: 'RAS01' })]);
    expect(results.map((r) => ('refused' in r ? r.refused.status : r.outcome))).toEqual(
      ['slot-created', 'too-late', 'duplicate', 'duplicate', 'withdrawn', 'slot-created', 422],
    );
    const [ra, , again, , gone, rb] = results as Array<{ slotId?: string }>;
    expect(again.slotId).toBe(ra.slotId);
    expect(gone.slotId).toBe(ra.slotId);
    expect(await slotStatus(ra.slotId!)).toMatchObject({ status: 'withdrawn' });
    expect(await slotStatus(rb.slotId!)).toMatchObject({ status: 'open' });
    // One slot_event per event id, with its outcome; the refused one left nothing.
    const recorded = await ds.query(`SELECT event_id, outcome FROM slot_event WHERE event_id = ANY($1::text[]) ORDER BY received_at, outcome`, [[a, late, resent, withdraw, b].map((e) => e.eventId)]);
    expect(Object.fromEntries(recorded.map((r: { event_id: string; outcome: string }) => [r.event_id, r.outcome]))).toEqual({
      [a.eventId]: 'slot-created', [late.eventId]: 'too-late', [resent.eventId]: 'duplicate', [withdraw.eventId]: 'withdrawn', [b.eventId]: 'slot-created',
    });
    // Each slot outside the notice: its first match and its cut-off, as `enqueue` writes them, carrying the message's trace.
    const jobs = await ds.query(`SELECT job_name, job_id, payload, run_at FROM outbox WHERE payload->>'slotId' = $1 ORDER BY job_name`, [ra.slotId]);
    const [slotRow] = await ds.query(`SELECT cutoff_at, trace_context FROM slot WHERE id = $1`, [ra.slotId]);
    expect(jobs.map((j: { job_name: string; job_id: string; payload: object }) => [j.job_name, j.job_id, j.payload])).toEqual([
      ['close-slot', `close-${ra.slotId}`, { slotId: ra.slotId, traceparent: TRACE }],
      ['match-slot', `match-${ra.slotId}-1`, { slotId: ra.slotId, round: 1, traceparent: TRACE }],
    ]);
    expect(new Date(jobs[0].run_at).getTime()).toBe(new Date(slotRow.cutoff_at).getTime());
    expect(slotRow.trace_context).toBe(TRACE);
    const lateSlot = (await ds.query(`SELECT id, status FROM slot WHERE source_event_id = $1`, [late.eventId]))[0];
    expect(lateSlot.status).toBe('too_late');
    expect(await ds.query(`SELECT 1 FROM outbox WHERE payload->>'slotId' = $1`, [lateSlot.id])).toHaveLength(0);
  });

  it('overlapping batches delivered concurrently store each slot once', async () => {
    const list = Array.from({ length: 20 }, () => event('slot-released'));
    const batches = Array.from({ length: 5 }, (_, k) => list.slice(k * 3, k * 3 + 8).concat(list.slice(0, 2)));
    const results = (await Promise.all(batches.map((b) => events.handleBatch('RQM', b)))).flat() as Array<{ eventId: string; outcome: string; slotId?: string }>;
    const created = results.filter((r) => r.outcome === 'slot-created');
    expect(new Set(created.map((r) => r.eventId)).size).toBe(created.length);
    const covered = new Set(batches.flat().map((e) => e.eventId));
    expect(created).toHaveLength(covered.size);
    for (const r of results) expect(r.slotId).toBe(created.find((c) => c.eventId === r.eventId)!.slotId);
    const ids = [...covered];
    expect((await ds.query(`SELECT count(*)::int AS n FROM slot WHERE source_event_id = ANY($1::text[])`, [ids]))[0].n).toBe(ids.length);
    expect((await ds.query(`SELECT count(*)::int AS n FROM outbox WHERE job_name = 'match-slot' AND payload->>'slotId' IN (SELECT id::text FROM slot WHERE source_event_id = ANY($1::text[]))`, [ids]))[0].n).toBe(ids.length);
  });
});

describe('the minimum notice in force is the recorded policy (an administrator\'s change on the dashboard), not the boot-time one', () => {
  beforeAll(async () => {
    await ds.transaction((tx) => recordPolicy(tx, { ...policy, minNoticeHours: 12 }, { source: 'admin', changedBy: 'test', reason: 'shorter notice' }));
  });
  afterAll(async () => {
    await ds.query(`DELETE FROM matching_policy`);
  });

  it.each([
    ['a plain S15 (stored in one statement with its batch)', {}],
    ['an S15 with our reason that is not our echo (stored on its own)', { eventReason: 'pat-swl' }],
  ])('%s 20 hours ahead is offered, with its cut-off and close-slot job 12 hours before the start', async (_, over) => {
    const start = new Date(clock.now().getTime() + 20 * HOUR);
    const r = await events.handle('RQM', event('slot-released', { start: start.toISOString(), ...over }));
    expect(r.outcome).toBe('slot-created');
    const [slot] = await ds.query(`SELECT status, cutoff_at FROM slot WHERE id = $1`, [r.slotId]);
    expect(slot.status).toBe('open');
    expect(new Date(slot.cutoff_at).getTime()).toBe(start.getTime() - 12 * HOUR);
    const [close] = await ds.query(`SELECT run_at FROM outbox WHERE job_name = 'close-slot' AND payload->>'slotId' = $1`, [r.slotId]);
    expect(new Date(close.run_at).getTime()).toBe(start.getTime() - 12 * HOUR);
  });

  it('a slot inside the recorded notice is too late, and says which notice', async () => {
    const r = await events.handle('RQM', event('slot-released', { start: new Date(clock.now().getTime() + 11 * HOUR).toISOString() }));
    expect(r.outcome).toBe('too-late');
    expect((await slotStatus(r.slotId!)).closed_reason).toBe('inside the 12-hour minimum notice');
  });
});
