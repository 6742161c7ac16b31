/**
 * The PTL import's traffic to the exchange, against a stand-in exchange that holds each batch
 * until told: batches overlap (up to two applied at once, in file order), a batch naming a patient
 * that a batch still being applied names waits for it, and a failed batch fails the import only
 * once nothing is still being applied.
 */
import { WaitingListColumns } from '@app/contracts';
import { syntheticNhsNumbers } from '@app/domain';
import { Readable } from 'node:stream';
import { AdapterConfig } from './config';
import { AppError } from '@app/platform';
import { ExchangeClient, ExchangeHttpError } from './exchange.client';
import { PtlRowResult, PtlService, readPtlRows } from './ptl.service';

const NOW = new Date('2026-11-23T10:00:00Z');
const HEADER = 'PATIENT_PATHWAY_IDENTIFIER,NHS_NUMBER,PERSON_BIRTH_DATE,ACTIVITY_TREATMENT_FUNCTION_CODE,APPOINTMENT_TYPE,REFERRAL_TO_TREATMENT_PERIOD_START_DATE,Outpatient_Priority_Code,MOBILE_NUMBER';
const numbers = syntheticNhsNumbers();
/** Distinct patients, one a row number. */
const NHS = [''].concat(Array.from({ length: 9_000 }, () => numbers.next().value as string));
const line = (i: number, nhs = NHS[i]) => `PW${i},${nhs},1971-02-03,330,NEW,2026-06-01,P3,07700900${String(i % 1000).padStart(3, '0')}`;
const file = (lines: string[]) => Readable.from([Buffer.from([HEADER, ...lines].join('\n') + '\n')]);

/** An exchange whose batch calls wait until `release` is called for them. */
class HeldExchange {
  readonly batches: WaitingListColumns[] = [];
  readonly held: Array<{ release: () => void; fail: (e: Error) => void }> = [];
  readonly abandoned: string[] = [];
  applying = 0;
  mostApplying = 0;
  async call<T>(_method: string, path: string, body?: { columns: WaitingListColumns }): Promise<T> {
    if (path === '/waiting-list/snapshots') return { snapshotId: 'snap-1' } as T;
    if (path.endsWith('/complete')) return { snapshotId: 'snap-1', closed: 0, deferred: 0 } as T;
    if (path.endsWith('/abandon')) return void this.abandoned.push(path) as T;
    this.batches.push(body!.columns);
    this.applying++;
    this.mostApplying = Math.max(this.mostApplying, this.applying);
    try {
      await new Promise<void>((release, fail) => this.held.push({ release, fail }));
    } finally {
      this.applying--;
    }
    return { applied: body!.columns.rowNumber.length } as T;
  }
}

const service = (exchange: HeldExchange) => new PtlService(exchange as unknown as ExchangeClient, new AdapterConfig(), { now: () => NOW });
/** Lets the import run until it waits on the exchange. */
const settle = () => new Promise((r) => setTimeout(r, 20));

/** A 5,000-row snapshot whose first batch is applied, its second fails with `e` and its third is applied: what the import throws. */
async function secondBatchFails(exchange: HeldExchange, e: Error): Promise<AppError> {
  const done = service(exchange).import(file(Array.from({ length: 5_000 }, (_, i) => line(i + 1))), 'snapshot');
  done.catch(() => undefined);
  await settle();
  exchange.held[0].release();
  await settle();
  exchange.held[1].fail(e);
  exchange.held[2]?.release();
  return (await done.catch((err: unknown) => err)) as AppError;
}

