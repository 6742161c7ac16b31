/**
 * PTL rows against what a patient told us themselves: the trust's next upload updates the pathway
 * (priority, appointment, consent) but leaves the sites and dates the patient stated on the offer
 * page as they stated them. Real Postgres, real migrations.
 */
import { WaitingListBatchDto, WaitingListRowDto, rowsToColumns } from '@app/contracts';
import { syntheticNhsNumber } from '@app/domain';
import { createTestDatabase, dataSourceOptions, TestDatabase } from '@app/persistence';
import { AppError } from '@app/platform';
import { DataSource } from 'typeorm';
import { ExchangeConfig } from './config';
import { WaitingListService } from './waiting-list.service';

let db: TestDatabase;
let ds: DataSource;

beforeAll(async () => {
  db = await createTestDatabase('sx_wl');
  ds = await new DataSource(dataSourceOptions(db.url, 4)).initialize();
});
afterAll(async () => {
  await ds?.destroy();
  await db?.drop();
});

const row = (pathwayId: string, nhsNumber: string, over: Partial<WaitingListRowDto> = {}): WaitingListRowDto => ({
  rowNumber: 1, pathwayId, nhsNumber, birthDate: '1970-01-01', tfc: '330', appointmentType: 'NEW' as const, rttStart: '2026-03-01',
  priority: 'P3' as const, mobile: '+447700900101', offerConsent: true, icsWideConsent: true, acceptableSites: ['ANY'], unavailable: [], ...over,
});
const entry = async (pathwayId: string) =>
  (await ds.query(`SELECT priority, any_site, acceptable_sites, unavailable FROM waiting_list_entry WHERE pathway_id = $1`, [pathwayId]))[0];

describe('a PTL upload and the preferences a patient stated', () => {
  it('updates the pathway but keeps the sites and dates the patient stated', async () => {
    const list = new WaitingListService(ds);
    await list.applyBatch('RYJ', { mode: 'delta', rows: [row('PW-STATED', '9990000018'), row('PW-TRUST', '9990000026'), row('PW-DATES', '9990000077', { icsWideConsent: false })] });
    // What the offer page writes when the patient states their preferences.
    await ds.query(
      `UPDATE waiting_list_entry SET any_site = false, acceptable_sites = '{RYJ02}', unavailable = '[{"from":"2026-12-20","to":"2026-12-31"}]',
              preferences_stated_at = now(), sites_stated_at = now() WHERE pathway_id = 'PW-STATED'`,
    );
    // A pathway without ICS-wide consent: its page shows no sites, so only the dates were stated.
    await ds.query(`UPDATE waiting_list_entry SET unavailable = '[{"from":"2026-12-20","to":"2026-12-31"}]', preferences_stated_at = now() WHERE pathway_id = 'PW-DATES'`);

    await list.applyBatch('RYJ', {
      mode: 'delta',
      rows: [
        row('PW-STATED', '9990000018', { priority: 'P2' }), row('PW-TRUST', '9990000026', { priority: 'P2', acceptableSites: ['RYJ01'] }),
        row('PW-DATES', '9990000077', { acceptableSites: ['RQM01'] }),
      ],
    });

    expect(await entry('PW-STATED')).toEqual({
      priority: 'P2', any_site: false, acceptable_sites: ['RYJ02'], unavailable: [{ from: '2026-12-20', to: '2026-12-31' }],
    });
    // Without a stated preference the trust's extract stays the source.
    expect(await entry('PW-TRUST')).toEqual({ priority: 'P2', any_site: false, acceptable_sites: ['RYJ01'], unavailable: [] });
    // Stated dates stay; the sites, never stated, are still the trust's to send.
    expect(await entry('PW-DATES')).toEqual({ priority: 'P3', any_site: false, acceptable_sites: ['RQM01'], unavailable: [{ from: '2026-12-20', to: '2026-12-31' }] });
  });
});

