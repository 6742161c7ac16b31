/**
 * Telemetry an on-call engineer can use: one freed slot is ONE trace, from the SIU^S15 arriving
 * over MLLP at the owning trust's adapter, through the exchange's matching, the notifier's offer
 * SMS, the booking claim (after the patient's YES, which arrives with no trace of its own), the
 * adapter's FHIR write-back, to the confirmation SMS. Every process is the built app with
 * `OTEL_TRACES_EXPORTER=file`: each exports its finished spans to one shared JSON-lines file, which
 * this test reads back. The same run checks that no NHS number, name or phone number reaches a
 * span or a log line.
 */
import { buildSiu, sendMllp } from '@app/hl7';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FreshStack, startFreshStack } from '../../tools/stack/fresh-stack';
import { http, nhs, until } from '../faults/harness';

jest.setTimeout(240_000);

const OFFSET = 16000;
const REDIS_DB = 8;
const port = (p: number) => p + OFFSET;
const url = (p: number, path: string) => `http://127.0.0.1:${port(p)}${path}`;
const HOUR = 3_600_000;

interface ExportedSpan {
  traceId: string; spanId: string; parentSpanId?: string; name: string; service: string;
  attributes: Record<string, unknown>; events: unknown[];
}

let fresh: FreshStack;
let dir: string;
const logLines: string[] = [];

const spans = (): ExportedSpan[] => {
  const file = join(dir, 'spans.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ExportedSpan);
};
const wholeHour = (ms: number) => new Date(Math.ceil(ms / HOUR) * HOUR);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sx-trace-'));
  fresh = await startFreshStack({
    dbPrefix: 'sx_trace', redisDb: REDIS_DB, portOffset: OFFSET,
    apps: ['slot-exchange', 'booking', 'notifier', 'trust-adapter-RQM', 'trust-adapter-RYJ', 'pas-sim', 'notify-sim'],
    env: {
      DEMO: '0', QUIET_HOURS: '', SIM_AUTOREPLY: '0', LOG_LEVEL: 'debug',
      OTEL_TRACES_EXPORTER: 'file', OTEL_TRACES_FILE: join(dir, 'spans.jsonl'),
    },
    log: (line) => logLines.push(line),
  });
}, 180_000);