describe('PTL import: batches to the exchange', () => {
  it('has two batches applied at once, sent in file order', async () => {
    const exchange = new HeldExchange();
    const done = service(exchange).import(file(Array.from({ length: 9_000 }, (_, i) => line(i + 1))), 'snapshot');
    await settle();
    // Two batches sent; the third is read and waits for a free place.
    expect(exchange.batches).toHaveLength(2);
    exchange.held[0].release();
    await settle();
    expect(exchange.batches).toHaveLength(3);
    while (exchange.held.length < 5) {
      exchange.held.forEach((h) => h.release());
      await settle();
    }
    exchange.held.forEach((h) => h.release());
    expect(await done).toMatchObject({ accepted: 9_000, rejected: 0 });
    expect(exchange.mostApplying).toBe(2);
    expect(exchange.batches.map((b) => b.rowNumber[0])).toEqual([1, 2_001, 4_001, 6_001, 8_001]);
  });

  it('sends a batch naming a patient of a batch still being applied only once that one is applied', async () => {
    const exchange = new HeldExchange();
    // Row 2,500 (second batch) is the patient of row 10 (first batch), on another pathway.
    const lines = Array.from({ length: 4_500 }, (_, i) => (i + 1 === 2_500 ? line(i + 1, NHS[10]) : line(i + 1)));
    const done = service(exchange).import(file(lines), 'delta');
    await settle();
    expect(exchange.batches).toHaveLength(1);
    exchange.held[0].release();
    await settle();
    // The second batch goes, and the third (no patient in common) goes alongside it.
    expect(exchange.batches).toHaveLength(3);
    exchange.held.forEach((h) => h.release());
    expect(await done).toMatchObject({ accepted: 4_500 });
  });

  it('fails when a batch is refused, answering only once the batch alongside it is applied', async () => {
    const exchange = new HeldExchange();
    let answered = false;
    const done = service(exchange).import(file(Array.from({ length: 5_000 }, (_, i) => line(i + 1))), 'delta').finally(() => { answered = true; });
    done.catch(() => undefined);
    await settle();
    exchange.held[0].fail(new Error('exchange answered 500'));
    await settle();
    expect(answered).toBe(false);
    exchange.held[1].release();
    await expect(done).rejects.toThrow('exchange answered 500');
  });

  it('a batch the exchange refuses (4xx) is a 422 naming its rows and what was refused, and how many rows were applied, not a 500', async () => {
    const exchange = new HeldExchange();
    // The second batch (rows 2,001 to 4,000): its fourth value is refused.
    const body = { error: 'validation_failed', message: 'The batch is not valid; nothing in it was applied', details: ['columns.birthDate[3] must be a date YYYY-MM-DD in the years 1900 to 9999'] };
    const refused = await secondBatchFails(exchange, new ExchangeHttpError(400, JSON.stringify(body)));
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ code: 'ptl_batch_refused', status: 422 });
    expect(refused.message).toMatch(/rows 2001 to 4000 \(none of them applied\).*3000 rows of other batches were applied, and the snapshot closed nothing/);
    expect(refused.details).toEqual({ rows: { first: 2001, last: 4000 }, applied: 3000, refused: ['row 2004: birthDate must be a date YYYY-MM-DD in the years 1900 to 9999'] });
    // Given up at the exchange, so the corrected file sent again is not refused as a second snapshot running.
    expect(exchange.abandoned).toEqual(['/waiting-list/snapshots/snap-1/abandon']);
  });

  it('a snapshot the exchange abandoned part-way (its 409 snapshot_not_running) is the uploader\'s 409 saying to send the file again, not a 422 blaming rows', async () => {
    const exchange = new HeldExchange();
    const body = { error: 'snapshot_not_running', message: 'Snapshot snap-1 was abandoned (nothing heard from it for 30 minutes, and a newer one started)' };
    const refused = await secondBatchFails(exchange, new ExchangeHttpError(409, JSON.stringify(body)));
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ code: 'ptl_snapshot_not_running', status: 409 });
    expect(refused.message).toMatch(/3000 rows were applied; it closed nothing\). Send the whole file again\. The exchange said: Snapshot snap-1 was abandoned/);
  });
});

describe('PTL rows as read from the file', () => {
  const read = async (body: string): Promise<PtlRowResult[]> => {
    const out: PtlRowResult[] = [];
    for await (const r of readPtlRows(Readable.from([Buffer.from(body)]), NOW)) out.push(r);
    return out;
  };
  const CURRENT = 'PATIENT_PATHWAY_IDENTIFIER,NHS_NUMBER,PERSON_BIRTH_DATE,ACTIVITY_TREATMENT_FUNCTION_CODE,APPOINTMENT_TYPE,REFERRAL_TO_TREATMENT_PERIOD_START_DATE,Outpatient_Priority_Code,CURRENT_APPOINTMENT_ID';
  const rowOf = (i: number, appointment = '') => `PW${i},${NHS[i]},1971-02-03,330,NEW,2026-06-01,P3,${appointment}`;

  it('ends a row at a bare LF in a CR LF file (and at a CR), rather than running two rows into one', async () => {
    for (const body of [
      `${CURRENT}\r\n${rowOf(1)}\n${rowOf(2)}\r\n${rowOf(3, 'A1')}\r\n`,
      `${CURRENT}\r\n"PW1",${rowOf(1).slice(4)}\n${rowOf(2)}\r${rowOf(3, 'A1')}\r\n`,
    ]) {
      const rows = await read(body);
      expect(rows.map((r) => (r.ok ? [r.rowNumber, r.row.pathwayId, r.row.currentAppointmentId] : r))).toEqual([[1, 'PW1', null], [2, 'PW2', null], [3, 'PW3', 'A1']]);
    }
  });

  it('rejects a row with more cells than the header has columns, by its number, keeping its pathway; trailing empty cells are no matter', async () => {
    const rows = await read(`${CURRENT}\n${rowOf(1)},PW9,${NHS[9]}\n${rowOf(2, 'A2')},,\n`);
    expect(rows[0]).toEqual({ ok: false, rowNumber: 1, reasons: ['the row has 2 more cells than the header has columns'], pathwayId: 'PW1' });
    expect(rows[1]).toMatchObject({ ok: true, rowNumber: 2, row: { pathwayId: 'PW2', currentAppointmentId: 'A2' } });
  });

  it('a pathway listed twice is rejected from its second row on, naming its first, also when the first row was the rejected one', async () => {
    const rows = await read(`${HEADER}\n${line(1).replace('1971-02-03', '1971-02-30')}\n${line(2)}\n${line(1)}\n${line(2)}\n`);
    expect(rows).toEqual([
      { ok: false, rowNumber: 1, reasons: ['PERSON_BIRTH_DATE is not a date in YYYY-MM-DD'], pathwayId: 'PW1' },
      expect.objectContaining({ ok: true, rowNumber: 2 }),
      { ok: false, rowNumber: 3, reasons: ['PATIENT_PATHWAY_IDENTIFIER repeats row 1; a pathway may be listed once per file'] },
      { ok: false, rowNumber: 4, reasons: ['PATIENT_PATHWAY_IDENTIFIER repeats row 2; a pathway may be listed once per file'] },
    ]);
  });
});
