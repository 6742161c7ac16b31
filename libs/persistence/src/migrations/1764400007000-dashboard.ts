import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The operations dashboard's own tables, and the indexes its read queries need on a year of data:
 * - `dashboard_user`: local accounts (scrypt hash, lockout counters). A trust viewer is bound to
 *   one trust, and only a trust viewer is.
 * - `dashboard_session`: server-side sessions; the cookie carries a random token and only its
 *   SHA-256 is stored, so a leaked table cannot be replayed. Each session has its CSRF token.
 * - `audit_log`: every action and every view of patient-level data (append-only by convention:
 *   nothing in the app updates or deletes it).
 * - `failure_action`: what a person did about an item on the failures list (retry, resolved with a
 *   note, clinic mapped), keyed by the kind and id of the failing row, so the list can tell what is
 *   still open and who dealt with the rest.
 * - Indexes: the overview counts slots by release time and joins their offers, bookings and SMS;
 *   the flows page groups bookings by owning and home trust over a date range.
 */
export class Dashboard1764400007000 implements MigrationInterface {
  name = 'Dashboard1764400007000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE dashboard_user (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        email text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
        display_name text NOT NULL,
        role text NOT NULL CHECK (role IN ('ics_operations', 'trust_viewer', 'admin')),
        trust_ods text,
        password_hash text NOT NULL,
        failed_attempts integer NOT NULL DEFAULT 0,
        locked_until timestamptz,
        disabled boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        last_sign_in_at timestamptz,
        CHECK ((role = 'trust_viewer') = (trust_ods IS NOT NULL))
      );
      CREATE UNIQUE INDEX dashboard_user_email ON dashboard_user (email);

      CREATE TABLE dashboard_session (
        token_hash text PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES dashboard_user (id) ON DELETE CASCADE,
        csrf_token text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_seen_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL
      );
      CREATE INDEX dashboard_session_by_user ON dashboard_session (user_id);
      CREATE INDEX dashboard_session_by_expiry ON dashboard_session (expires_at);

      CREATE TABLE audit_log (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        user_id uuid,
        user_email text,
        role text,
        action text NOT NULL,
        target_type text,
        target_id text,
        trust_ods text,
        detail jsonb,
        ip text
      );
      CREATE INDEX audit_log_by_at ON audit_log (at DESC);
      CREATE INDEX audit_log_by_user ON audit_log (user_id, at DESC);

      CREATE TABLE failure_action (
        id bigserial PRIMARY KEY,
        kind text NOT NULL,
        ref_id text NOT NULL,
        action text NOT NULL CHECK (action IN ('retried', 'resolved', 'clinic-mapped')),
        note text,
        user_id uuid REFERENCES dashboard_user (id),
        user_email text NOT NULL,
        at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX failure_action_by_ref ON failure_action (kind, ref_id, at DESC);

      CREATE INDEX slot_released_for_dashboard ON slot (released_at) INCLUDE (trust_ods, site_ods, tfc, status, closed_reason, start_at);
      CREATE INDEX booking_by_slot ON booking (slot_id) INCLUDE (status, home_trust_ods, created_at, previous_appointment_start);
      CREATE INDEX sms_message_by_offer ON sms_message (offer_id) WHERE offer_id IS NOT NULL;
      CREATE INDEX hl7_message_refused ON hl7_message (received_at DESC) WHERE status = 'refused';
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP INDEX IF EXISTS hl7_message_refused, sms_message_by_offer, booking_by_slot, slot_released_for_dashboard;
      DROP TABLE IF EXISTS failure_action, audit_log, dashboard_session, dashboard_user;
    `);
  }
}
