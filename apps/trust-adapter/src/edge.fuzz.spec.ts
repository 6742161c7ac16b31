/**
 * The adapter's parsers under 10,000 broken HL7 messages and 3,000 broken PTL files, without a
 * database (adapter.int-spec.ts repeats a smaller run against real storage to prove atomicity):
 * - every broken HL7 frame sent over a real MLLP socket, from 4 senders at once, gets exactly one
 *   ACK (AA/AE/AR) echoing its MSH-10 where it had one, and the listener keeps serving;
 * - every broken CSV file is either refused whole before a single row comes out (a 400: nothing
 *   can be applied) or read row by row, each rejection with at least one reason, in order.
 */
import { buildSiu, buildAck, MllpClient, MllpServer, readAck, readSiu } from '@app/hl7';
import { AppError } from '@app/platform';
import fc from 'fast-check';
import { Readable } from 'node:stream';
import { readPtlRows } from './ptl.service';
import { mutations } from './testing/mutations';

const NOW = new Date('2026-11-23T10:00:00Z');
const N = 10_000;
/** CSV files cost a stream each; together with the messages this is well over 10,000 broken inputs. */
const FILES = 3_000;

function validSiu(i: number): string {
  return buildSiu({
    event: (['S12', 'S13', 'S14', 'S15', 'S17', 'S26'] as const)[i % 6], controlId: `FZ${i}X`, sendingFacility: 'RQM', fillerId: `F${i}`,
    start: new Date(NOW.getTime() + 96 * 3_600_000), minutes: 20, clinic: '330-NEW', siteOds: 'RQM01', nhsNumber: '9990000018', now: NOW,
  });
}

describe('broken HL7 over MLLP', () => {
  let server: MllpServer;
  let port: number;
  beforeAll(async () => {
    server = new MllpServer({
      port: 0,
      host: '127.0.0.1',
      maxMessageBytes: 16_384,
      // What the intake does before it touches storage: read, and answer.
      onMessage: async (m) => {
        const r = readSiu(m);
        return r.ok
          ? buildAck({ header: r.message.header, code: 'AA', now: NOW, ackControlId: 'ACK1' })
          : buildAck({ header: r.header, code: r.ack, error: r.error, now: NOW, ackControlId: 'ACK1' });
      },
    });
    port = await server.listen();
  });
  afterAll(() => server.close());

  it(`answers each of ${N.toLocaleString('en-GB')} broken messages from 4 senders, and keeps serving`, async () => {
    const breakers = fc.sample(mutations('\r'), { numRuns: N, seed: 42 });
    const messages = breakers.map((b, i) => b(validSiu(i)));
    const acks: Array<ReturnType<typeof readAck>> = new Array(N);
    const clients = Array.from({ length: 4 }, () => new MllpClient('127.0.0.1', port, { timeoutMs: 10_000 }));
    try {
      await Promise.all(clients.map(async (c, k) => {
        for (let i = k; i < N; i += clients.length) acks[i] = readAck(await c.send(messages[i]));
      }));
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
    expect(acks.filter((a) => !a || !['AA', 'AE', 'AR'].includes(a.code))).toEqual([]);
    // A message whose MSH-10 survived the damage is answered under that id.
    const msh10 = (m: string) => m.split(/\r\n|\n|\r/)[0].split('|')[9] ?? '';
    const echoed = messages.map((m, i) => [m, acks[i]!] as const).filter(([m]) => m.startsWith('MSH|^~\\&|') && /^FZ\d+X$/.test(msh10(m)));
    expect(echoed.length).toBeGreaterThan(N / 4);
    expect(echoed.filter(([m, a]) => a.controlId !== msh10(m))).toEqual([]);
    expect(acks.filter((a) => a!.code !== 'AA').length).toBeGreaterThan(N / 2);
    const after = new MllpClient('127.0.0.1', port);
    expect(readAck(await after.send(validSiu(1)))?.code).toBe('AA');
    await after.close();
  });
});

describe('broken PTL files', () => {
  const header = [
    'PATIENT_PATHWAY_IDENTIFIER', 'NHS_NUMBER', 'PERSON_BIRTH_DATE', 'ACTIVITY_TREATMENT_FUNCTION_CODE', 'APPOINTMENT_TYPE',
    'REFERRAL_TO_TREATMENT_PERIOD_START_DATE', 'Outpatient_Priority_Code', 'MOBILE_NUMBER', 'POSTCODE', 'OFFER_CONSENT',
  ];
  const row = (i: number) => [`PW${i}`, '9990000018', '1971-02-03', '330', 'NEW', '2026-06-01', 'P3', '07700900123', 'SW10 9NH', 'Y'];
  const file = (i: number) => [header, row(i), row(i + 1), row(i + 2)].map((r) => r.join(',')).join('\r\n') + '\r\n';

  it(`reads each of ${FILES.toLocaleString('en-GB')} broken files whole-or-row-by-row, never failing any other way`, async () => {
    const breakers = fc.sample(mutations('\r\n'), { numRuns: FILES, seed: 7 });
    let refusedWhole = 0;
    let rowsRejected = 0;
    const problems: unknown[] = [];
    for (const [i, b] of breakers.entries()) {
      const text = b(file(i * 3));
      const seen: number[] = [];
      try {
        for await (const r of readPtlRows(Readable.from([Buffer.from(text)]), NOW)) {
          seen.push(r.rowNumber);
          if (!r.ok) {
            rowsRejected++;
            if (r.reasons.length === 0) problems.push([i, 'rejection without a reason']);
          }
        }
      } catch (e) {
        // Refused whole: only before any row was handed out, and always as a 400.
        if (!(e instanceof AppError && e.status === 400) || seen.length > 0) problems.push([i, String(e), seen.length]);
        refusedWhole++;
      }
      if (seen.some((n, k) => k > 0 && n <= seen[k - 1])) problems.push([i, 'row numbers out of order', seen]);
    }
    expect(problems).toEqual([]);
    expect(refusedWhole).toBeGreaterThan(0);
    expect(rowsRejected).toBeGreaterThan(FILES / 4);
  });
});
