/**
 * PTL rows against what a patient told us themselves: the trust's next upload updates the pathway
 * (priority, appointment, consent) but leaves the sites and dates the patient stated on the offer
 * page as they stated them. Real Postgres, real migrations.
 */
import { createTestDatabase, dataSourceOptions, TestDatabase } from '@app/persistence';
import { DataSource } from 'typeorm';
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

const row = (pathwayId: string, nhsNumber: string, over: Record<string, unknown> = {}) => ({
  rowNumber: 1, pathwayId, nhsNumber, birthDate: '1970-01-01', tfc: '330', appointmentType: 'NEW' as const, rttStart: '2026-03-01',
  priority: 'P3' as const, mobile: '+447700900101', offerConsent: true, icsWideConsent: true, acceptableSites: ['ANY'], unavailable: [], ...over,
});
const entry = async (pathwayId: string) =>
  (await ds.query(`SELECT priority, any_site, acceptable_sites, unavailable FROM waiting_list_entry WHERE pathway_id = $1`, [pathwayId]))[0];

describe('a PTL upload and the preferences a patient stated', () => {
  it('updates the pathway but keeps the sites and dates the patient stated', async () => {
    const list = new WaitingListService(ds);
    await list.applyBatch('RYJ', { mode: 'delta', rows: [row('PW-STATED', '9990000018'), row('PW-TRUST', '9990000026')] });
    // What the offer page writes when the patient states their preferences.
    await ds.query(
      `UPDATE waiting_list_entry SET any_site = false, acceptable_sites = '{RYJ02}', unavailable = '[{"from":"2026-12-20","to":"2026-12-31"}]',
              preferences_stated_at = now() WHERE pathway_id = 'PW-STATED'`,
    );

    await list.applyBatch('RYJ', {
      mode: 'delta',
      rows: [row('PW-STATED', '9990000018', { priority: 'P2' }), row('PW-TRUST', '9990000026', { priority: 'P2', acceptableSites: ['RYJ01'] })],
    });

    expect(await entry('PW-STATED')).toEqual({
      priority: 'P2', any_site: false, acceptable_sites: ['RYJ02'], unavailable: [{ from: '2026-12-20', to: '2026-12-31' }],
    });
    // Without a stated preference the trust's extract stays the source.
    expect(await entry('PW-TRUST')).toEqual({ priority: 'P2', any_site: false, acceptable_sites: ['RYJ01'], unavailable: [] });
  });
});
