import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An index of the live waves by expiry, for the exchange's matching sweep (`matching-sweep.ts`,
 * every minute) and its `matching_overdue` gauge (every scrape): the live waves whose expiry job
 * never ran. Partial, so it holds only the waves in flight (a few per open slot) rather than every
 * wave ever made, which those queries would otherwise scan.
 *
 * Built CONCURRENTLY, outside a transaction, so a rolling release does not block matching's
 * inserts while it scans `offer_wave`. A build that failed half-way leaves an invalid index, which
 * is dropped and built again.
 */
export class OfferWaveLiveByExpiry1764500800000 implements MigrationInterface {
  name = 'OfferWaveLiveByExpiry1764500800000';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    const [invalid] = await q.query(
      `SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'offer_wave_live_by_expiry' AND NOT i.indisvalid`,
    );
    if (invalid) await q.query(`DROP INDEX CONCURRENTLY IF EXISTS offer_wave_live_by_expiry`);
    await q.query(`CREATE INDEX CONCURRENTLY IF NOT EXISTS offer_wave_live_by_expiry ON offer_wave (expires_at, id) WHERE status = 'live'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS offer_wave_live_by_expiry`);
  }
}
