import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The first schema. Invariants that must hold under concurrency are enforced here, by the
 * database, rather than by application code:
 * - a slot is booked at most once (`booking_one_per_slot`),
 * - a pathway gets at most one booking (`booking_one_per_entry`),
 * - a patient holds at most one live offer ICS-wide (`offer_one_live_per_patient`),
 * - an accepted HL7 control id is processed once per trust (`hl7_message_accepted_once`),
 * - a Notify callback id is acted on once (`patient_reply_external_once`).
 */
export class InitialSchema1732300000000 implements MigrationInterface {
  name = 'InitialSchema1732300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE outbox (
        id bigserial PRIMARY KEY,
        queue text NOT NULL,
        job_name text NOT NULL,
        job_id text NOT NULL,
        payload jsonb NOT NULL,
        run_at timestamptz NOT NULL DEFAULT now(),
        created_at timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz
      );
      CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

      CREATE TABLE hl7_message (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        trust_ods text NOT NULL,
        control_id text NOT NULL,
        message_type text,
        status text NOT NULL CHECK (status IN ('accepted', 'refused')),
        ack_code text NOT NULL CHECK (ack_code IN ('AA', 'AE', 'AR')),
        error text,
        event jsonb,
        raw text NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        forwarded_at timestamptz,
        forward_outcome text
      );
      CREATE UNIQUE INDEX hl7_message_accepted_once ON hl7_message (trust_ods, control_id) WHERE status = 'accepted';
      CREATE INDEX hl7_message_by_control_id ON hl7_message (trust_ods, control_id);
      CREATE INDEX hl7_message_by_received ON hl7_message (trust_ods, received_at);

      CREATE TABLE patient (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        nhs_number text NOT NULL UNIQUE,
        birth_date date,
        sex text CHECK (sex IN ('M', 'F', 'U')),
        postcode text,
        mobile text,
        mobile_status text NOT NULL DEFAULT 'none' CHECK (mobile_status IN ('valid', 'invalid', 'none')),
        sms_stopped boolean NOT NULL DEFAULT false,
        help_sent_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX patient_by_mobile ON patient (mobile);

      CREATE TABLE waiting_list_entry (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        trust_ods text NOT NULL,
        pathway_id text NOT NULL,
        patient_id uuid NOT NULL REFERENCES patient (id),
        tfc text NOT NULL,
        appointment_type text NOT NULL CHECK (appointment_type IN ('NEW', 'FUP')),
        priority text NOT NULL CHECK (priority IN ('P1a', 'P1b', 'P2', 'P3', 'P4')),
        priority_rank smallint NOT NULL,
        rtt_start date NOT NULL,
        breach_date date NOT NULL,
        current_appointment_start timestamptz,
        current_appointment_id text,
        offer_consent boolean NOT NULL DEFAULT false,
        ics_wide_consent boolean NOT NULL DEFAULT false,
        any_site boolean NOT NULL DEFAULT false,
        acceptable_sites text[] NOT NULL DEFAULT '{}',
        max_travel_km numeric,
        unavailable jsonb NOT NULL DEFAULT '[]',
        status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paused', 'booked', 'closed')),
        close_pending boolean NOT NULL DEFAULT false,
        last_snapshot_id uuid,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (trust_ods, pathway_id)
      );
      -- Candidate selection walks this index in ranking order (priority, breach, clock start, id).
      CREATE INDEX waiting_list_entry_candidates ON waiting_list_entry
        (tfc, appointment_type, priority_rank, breach_date, rtt_start, id)
        WHERE status = 'open' AND offer_consent;
      CREATE INDEX waiting_list_entry_by_patient ON waiting_list_entry (patient_id);

      CREATE TABLE slot (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        trust_ods text NOT NULL,
        site_ods text NOT NULL,
        clinic_code text NOT NULL,
        tfc text NOT NULL,
        appointment_type text NOT NULL CHECK (appointment_type IN ('NEW', 'FUP')),
        start_at timestamptz NOT NULL,
        duration_minutes integer NOT NULL,
        clinician_id text,
        filler_appointment_id text NOT NULL,
        placer_appointment_id text,
        source_event_id text NOT NULL UNIQUE,
        constraints jsonb,
        status text NOT NULL CHECK (status IN ('too_late', 'open', 'offering', 'booked', 'unfilled', 'withdrawn')),
        closed_reason text,
        cutoff_at timestamptz NOT NULL,
        match_round integer NOT NULL DEFAULT 0,
        released_at timestamptz NOT NULL DEFAULT now(),
        closed_at timestamptz
      );
      -- One active freed slot per PAS appointment, however often the cancellation is resent.
      CREATE UNIQUE INDEX slot_active_per_appointment ON slot (trust_ods, filler_appointment_id)
        WHERE status IN ('open', 'offering', 'booked');
      CREATE INDEX slot_by_status ON slot (status, cutoff_at);
      CREATE INDEX slot_by_released ON slot (released_at);

      CREATE TABLE offer_wave (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        slot_id uuid NOT NULL REFERENCES slot (id),
        round integer NOT NULL,
        status text NOT NULL CHECK (status IN ('live', 'ended')),
        policy_version integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        send_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        ended_at timestamptz,
        ended_reason text,
        UNIQUE (slot_id, round)
      );

      CREATE TABLE offer (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        slot_id uuid NOT NULL REFERENCES slot (id),
        wave_id uuid NOT NULL REFERENCES offer_wave (id),
        entry_id uuid NOT NULL REFERENCES waiting_list_entry (id),
        patient_id uuid NOT NULL REFERENCES patient (id),
        rank integer NOT NULL,
        explanation jsonb NOT NULL,
        policy_version integer NOT NULL,
        code text NOT NULL,
        token text NOT NULL UNIQUE,
        status text NOT NULL CHECK (status IN ('live', 'accepted', 'declined', 'expired', 'superseded', 'withdrawn', 'undeliverable')),
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        responded_at timestamptz,
        ended_at timestamptz,
        UNIQUE (slot_id, entry_id)
      );
      CREATE UNIQUE INDEX offer_one_live_per_patient ON offer (patient_id) WHERE status = 'live';
      CREATE INDEX offer_by_patient ON offer (patient_id, created_at DESC);
      CREATE INDEX offer_by_wave ON offer (wave_id);

      CREATE TABLE booking (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        slot_id uuid NOT NULL REFERENCES slot (id),
        offer_id uuid NOT NULL UNIQUE REFERENCES offer (id),
        entry_id uuid NOT NULL REFERENCES waiting_list_entry (id),
        patient_id uuid NOT NULL REFERENCES patient (id),
        status text NOT NULL CHECK (status IN ('pending', 'confirmed', 'failed')),
        owning_trust_ods text NOT NULL,
        home_trust_ods text NOT NULL,
        pas_appointment_id text,
        previous_appointment_id text,
        previous_appointment_start timestamptz,
        needs_attention text,
        failure_reason text,
        created_at timestamptz NOT NULL DEFAULT now(),
        confirmed_at timestamptz,
        failed_at timestamptz
      );
      CREATE UNIQUE INDEX booking_one_per_slot ON booking (slot_id) WHERE status <> 'failed';
      CREATE UNIQUE INDEX booking_one_per_entry ON booking (entry_id) WHERE status <> 'failed';

      CREATE TABLE writeback (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        booking_id uuid NOT NULL REFERENCES booking (id),
        trust_ods text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('book', 'cancel')),
        status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
        pas_appointment_id text,
        attempts integer NOT NULL DEFAULT 0,
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        completed_at timestamptz,
        UNIQUE (booking_id, kind)
      );

      CREATE TABLE sms_message (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        patient_id uuid NOT NULL REFERENCES patient (id),
        offer_id uuid REFERENCES offer (id),
        kind text NOT NULL,
        personalisation jsonb NOT NULL,
        dedupe_key text UNIQUE,
        status text NOT NULL CHECK (status IN ('queued', 'sent', 'delivered', 'failed', 'skipped')),
        notify_id text,
        error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        sent_at timestamptz,
        status_at timestamptz
      );
      CREATE INDEX sms_message_by_notify_id ON sms_message (notify_id);

      CREATE TABLE patient_reply (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        channel text NOT NULL CHECK (channel IN ('sms', 'web')),
        external_id text NOT NULL,
        patient_id uuid REFERENCES patient (id),
        offer_id uuid REFERENCES offer (id),
        intent text NOT NULL,
        code text,
        received_at timestamptz NOT NULL DEFAULT now(),
        processed_at timestamptz,
        outcome text
      );
      CREATE UNIQUE INDEX patient_reply_external_once ON patient_reply (channel, external_id);

      CREATE TABLE ptl_import (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        trust_ods text NOT NULL,
        mode text NOT NULL CHECK (mode IN ('delta', 'snapshot')),
        status text NOT NULL CHECK (status IN ('running', 'completed', 'abandoned')),
        started_at timestamptz NOT NULL DEFAULT now(),
        completed_at timestamptz,
        closed integer NOT NULL DEFAULT 0,
        deferred integer NOT NULL DEFAULT 0
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE IF EXISTS ptl_import, patient_reply, sms_message, writeback, booking, offer, offer_wave, slot,
        waiting_list_entry, patient, hl7_message, outbox CASCADE;
    `);
  }
}