describe('a columnar batch (the form the adapter sends)', () => {
  it('stores the rows as the row form does, the last row of a pathway winning', async () => {
    const list = new WaitingListService(ds);
    const c = rowsToColumns([
      row('PW-COL-1', '9990000034', { priority: 'P4' }), row('PW-COL-2', '9990000042', { acceptableSites: ['RYJ01', 'RYJ02'], maxTravelKm: 12.5 }),
      row('PW-COL-1', '9990000034', { priority: 'P2', unavailable: [{ from: '2026-12-20', to: '2026-12-31' }] }),
    ]);
    expect(await list.applyBatch('RYJ', { mode: 'delta', columns: c })).toEqual({ applied: 2 });
    expect(await entry('PW-COL-1')).toEqual({ priority: 'P2', any_site: true, acceptable_sites: [], unavailable: [{ from: '2026-12-20', to: '2026-12-31' }] });
    expect(await entry('PW-COL-2')).toEqual({ priority: 'P3', any_site: false, acceptable_sites: ['RYJ01', 'RYJ02'], unavailable: [] });
  });

  it('refuses a batch with one bad value as a 400 naming it, storing none of its rows', async () => {
    const list = new WaitingListService(ds);
    const c = rowsToColumns([row('PW-COL-OK', '9990000050'), row('PW-COL-BAD', '9990000069')]);
    c.rttStart[1] = '2026-02-30';
    const refused = await list.applyBatch('RYJ', { mode: 'delta', columns: c }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ status: 400, details: ['columns.rttStart[1] must be a date YYYY-MM-DD in the years 1900 to 9999'] });
    expect(await ds.query(`SELECT 1 FROM waiting_list_entry WHERE pathway_id IN ('PW-COL-OK', 'PW-COL-BAD')`)).toEqual([]);
    // Neither form, or both: refused too.
    await expect(list.applyBatch('RYJ', { mode: 'delta' })).rejects.toMatchObject({ status: 400 });
    await expect(list.applyBatch('RYJ', { mode: 'delta', rows: [], columns: c })).rejects.toMatchObject({ status: 400 });
  });

  it('takes null rows or columns as not sent: neither form is a 400 saying so, never a crash', async () => {
    const list = new WaitingListService(ds);
    const nulls = [{ rows: null }, { columns: null }, { rows: null, columns: null }] as unknown as Array<Partial<WaitingListBatchDto>>;
    for (const batch of nulls) {
      await expect(list.applyBatch('RYJ', { mode: 'delta', ...batch })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/either rows or columns/) });
    }
    // null beside the other form is just that form.
    const c = rowsToColumns([row('PW-NULL-ROWS', syntheticNhsNumber(7_001))]);
    expect(await list.applyBatch('RYJ', { mode: 'delta', rows: null, columns: c } as unknown as WaitingListBatchDto)).toEqual({ applied: 1 });
  });
});

describe('one patient on several trusts\' lists', () => {
  const patient = async (nhs: string) =>
    (await ds.query(`SELECT mobile, mobile_status, birth_date::text, sex, postcode FROM patient WHERE nhs_number = $1`, [nhs]))[0];

  it('a trust\'s row without a mobile keeps the one another trust sent, and a number Notify refused stays refused while it is the same number', async () => {
    const list = new WaitingListService(ds);
    const nhs = syntheticNhsNumber(7_002);
    await list.applyBatch('RQM', { mode: 'delta', rows: [row('PW-RQM-1', nhs, { mobile: '+447700900111', postcode: 'W6 8RF', sex: 'F' })] });
    // Notify refused the number (what the notifier records on a permanent failure).
    await ds.query(`UPDATE patient SET mobile_status = 'invalid' WHERE nhs_number = $1`, [nhs]);

    // RAS holds no mobile, postcode or sex for the patient, and a different birth date.
    await list.applyBatch('RAS', { mode: 'delta', rows: [row('PW-RAS-1', nhs, { mobile: null, postcode: null, sex: null, birthDate: '1970-01-02' })] });
    expect(await patient(nhs)).toEqual({ mobile: '+447700900111', mobile_status: 'invalid', birth_date: '1970-01-02', sex: 'F', postcode: 'W6 8RF' });
    // RQM's next upload repeats the refused number: still refused.
    await list.applyBatch('RQM', { mode: 'delta', rows: [row('PW-RQM-1', nhs, { mobile: '+447700900111' })] });
    expect(await patient(nhs)).toMatchObject({ mobile: '+447700900111', mobile_status: 'invalid' });

    // A trust sends a different number: that one is worth trying.
    await list.applyBatch('RAS', { mode: 'delta', rows: [row('PW-RAS-1', nhs, { mobile: '+447700900222' })] });
    expect(await patient(nhs)).toMatchObject({ mobile: '+447700900222', mobile_status: 'valid' });
    // And the pathway at RQM is still one an offer can reach (it was never the patient's to lose).
    expect((await ds.query(`SELECT e.status FROM waiting_list_entry e JOIN patient p ON p.id = e.patient_id WHERE p.nhs_number = $1 AND e.trust_ods = 'RQM'`, [nhs]))[0].status).toBe('open');
  });

  it('within one batch, a later row without a mobile keeps an earlier row\'s for the same patient', async () => {
    const list = new WaitingListService(ds);
    const nhs = syntheticNhsNumber(7_003);
    await list.applyBatch('RQM', { mode: 'delta', rows: [row('PW-RQM-2', nhs, { mobile: '+447700900333' }), row('PW-RQM-3', nhs, { mobile: null, postcode: '' })] });
    expect(await patient(nhs)).toMatchObject({ mobile: '+447700900333', mobile_status: 'valid' });
  });
});

