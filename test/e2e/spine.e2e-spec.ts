/**
 * The spine, end to end over real sockets: SIU^S15 over MLLP → adapter → exchange → matching →
 * Notify (notify-sim) → a YES through Notify's inbound callback → atomic claim → FHIR booking in
 * the owning PAS, old appointment cancelled at the home PAS → "confirmed" to the winner, "no
 * longer available" to the other. Every process is the built app, started as in `npm start`,
 * on shifted ports against a fresh database and an empty Redis database.
 */
import { buildSiu, sendMllp } from '@app/hl7';
import { Client } from 'pg';
import { FreshStack, startFreshStack } from '../../tools/stack/fresh-stack';
import { http, until } from '../support/wait';
import { syntheticNhsNumber as nhs } from '@app/domain';

jest.setTimeout(240_000);

const OFFSET = 20000;
const port = (p: number) => p + OFFSET;
const url = (p: number, path: string) => `http://127.0.0.1:${port(p)}${path}`;
const HOUR = 3_600_000;
const REDIS_DB = 13;

let fresh: FreshStack;
let pg: Client;



const messages = async (phone: string): Promise<Array<{ body: string; template_id: string }>> =>
  (await http('GET', url(3300, `/sim/messages?phone=${encodeURIComponent(phone)}`))).json;
const offerCode = (body: string) => /YES\s+([A-Za-z0-9]{3,10})/.exec(body)?.[1];


const wholeHour = (ms: number) => new Date(Math.ceil(ms / HOUR) * HOUR);

beforeAll(async () => {
  fresh = await startFreshStack({ dbPrefix: 'sx_e2e', redisDb: REDIS_DB, portOffset: OFFSET, env: { DEMO: '0', QUIET_HOURS: '', SIM_AUTOREPLY: '0', LOG_LEVEL: 'warn' } });
  pg = new Client({ connectionString: fresh.db.url });
  await pg.connect();
}, 180_000);

afterAll(async () => {
  await pg?.end();
  await fresh?.stop();
}, 60_000);

