import { MigrationInterface, QueryRunner } from 'typeorm';
import { createIndexConcurrently } from './concurrent-index';

/**
 * An index of the live waves by expiry, for the exchange's matching sweep (`matching-sweep.ts`,
 * every minute) and its `matching_overdue` gauge (every scrape): the live waves whose expiry job
 * never ran. Partial, so it holds only the waves in flight (a few per open slot) rather than every
 * wave ever made, which those queries would otherwise scan.
 *
 * Built CONCURRENTLY (`createIndexConcurrently`), so a rolling release does not block matching's
 * inserts while it scans `offer_wave`.
 */
export class OfferWaveLiveByExpiry1764500800000 implements MigrationInterface {
  name = 'OfferWaveLiveByExpiry1764500800000';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await createIndexConcurrently(q, 'offer_wave_live_by_expiry', `offer_wave (expires_at, id) WHERE status = 'live'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS offer_wave_live_by_expiry`);
  }
}
