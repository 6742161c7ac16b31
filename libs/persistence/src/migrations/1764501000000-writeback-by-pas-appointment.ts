import { MigrationInterface, QueryRunner } from 'typeorm';
import { createIndexConcurrently } from './concurrent-index';

/**
 * Write-backs by the PAS appointment they made, for the exchange's echo checks on a trust's own
 * SIU (an S12/S13/S14 of an appointment our write-back booked; an S15 `pat-swl` cancellation of
 * one we had given up on): each such message looked it up by a scan of every write-back ever made.
 * Partial: only write-backs that made an appointment. Built CONCURRENTLY, as the other late indexes.
 */
export class WritebackByPasAppointment1764501000000 implements MigrationInterface {
  name = 'WritebackByPasAppointment1764501000000';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await createIndexConcurrently(q, 'writeback_by_pas_appointment', `writeback (trust_ods, pas_appointment_id) WHERE pas_appointment_id IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS writeback_by_pas_appointment`);
  }
}