describe('one freed slot, HL7 to SMS to PAS', () => {
  const oldStart = wholeHour(Date.now() + 40 * 24 * HOUR);
  const patients = [
    { nhs: nhs(100001), mobile: '+447700900701', priority: 'P2' },
    { nhs: nhs(100101), mobile: '+447700900702', priority: 'P3' },
  ];
  const oldIds: string[] = [];

  it('books the first YES into the owning PAS, cancels the old appointment, and tells everyone the truth', async () => {
    for (const p of patients) {
      const created = await http('POST', url(3200, '/RYJ/fhir/Appointment'), {
        resourceType: 'Appointment', status: 'booked', start: oldStart.toISOString(), end: new Date(oldStart.getTime() + 20 * 60000).toISOString(),
        serviceType: [{ coding: [{ code: '330-NEW' }] }],
        participant: [
          { actor: { type: 'Patient', identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: p.nhs } }, status: 'accepted' },
          { actor: { type: 'Location', identifier: { system: 'https://fhir.nhs.uk/Id/ods-site-code', value: 'RYJ02' } }, status: 'accepted' },
        ],
      }, { 'content-type': 'application/fhir+json' });
      expect(created.status).toBe(201);
      oldIds.push(created.json.id);
    }
    const csv = [
      'PATIENT_PATHWAY_IDENTIFIER,NHS_NUMBER,PERSON_BIRTH_DATE,ACTIVITY_TREATMENT_FUNCTION_CODE,APPOINTMENT_TYPE,REFERRAL_TO_TREATMENT_PERIOD_START_DATE,Outpatient_Priority_Code,MOBILE_NUMBER,Outpatient_Future_Appointment_Date,CURRENT_APPOINTMENT_ID,OFFER_CONSENT,ICS_WIDE_CONSENT,ACCEPTABLE_SITES',
      ...patients.map((p, i) => `PW-E2E-${i},${p.nhs},1970-05-01,330,NEW,2026-03-01,${p.priority},${p.mobile},${oldStart.toISOString()},${oldIds[i]},Y,Y,ANY`),
    ].join('\n');
    const up = await http('POST', url(3104, '/v1/ptl?mode=delta'), csv, { 'content-type': 'text/csv', authorization: 'Bearer dev-RYJ-token' });
    expect(up.status).toBe(200);
    expect(up.json).toMatchObject({ accepted: 2, rejected: 0 });

    const start = wholeHour(Date.now() + 72 * HOUR);
    const s15 = buildSiu({ event: 'S15', controlId: `E2E${Date.now()}`, sendingFacility: 'RQM', fillerId: `F-E2E-${Date.now()}`, start, minutes: 20, clinic: '330-NEW', siteOds: 'RQM01', nhsNumber: '9990000018', now: new Date() });
    expect(await sendMllp('127.0.0.1', port(2575), s15)).toMatch(/MSA\|AA\|/);
    expect(await sendMllp('127.0.0.1', port(2575), s15)).toMatch(/MSA\|AA\|/); // repeated: processed once

    const offers = await Promise.all(patients.map((p) => until('an offer to each patient', async () => (await messages(p.mobile)).find((m) => offerCode(m.body)))));
    for (const o of offers) expect(o.body).toContain('Chelsea and Westminster');

    await Promise.all(patients.map((p, i) => http('POST', url(3300, '/sim/reply'), { phone: p.mobile, message: `Yes ${offerCode(offers[i].body)}` })));
    const outcomes = await until('every outcome', async () => {
      const all = await Promise.all(patients.map(async (p) => {
        const bodies = (await messages(p.mobile)).map((m) => m.body).filter((b) => !offerCode(b));
        return bodies.some((b) => /no longer available/.test(b)) ? 'taken' : bodies.some((b) => /confirmed/.test(b)) ? 'confirmed' : undefined;
      }));
      return all.every(Boolean) ? all : undefined;
    }, 30000);
    expect(outcomes.filter((o) => o === 'confirmed')).toHaveLength(1);
    const winner = patients[outcomes.indexOf('confirmed')];
    const loserIndex = outcomes.indexOf('taken');

    const rqm = (await http('GET', url(3200, '/sim/RQM/appointments'))).json as Array<{ status: string; participant: unknown[] }>;
    const booked = rqm.filter((a) => a.status === 'booked' && JSON.stringify(a).includes(winner.nhs));
    expect(booked).toHaveLength(1);
    const ryj = await until('the old RYJ appointment cancelled', async () => {
      const list = (await http('GET', url(3200, '/sim/RYJ/appointments'))).json as Array<{ id: string; status: string }>;
      return list.find((a) => a.id === oldIds[patients.indexOf(winner)])?.status === 'cancelled' ? list : undefined;
    });
    expect(ryj.find((a) => a.id === oldIds[loserIndex])?.status).toBe('booked');

    const bookings = await pg.query(`SELECT status FROM booking`);
    expect(bookings.rows).toEqual([{ status: 'confirmed' }]);
    const slots = await pg.query(`SELECT status FROM slot WHERE trust_ods = 'RQM'`);
    expect(slots.rows).toEqual([{ status: 'booked' }]);
    // The winner's old RYJ appointment came back as RYJ's own S15 and entered matching (the chain).
    await until('the chain slot at RYJ', async () => (await pg.query(`SELECT 1 FROM slot WHERE trust_ods = 'RYJ' AND filler_appointment_id = $1`, [oldIds[patients.indexOf(winner)]])).rowCount === 1);
  });

  it('records a slot inside the minimum notice as too late and never offers it', async () => {
    const soon = buildSiu({ event: 'S15', controlId: `E2ESOON${Date.now()}`, sendingFacility: 'R1K', fillerId: `F-SOON-${Date.now()}`, start: new Date(Date.now() + 10 * HOUR), minutes: 15, clinic: '120-NEW', siteOds: 'R1K01', now: new Date() });
    expect(await sendMllp('127.0.0.1', port(2577), soon)).toMatch(/MSA\|AA\|/);
    const slot = await until('the R1K slot', async () => (await pg.query(`SELECT status, closed_reason FROM slot WHERE trust_ods = 'R1K'`)).rows[0]);
    expect(slot.status).toBe('too_late');
    expect((await pg.query(`SELECT count(*)::int AS n FROM offer o JOIN slot s ON s.id = o.slot_id WHERE s.trust_ods = 'R1K'`)).rows[0].n).toBe(0);
  });

  it('refuses bad input clearly and changes nothing', async () => {
    const other = buildSiu({ event: 'S15', controlId: `E2EWRONG${Date.now()}`, sendingFacility: 'RYJ', fillerId: 'F-X', start: new Date(Date.now() + 96 * HOUR), minutes: 15, clinic: '330-NEW', siteOds: 'RYJ02', now: new Date() });
    expect(await sendMllp('127.0.0.1', port(2575), other)).toMatch(/MSA\|AR\|/);
    const unmapped = buildSiu({ event: 'S15', controlId: `E2EUNMAPPED${Date.now()}`, sendingFacility: 'RQM', fillerId: 'F-Y', start: new Date(Date.now() + 96 * HOUR), minutes: 15, clinic: '999-NEW', siteOds: 'RQM01', now: new Date() });
    const ack = await sendMllp('127.0.0.1', port(2575), unmapped);
    expect(ack).toMatch(/MSA\|AE\|/);
    expect(ack).toMatch(/AIS/);
    expect((await http('POST', url(3101, '/v1/ptl?mode=delta'), 'x', { 'content-type': 'text/csv' })).status).toBe(401);
    const missing = await http('POST', url(3101, '/v1/ptl?mode=delta'), 'NHS_NUMBER\n123\n', { 'content-type': 'text/csv', authorization: 'Bearer dev-RQM-token' });
    expect(missing.status).toBe(400);
    expect(missing.json.message).toMatch(/PATIENT_PATHWAY_IDENTIFIER/);
    expect((await http('POST', url(3002, '/notify/inbound'), { id: 'x', source_number: '447700900999', destination_number: '07700900000', message: 'YES 1234', date_received: new Date().toISOString() })).status).toBe(401);
    // Another trust's token cannot act on RQM at the exchange.
    expect((await http('POST', url(3000, '/v1/trusts/RQM/waiting-list'), { mode: 'delta', rows: [] }, { authorization: 'Bearer dev-exchange-RYJ-token' })).status).toBe(403);
    expect((await pg.query(`SELECT count(*)::int AS n FROM slot WHERE filler_appointment_id IN ('F-X', 'F-Y')`)).rows[0].n).toBe(0);
  });
});
