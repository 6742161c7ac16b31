import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What the booking service hands to people and to other trusts:
 * - `booking_failure`: the operators' failures list for bookings. One row per booking and kind:
 *   `writeback-failed` (the owning PAS refused the booking for good: the slot was released and the
 *   patient told "could not") and `double-held` (the new booking stands but the old appointment at
 *   the home trust could not be cancelled, so the patient holds two). The dashboard reads it; what
 *   a person did about a row goes in `failure_action` (kind, ref_id = this row's id).
 * - `inter_provider_transfer`: the IPT record written when a patient is booked at another trust,
 *   so the receiving trust's waiting list knows the pathway: its RTT clock start carried over, the
 *   referral (the sending trust's pathway id, TFC, appointment type) and priority. One per booking;
 *   only the receiving trust's adapter can read it (`GET /v1/trusts/:ods/transfers`).
 */
export class BookingFailuresAndTransfers1764400005000 implements MigrationInterface {
  name = 'BookingFailuresAndTransfers1764400005000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE booking_failure (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        booking_id uuid NOT NULL REFERENCES booking (id),
        kind text NOT NULL CHECK (kind IN ('writeback-failed', 'double-held')),
        trust_ods text NOT NULL,
        slot_id uuid NOT NULL REFERENCES slot (id),
        reason text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (booking_id, kind)
      );
      CREATE INDEX booking_failure_by_created ON booking_failure (created_at DESC);

      CREATE TABLE inter_provider_transfer (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        booking_id uuid NOT NULL UNIQUE REFERENCES booking (id),
        entry_id uuid NOT NULL REFERENCES waiting_list_entry (id),
        patient_id uuid NOT NULL REFERENCES patient (id),
        sending_trust_ods text NOT NULL,
        receiving_trust_ods text NOT NULL CHECK (receiving_trust_ods <> sending_trust_ods),
        referral_pathway_id text NOT NULL,
        tfc text NOT NULL,
        appointment_type text NOT NULL CHECK (appointment_type IN ('NEW', 'FUP')),
        priority text NOT NULL CHECK (priority IN ('P1a', 'P1b', 'P2', 'P3', 'P4')),
        rtt_start date NOT NULL,
        appointment_start timestamptz NOT NULL,
        pas_appointment_id text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX inter_provider_transfer_by_receiver ON inter_provider_transfer (receiving_trust_ods, created_at);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS inter_provider_transfer, booking_failure`);
  }
}