afterAll(async () => {
  await fresh?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('one freed slot, one trace, and the metrics it moves', () => {
  const patient = { nhs: nhs(420001), mobile: '+447700900731', surname: 'QUILLFEATHER' };
  const heldNhs = nhs(430001);

  it('follows the slot from the S15 to the PAS write-back and the confirmation SMS, with no personal data', async () => {
    const oldStart = wholeHour(Date.now() + 40 * 24 * HOUR);
    const created = await http('POST', url(3200, '/RYJ/fhir/Appointment'), {
      resourceType: 'Appointment', status: 'booked', start: oldStart.toISOString(), end: new Date(oldStart.getTime() + 20 * 60000).toISOString(),
      serviceType: [{ coding: [{ code: '330-NEW' }] }],
      participant: [
        { actor: { type: 'Patient', identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: patient.nhs } }, status: 'accepted' },
        { actor: { type: 'Location', identifier: { system: 'https://fhir.nhs.uk/Id/ods-site-code', value: 'RYJ02' } }, status: 'accepted' },
      ],
    }, { 'content-type': 'application/fhir+json' });
    expect(created.status).toBe(201);
    const csv = [
      'PATIENT_PATHWAY_IDENTIFIER,NHS_NUMBER,PERSON_BIRTH_DATE,ACTIVITY_TREATMENT_FUNCTION_CODE,APPOINTMENT_TYPE,REFERRAL_TO_TREATMENT_PERIOD_START_DATE,Outpatient_Priority_Code,MOBILE_NUMBER,Outpatient_Future_Appointment_Date,CURRENT_APPOINTMENT_ID,OFFER_CONSENT,ICS_WIDE_CONSENT,ACCEPTABLE_SITES',
      `PW-TRACE-1,${patient.nhs},1970-05-01,330,NEW,2026-03-01,P2,${patient.mobile},${oldStart.toISOString()},${created.json.id},Y,Y,ANY`,
    ].join('\n');
    expect((await http('POST', url(3104, '/v1/ptl?mode=delta'), csv, { 'content-type': 'text/csv', authorization: 'Bearer dev-RYJ-token' })).status).toBe(200);

    const start = wholeHour(Date.now() + 72 * HOUR);
    const s15 = buildSiu({
      event: 'S15', controlId: `TRACE${Date.now()}`, sendingFacility: 'RQM', fillerId: `F-TRACE-${Date.now()}`, start, minutes: 20,
      clinic: '330-NEW', siteOds: 'RQM01', nhsNumber: heldNhs, now: new Date(),
    }).replace('TEST^PATIENT', `${patient.surname}^ZEPHYRINE`);
    expect(await sendMllp('127.0.0.1', port(2575), s15)).toMatch(/MSA\|AA\|/);

    const messages = async () => (await http('GET', url(3300, `/sim/messages?phone=${encodeURIComponent(patient.mobile)}`))).json as Array<{ body: string }>;
    const offer = await until('the offer SMS', async () => (await messages()).find((m) => /YES\s+[A-Za-z0-9]{3,10}/.test(m.body)));
    const code = /YES\s+([A-Za-z0-9]{3,10})/.exec(offer.body)![1];
    expect((await http('POST', url(3300, '/sim/reply'), { phone: patient.mobile, message: `YES ${code}` })).status).toBeLessThan(300);
    await until('the confirmation SMS', async () => (await messages()).some((m) => /confirmed/i.test(m.body)));

    // The S15's trace: its root is the RQM adapter's MLLP receive.
    const trace = await until('the whole trace', async () => {
      const all = spans();
      const root = all.find((s) => s.name === 'mllp receive' && s.service === 'trust-adapter-RQM' && s.attributes['hl7.ack_code'] === 'AA');
      if (!root) return undefined;
      const inTrace = all.filter((s) => s.traceId === root.traceId);
      // Done when the confirmation SMS (a send-sms after the write-back) is in the trace.
      const writeback = inTrace.find((s) => s.name === 'trust-writeback-RQM write-back');
      const sends = inTrace.filter((s) => s.name === 'sms-outbound send-sms');
      // A parent span is exported when it ends, after its children: wait until the tree is whole.
      const ids = new Set(inTrace.map((s) => s.spanId));
      const complete = inTrace.every((s) => s === root || ids.has(s.parentSpanId ?? ''));
      return writeback && sends.length >= 2 && complete ? { root, inTrace } : undefined;
    });

    const services = new Set(trace.inTrace.map((s) => s.service));
    for (const service of ['trust-adapter-RQM', 'slot-exchange', 'notifier', 'booking']) expect(services).toContain(service);
    const names = trace.inTrace.map((s) => `${s.service}: ${s.name}`);
    expect(names).toEqual(expect.arrayContaining([
      'trust-adapter-RQM: mllp receive',
      'trust-adapter-RQM: trust-inbound-RQM forward-hl7',
      'slot-exchange: slot-matching match-slot',
      'notifier: sms-outbound send-sms',
      'booking: booking accept',
      'trust-adapter-RQM: trust-writeback-RQM write-back',
      'trust-adapter-RQM: POST pas-fhir',
      'booking: booking-events writeback-outcome',
    ]));
    // HTTP between processes joined the trace too (the exchange's server span under the adapter's fetch).
    expect(trace.inTrace.some((s) => s.service === 'slot-exchange' && s.attributes['http.method'] === 'POST')).toBe(true);
    // One tree: every span but the root has its parent in the trace.
    const ids = new Set(trace.inTrace.map((s) => s.spanId));
    const orphans = trace.inTrace.filter((s) => s !== trace.root && !ids.has(s.parentSpanId ?? ''));
    expect(orphans.map((s) => `${s.service}: ${s.name}`)).toEqual([]);

    // The metrics an operator watches, from the same run.
    const metrics = async (p: number) => (await http('GET', url(p, '/metrics'))).text;
    const exchange = await metrics(3000);
    expect(exchange).toMatch(/^slots\{[^}]*trust="RQM"[^}]*state="booked"[^}]*\} 1$/m);
    expect(exchange).toMatch(/^offers\{[^}]*state="accepted"[^}]*\} 1$/m);
    expect(exchange).toMatch(/^bookings\{[^}]*state="confirmed"[^}]*\} 1$/m);
    expect(exchange).toMatch(/^bullmq_queue_jobs\{[^}]*queue="slot-matching"[^}]*state="delayed"[^}]*\} \d+$/m);
    expect(exchange).toMatch(/^bullmq_queue_oldest_waiting_seconds\{[^}]*queue="slot-matching"[^}]*\} [\d.]+$/m);
    const adapter = await metrics(3101);
    expect(adapter).toMatch(/^hl7_messages_total\{[^}]*trust="RQM"[^}]*ack="AA"[^}]*\} 1$/m);
    expect(adapter).toMatch(/^pas_writebacks_total\{[^}]*trust="RQM"[^}]*kind="book"[^}]*outcome="ok"[^}]*\} 1$/m);
    const notifier = await metrics(3002);
    expect(notifier).toMatch(/^sms_sent_total\{[^}]*kind="offer"[^}]*outcome="sent"[^}]*\} 1$/m);
    const allMetrics = [exchange, adapter, notifier, await metrics(3003)].join('\n');

    // No personal data in any span of any trace, in any log line of any process, or in a metric.
    const variants = [
      patient.nhs, heldNhs, patient.surname, 'ZEPHYRINE', patient.mobile, patient.mobile.replace('+44', '0'), patient.mobile.replace('+', ''),
    ];
    const spanText = readFileSync(join(dir, 'spans.jsonl'), 'utf8');
    const logText = logLines.join('\n');
    expect(logLines.length).toBeGreaterThan(20);
    for (const v of variants) {
      expect({ where: 'spans', v, found: spanText.includes(v) }).toEqual({ where: 'spans', v, found: false });
      expect({ where: 'logs', v, found: logText.includes(v) }).toEqual({ where: 'logs', v, found: false });
      expect({ where: 'metrics', v, found: allMetrics.includes(v) }).toEqual({ where: 'metrics', v, found: false });
    }
  });
});
