import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `waiting_list_entry.sites_stated_at`: when the patient last chose, on the offer page, the sites
 * they can reach; `preferences_stated_at` now covers the dates they cannot make only. The page
 * shows the sites only for a pathway with ICS-wide consent, so saving dates on any other pathway
 * stated nothing about sites: one stamp for both froze the trust's PTL sites on that pathway as if
 * the patient had chosen them (a later ICS_WIDE_CONSENT with ACCEPTABLE_SITES would never land).
 * Added rather than renamed, so a process still on the old code keeps working during a rollout;
 * existing stamps covered both answers, so they carry over to the sites.
 */
export class SitesStatedApart1764500400100 implements MigrationInterface {
  name = 'SitesStatedApart1764500400100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE waiting_list_entry ADD COLUMN sites_stated_at timestamptz`);
    await q.query(`UPDATE waiting_list_entry SET sites_stated_at = preferences_stated_at WHERE preferences_stated_at IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE waiting_list_entry DROP COLUMN sites_stated_at`);
  }
}
