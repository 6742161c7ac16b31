import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The trust adapter's edge, and the exchange's record of every scheduling event:
 * - `hl7_message.replayed_at` / `replay_outcome`: what the last replay (`npm run adapter:replay`)
 *   made of an archived message, so a replay run twice changes nothing the second time.
 * - `unmapped_clinic`: clinic codes a trust sent that its mapping file does not know, with how
 *   often and when, for operators (the adapter's `GET /v1/unmapped-clinics`, the dashboard).
 *   `mapped_at` is set when a reloaded mapping knows the code.
 * - `slot_event`: every canonical event the exchange acted on, once per event id (a replayed or
 *   re-forwarded message is a no-op), with what it did — no-shows are recorded here.
 */
export class TrustAdapterEdge1764400003000 implements MigrationInterface {
  name = 'TrustAdapterEdge1764400003000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE hl7_message ADD COLUMN replayed_at timestamptz, ADD COLUMN replay_outcome text;

      CREATE TABLE unmapped_clinic (
        trust_ods text NOT NULL,
        clinic_code text NOT NULL,
        messages integer NOT NULL DEFAULT 0,
        first_seen_at timestamptz NOT NULL DEFAULT now(),
        last_seen_at timestamptz NOT NULL DEFAULT now(),
        last_control_id text,
        mapping_version text,
        mapped_at timestamptz,
        PRIMARY KEY (trust_ods, clinic_code)
      );

      CREATE TABLE slot_event (
        event_id text NOT NULL,
        trust_ods text NOT NULL,
        kind text NOT NULL,
        control_id text NOT NULL,
        filler_appointment_id text NOT NULL,
        start_at timestamptz NOT NULL,
        outcome text NOT NULL,
        slot_id uuid,
        entries_updated integer NOT NULL DEFAULT 0,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (trust_ods, event_id)
      );
      CREATE INDEX slot_event_by_appointment ON slot_event (trust_ods, filler_appointment_id);
      CREATE INDEX slot_event_by_kind ON slot_event (trust_ods, kind, received_at);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE IF EXISTS slot_event, unmapped_clinic;
      ALTER TABLE hl7_message DROP COLUMN IF EXISTS replayed_at, DROP COLUMN IF EXISTS replay_outcome;
    `);
  }
}