describe('one snapshot of a trust at a time', () => {
  // A trust of its own: a snapshot closes every open entry of its trust that it does not list.
  const pathways = (trust: string) => Array.from({ length: 5 }, (_, i) => `PW-${trust}-${i}`);
  const rowsOf = (trust: string, from: number) => pathways(trust).map((p, i) => row(p, syntheticNhsNumber(from + i)));
  const statuses = async (trust: string) =>
    (await ds.query(`SELECT status FROM waiting_list_entry WHERE trust_ods = $1 ORDER BY pathway_id`, [trust])).map((r: { status: string }) => r.status);
  const importStatus = async (id: string) => (await ds.query(`SELECT status FROM ptl_import WHERE id = $1`, [id]))[0].status;

  it('the same snapshot started twice (a pusher retrying after a timeout) is refused 409 the second time, and completing the first closes nothing it listed', async () => {
    const list = new WaitingListService(ds);
    const rows = rowsOf('RWA', 7_100);
    await list.applyBatch('RWA', { mode: 'delta', rows });
    const first = await list.startSnapshot('RWA');
    const second = await list.startSnapshot('RWA').catch((e: unknown) => e);
    // The interleaving that closed the whole list: the same rows applied to each snapshot that started, the first completed.
    for (const s of [first, second]) {
      if (!(s instanceof AppError)) await list.applyBatch('RWA', { mode: 'snapshot', snapshotId: (s as { snapshotId: string }).snapshotId, rows });
    }
    expect(await list.completeSnapshot('RWA', first.snapshotId)).toEqual({ snapshotId: first.snapshotId, closed: 0, deferred: 0 });
    expect(await statuses('RWA')).toEqual(['open', 'open', 'open', 'open', 'open']);
    expect(second).toBeInstanceOf(AppError);
    expect(second).toMatchObject({ status: 409, code: 'snapshot_running', details: { snapshotId: first.snapshotId } });
    expect((second as AppError).message).toMatch(/already running.*started .*last heard from/);
    // Once it has completed, the next snapshot may start.
    const next = await list.startSnapshot('RWA');
    await list.applyBatch('RWA', { mode: 'snapshot', snapshotId: next.snapshotId, rows: rows.slice(1) });
    expect(await list.completeSnapshot('RWA', next.snapshotId)).toMatchObject({ closed: 1 });
  });

  it('a snapshot its adapter gave up (the import failed part-way) closes nothing and lets the next one start at once', async () => {
    const list = new WaitingListService(ds);
    const rows = rowsOf('RWD', 7_300);
    await list.applyBatch('RWD', { mode: 'delta', rows });
    const failed = await list.startSnapshot('RWD');
    await list.applyBatch('RWD', { mode: 'snapshot', snapshotId: failed.snapshotId, rows: rows.slice(0, 1) });
    await expect(list.abandonSnapshot('RWE', failed.snapshotId)).rejects.toMatchObject({ status: 404 });
    expect(await list.abandonSnapshot('RWD', failed.snapshotId)).toEqual({ snapshotId: failed.snapshotId, status: 'abandoned' });
    await expect(list.completeSnapshot('RWD', failed.snapshotId)).rejects.toMatchObject({ status: 409, code: 'snapshot_not_running' });
    await expect(list.abandonSnapshot('RWD', failed.snapshotId)).rejects.toMatchObject({ status: 409 });
    expect(await statuses('RWD')).toEqual(['open', 'open', 'open', 'open', 'open']);
    const again = await list.startSnapshot('RWD');
    await list.applyBatch('RWD', { mode: 'snapshot', snapshotId: again.snapshotId, rows });
    expect(await list.completeSnapshot('RWD', again.snapshotId)).toMatchObject({ closed: 0 });
  });

  it('two starts at the same moment: exactly one runs', async () => {
    const list = new WaitingListService(ds);
    const both = await Promise.allSettled([list.startSnapshot('RWB'), list.startSnapshot('RWB')]);
    expect(both.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect((both.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toMatchObject({ status: 409, code: 'snapshot_running' });
    expect(await ds.query(`SELECT count(*)::int AS n FROM ptl_import WHERE trust_ods = 'RWB' AND status = 'running'`)).toEqual([{ n: 1 }]);
  });

  it('a snapshot not heard from for PTL_SNAPSHOT_IDLE_MINUTES (its adapter died) is abandoned by the next start, and then applies and closes nothing', async () => {
    const list = new WaitingListService(ds, { PTL_SNAPSHOT_IDLE_MINUTES: 30 } as ExchangeConfig);
    const rows = rowsOf('RWC', 7_200);
    await list.applyBatch('RWC', { mode: 'delta', rows });
    const dead = await list.startSnapshot('RWC');
    await list.applyBatch('RWC', { mode: 'snapshot', snapshotId: dead.snapshotId, rows: rows.slice(0, 2) });
    // Quiet for less than the limit: still running, so another start is refused.
    await ds.query(`UPDATE ptl_import SET active_at = now() - interval '29 minutes' WHERE id = $1`, [dead.snapshotId]);
    await expect(list.startSnapshot('RWC')).rejects.toMatchObject({ status: 409, code: 'snapshot_running' });
    // A batch is hearing from it.
    await list.applyBatch('RWC', { mode: 'snapshot', snapshotId: dead.snapshotId, rows: rows.slice(2, 3) });
    expect((await ds.query(`SELECT active_at > now() - interval '1 minute' AS fresh FROM ptl_import WHERE id = $1`, [dead.snapshotId]))[0].fresh).toBe(true);

    await ds.query(`UPDATE ptl_import SET active_at = now() - interval '31 minutes' WHERE id = $1`, [dead.snapshotId]);
    const next = await list.startSnapshot('RWC');
    expect(await importStatus(dead.snapshotId)).toBe('abandoned');
    // The abandoned one, should its adapter come back: no batch, and above all no closing.
    await expect(list.applyBatch('RWC', { mode: 'snapshot', snapshotId: dead.snapshotId, rows: rows.slice(3) }))
      .rejects.toMatchObject({ status: 409, code: 'snapshot_not_running' });
    await list.applyBatch('RWC', { mode: 'snapshot', snapshotId: next.snapshotId, rows: rows.slice(3) });
    await expect(list.completeSnapshot('RWC', dead.snapshotId)).rejects.toMatchObject({ status: 409, code: 'snapshot_not_running' });
    expect(await statuses('RWC')).toEqual(['open', 'open', 'open', 'open', 'open']);
    expect(await importStatus(dead.snapshotId)).toBe('abandoned');
    // The newer one completes as usual.
    await list.applyBatch('RWC', { mode: 'snapshot', snapshotId: next.snapshotId, rows });
    expect(await list.completeSnapshot('RWC', next.snapshotId)).toMatchObject({ closed: 0 });
  });
});
