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
 * - Pending closures settle by themselves: a PTL snapshot that no longer lists a patient who holds
 *   a live offer or a booking in flight only marks the entry `close_pending`; these deferred
 *   triggers close it in the very transaction that ends the offer or settles the booking (at
 *   commit, so an offer accepted and its booking created in one transaction count as in flight),
 *   whichever service's code did it.
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

      CREATE FUNCTION settle_pending_close(entry uuid) RETURNS void LANGUAGE sql AS $$
        UPDATE waiting_list_entry e SET status = 'closed', close_pending = false, updated_at = now()
         WHERE e.id = entry AND e.close_pending AND e.status = 'open'
           AND NOT EXISTS (SELECT 1 FROM offer o WHERE o.entry_id = e.id AND o.status = 'live')
           AND NOT EXISTS (SELECT 1 FROM booking b WHERE b.entry_id = e.id AND b.status = 'pending');
      $$;
      CREATE FUNCTION settle_pending_close_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          -- TG_ARGV[0] names the column holding the entry id (entry_id, or the entry's own id).
          PERFORM settle_pending_close((to_jsonb(NEW) ->> TG_ARGV[0])::uuid);
          RETURN NULL;
        END;
      $$;
      CREATE CONSTRAINT TRIGGER offer_ended_settles_close AFTER UPDATE OF status ON offer
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.status = 'live' AND NEW.status <> 'live')
        EXECUTE FUNCTION settle_pending_close_trigger('entry_id');
      CREATE CONSTRAINT TRIGGER booking_settled_settles_close AFTER UPDATE OF status ON booking
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.status = 'pending' AND NEW.status <> 'pending')
        EXECUTE FUNCTION settle_pending_close_trigger('entry_id');
      CREATE CONSTRAINT TRIGGER entry_reopened_settles_close AFTER UPDATE OF status ON waiting_list_entry
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.status = 'open' AND NEW.close_pending)
        EXECUTE FUNCTION settle_pending_close_trigger('id');
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TRIGGER IF EXISTS entry_reopened_settles_close ON waiting_list_entry;
      DROP TRIGGER IF EXISTS booking_settled_settles_close ON booking;
      DROP TRIGGER IF EXISTS offer_ended_settles_close ON offer;
      DROP FUNCTION IF EXISTS settle_pending_close_trigger(), settle_pending_close(uuid);
      DROP TABLE IF EXISTS slot_event, unmapped_clinic;
      ALTER TABLE hl7_message DROP COLUMN IF EXISTS replayed_at, DROP COLUMN IF EXISTS replay_outcome;
    `);
  }
}
