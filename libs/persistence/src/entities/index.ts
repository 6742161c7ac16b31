/**
 * TypeORM entities mirroring the migrations. The schema is owned by the migrations (never
 * `synchronize`); these give typed reads and simple writes. Hot paths use SQL directly.
 */
import { Column, CreateDateColumn, Entity, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';

const ts = { type: 'timestamptz' as const, nullable: true };

@Entity('outbox')
export class OutboxRow {
  @PrimaryGeneratedColumn({ type: 'bigint' }) id: string;
  @Column('text') queue: string;
  @Column('text', { name: 'job_name' }) jobName: string;
  @Column('text', { name: 'job_id' }) jobId: string;
  @Column('jsonb') payload: Record<string, unknown>;
  @Column('timestamptz', { name: 'run_at', default: () => 'now()' }) runAt: Date;
  @CreateDateColumn({ type: 'timestamptz', name: 'created_at' }) createdAt: Date;
  @Column({ ...ts, name: 'published_at' }) publishedAt: Date | null;
}

@Entity('hl7_message')
export class Hl7MessageRow {
  @PrimaryColumn('uuid', { default: () => 'gen_random_uuid()' }) id: string;
  @Column('text', { name: 'trust_ods' }) trustOds: string;
  @Column('text', { name: 'control_id' }) controlId: string;
  @Column('text', { name: 'message_type', nullable: true }) messageType: string | null;
  @Column('text') status: 'accepted' | 'refused';
  @Column('text', { name: 'ack_code' }) ackCode: 'AA' | 'AE' | 'AR';
  @Column('text', { nullable: true }) error: string | null;
  @Column('jsonb', { nullable: true }) event: Record<string, unknown> | null;
  @Column('text') raw: string;
  @Column('timestamptz', { name: 'received_at', default: () => 'now()' }) receivedAt: Date;
  @Column({ ...ts, name: 'forwarded_at' }) forwardedAt: Date | null;
  @Column('text', { name: 'forward_outcome', nullable: true }) forwardOutcome: string | null;
  @Column({ ...ts, name: 'replayed_at' }) replayedAt: Date | null;
  @Column('text', { name: 'replay_outcome', nullable: true }) replayOutcome: string | null;
  /** Only for a message over the size limit: the bytes that arrived, of which `raw` is the head. */
  @Column('integer', { name: 'received_bytes', nullable: true }) receivedBytes: number | null;
}

@Entity('patient')
export class PatientRow {
  @PrimaryColumn('uuid', { default: () => 'gen_random_uuid()' }) id: string;
  @Column('text', { name: 'nhs_number', unique: true }) nhsNumber: string;
  @Column('date', { name: 'birth_date', nullable: true }) birthDate: string | null;
  @Column('text', { nullable: true }) sex: 'M' | 'F' | 'U' | null;
  @Column('text', { nullable: true }) postcode: string | null;
  @Column('text', { nullable: true }) mobile: string | null;
  @Column('text', { name: 'mobile_status', default: 'none' }) mobileStatus: 'valid' | 'invalid' | 'none';
  @Column('boolean', { name: 'sms_stopped', default: false }) smsStopped: boolean;
  @Column({ ...ts, name: 'help_sent_at' }) helpSentAt: Date | null;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt: Date;
  @Column('timestamptz', { name: 'updated_at', default: () => 'now()' }) updatedAt: Date;
}

@Entity('waiting_list_entry')
export class WaitingListEntryRow {
  @PrimaryColumn('uuid', { default: () => 'gen_random_uuid()' }) id: string;
  @Column('text', { name: 'trust_ods' }) trustOds: string;
  @Column('text', { name: 'pathway_id' }) pathwayId: string;
  @Column('uuid', { name: 'patient_id' }) patientId: string;
  @Column('text') tfc: string;
  @Column('text', { name: 'appointment_type' }) appointmentType: 'NEW' | 'FUP';
  @Column('text') priority: 'P1a' | 'P1b' | 'P2' | 'P3' | 'P4';
  @Column('smallint', { name: 'priority_rank' }) priorityRank: number;
  @Column('date', { name: 'rtt_start' }) rttStart: string;
  @Column('date', { name: 'breach_date' }) breachDate: string;
  @Column({ ...ts, name: 'current_appointment_start' }) currentAppointmentStart: Date | null;
  @Column('text', { name: 'current_appointment_id', nullable: true }) currentAppointmentId: string | null;
  @Column('boolean', { name: 'offer_consent', default: false }) offerConsent: boolean;
  @Column('boolean', { name: 'ics_wide_consent', default: false }) icsWideConsent: boolean;
  @Column('boolean', { name: 'any_site', default: false }) anySite: boolean;
  @Column('text', { name: 'acceptable_sites', array: true, default: '{}' }) acceptableSites: string[];
  @Column('numeric', { name: 'max_travel_km', nullable: true }) maxTravelKm: string | null;
  @Column('jsonb', { default: '[]' }) unavailable: Array<{ from: string; to: string }>;
  /** Set when the patient states the dates they cannot make on the offer page; the PTL then leaves `unavailable` be. */
  @Column({ ...ts, name: 'preferences_stated_at' }) preferencesStatedAt: Date | null;
  /** Set when the patient chooses sites on the offer page; the PTL then leaves `any_site` and `acceptable_sites` be. */
  @Column({ ...ts, name: 'sites_stated_at' }) sitesStatedAt: Date | null;
  @Column('text', { default: 'open' }) status: 'open' | 'paused' | 'booked' | 'closed';
  @Column('boolean', { name: 'close_pending', default: false }) closePending: boolean;
  @Column('uuid', { name: 'last_snapshot_id', nullable: true }) lastSnapshotId: string | null;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt: Date;
  @Column('timestamptz', { name: 'updated_at', default: () => 'now()' }) updatedAt: Date;
}

export type SlotStatus = 'too_late' | 'open' | 'offering' | 'booked' | 'unfilled' | 'withdrawn';

@Entity('slot')
export class SlotRow {
  @PrimaryColumn('uuid', { default: () => 'gen_random_uuid()' }) id: string;
  @Column('text', { name: 'trust_ods' }) trustOds: string;
  @Column('text', { name: 'site_ods' }) siteOds: string;
  @Column('text', { name: 'clinic_code' }) clinicCode: string;
  @Column('text') tfc: string;
  @Column('text', { name: 'appointment_type' }) appointmentType: 'NEW' | 'FUP';
  @Column('timestamptz', { name: 'start_at' }) startAt: Date;
  @Column('integer', { name: 'duration_minutes' }) durationMinutes: number;
  @Column('text', { name: 'clinician_id', nullable: true }) clinicianId: string | null;
  @Column('text', { name: 'filler_appointment_id' }) fillerAppointmentId: string;
  @Column('text', { name: 'placer_appointment_id', nullable: true }) placerAppointmentId: string | null;
  @Column('text', { name: 'source_event_id', unique: true }) sourceEventId: string;
  @Column('jsonb', { nullable: true }) constraints: Record<string, unknown> | null;
  /** W3C traceparent the slot was released under (see migration 1764400009000). */
  @Column('text', { name: 'trace_context', nullable: true }) traceContext: string | null;
  @Column('text') status: SlotStatus;
  @Column('text', { name: 'closed_reason', nullable: true }) closedReason: string | null;
  @Column('timestamptz', { name: 'cutoff_at' }) cutoffAt: Date;
  @Column('integer', { name: 'match_round', default: 0 }) matchRound: number;
  @Column('timestamptz', { name: 'released_at', default: () => 'now()' }) releasedAt: Date;
  @Column({ ...ts, name: 'closed_at' }) closedAt: Date | null;
  /** When the PAS deleted this slot (SIU^S17) after a patient claimed it: never to be reopened. */
  @Column({ ...ts, name: 'pas_deleted_at' }) pasDeletedAt: Date | null;
}

@Entity('offer_wave')
export class OfferWaveRow {
  @PrimaryColumn('uuid', { default: () => 'gen_random_uuid()' }) id: string;
  @Column('uuid', { name: 'slot_id' }) slotId: string;
  @Column('integer') round: number;
  @Column('text') status: 'live' | 'ended';
  @Column('integer', { name: 'policy_version' }) policyVersion: number;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt: Date;
  @Column('timestamptz', { name: 'send_at' }) sendAt: Date;
  @Column('timestamptz', { name: 'expires_at' }) expiresAt: Date;
  @Column({ ...ts, name: 'ended_at' }) endedAt: Date | null;
  @Column('text', { name: 'ended_reason', nullable: true }) endedReason: string | null;
}

export type OfferRowStatus = 'live' | 'accepted' | 'declined' | 'expired' | 'superseded' | 'withdrawn' | 'undeliverable';

@Entity('offer')
export class OfferRow {
  @PrimaryColumn('uuid', { default: () => 'gen_random_uuid()' }) id: string;
  @Column('uuid', { name: 'slot_id' }) slotId: string;
  @Column('uuid', { name: 'wave_id' }) waveId: string;
  @Column('uuid', { name: 'entry_id' }) entryId: string;
  @Column('uuid', { name: 'patient_id' }) patientId: string;
  @Column('integer') rank: number;
  @Column('jsonb') explanation: Record<string, unknown>;
  @Column('integer', { name: 'policy_version' }) policyVersion: number;
  @Column('text') code: string;
  @Column('text', { unique: true }) token: string;
  @Column('text') status: OfferRowStatus;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt: Date;
  @Column('timestamptz', { name: 'expires_at' }) expiresAt: Date;
  @Column({ ...ts, name: 'responded_at' }) respondedAt: Date | null;
  @Column({ ...ts, name: 'ended_at' }) endedAt: Date | null;
}

@Entity('booking')
export class BookingRow {
  @PrimaryColumn('uuid', { default: () => 'gen_random_uuid()' }) id: string;
  @Column('uuid', { name: 'slot_id' }) slotId: string;
  @Column('uuid', { name: 'offer_id', unique: true }) offerId: string;
  @Column('uuid', { name: 'entry_id' }) entryId: string;
  @Column('uuid', { name: 'patient_id' }) patientId: string;
  @Column('text') status: 'pending' | 'confirmed' | 'failed';
  @Column('text', { name: 'owning_trust_ods' }) owningTrustOds: string;
  @Column('text', { name: 'home_trust_ods' }) homeTrustOds: string;
  @Column('text', { name: 'pas_appointment_id', nullable: true }) pasAppointmentId: string | null;
  @Column('text', { name: 'previous_appointment_id', nullable: true }) previousAppointmentId: string | null;
  @Column({ ...ts, name: 'previous_appointment_start' }) previousAppointmentStart: Date | null;
  @Column('text', { name: 'needs_attention', nullable: true }) needsAttention: string | null;
  @Column('text', { name: 'failure_reason', nullable: true }) failureReason: string | null;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt: Date;
  @Column({ ...ts, name: 'confirmed_at' }) confirmedAt: Date | null;
  @Column({ ...ts, name: 'failed_at' }) failedAt: Date | null;
}

@Entity('writeback')
export class WritebackRow {
  @PrimaryColumn('uuid', { default: () => 'gen_random_uuid()' }) id: string;
  @Column('uuid', { name: 'booking_id' }) bookingId: string;
  @Column('text', { name: 'trust_ods' }) trustOds: string;
  @Column('text') kind: 'book' | 'cancel';
  @Column('text') status: 'pending' | 'succeeded' | 'failed';
  @Column('text', { name: 'pas_appointment_id', nullable: true }) pasAppointmentId: string | null;
  @Column('integer', { default: 0 }) attempts: number;
  @Column('text', { name: 'last_error', nullable: true }) lastError: string | null;
  /** A `book` the PAS may hold although it never said so: failing it must not reopen the slot. */
  @Column('boolean', { name: 'pas_may_hold', default: false }) pasMayHold: boolean;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt: Date;
  @Column({ ...ts, name: 'completed_at' }) completedAt: Date | null;
  /** A failed `cancel` listed for a person as double-held (`booking_failure`): the reconciler no longer looks at it. */
  @Column({ ...ts, name: 'listed_at' }) listedAt: Date | null;
}

@Entity('sms_message')
export class SmsMessageRow {
  @PrimaryColumn('uuid', { default: () => 'gen_random_uuid()' }) id: string;
  @Column('uuid', { name: 'patient_id' }) patientId: string;
  @Column('uuid', { name: 'offer_id', nullable: true }) offerId: string | null;
  @Column('text') kind: string;
  @Column('jsonb') personalisation: Record<string, string>;
  @Column('text', { name: 'dedupe_key', nullable: true, unique: true }) dedupeKey: string | null;
  @Column('text') status: 'queued' | 'sent' | 'delivered' | 'failed' | 'skipped';
  @Column('text', { name: 'notify_id', nullable: true }) notifyId: string | null;
  @Column('text', { nullable: true }) error: string | null;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt: Date;
  @Column({ ...ts, name: 'sent_at' }) sentAt: Date | null;
  @Column({ ...ts, name: 'status_at' }) statusAt: Date | null;
  /** When a send to Notify last began (committed before it went): Notify may hold the text from then on. */
  @Column({ ...ts, name: 'send_started_at' }) sendStartedAt: Date | null;
  /** Times sent again after a Notify `technical-failure`. */
  @Column('integer', { default: 0 }) resends: number;
  /** The queue priority its send was first ordered with (offer texts), for a send ordered again. */
  @Column('integer', { nullable: true }) priority: number | null;
}

@Entity('patient_reply')
export class PatientReplyRow {
  @PrimaryColumn('uuid', { default: () => 'gen_random_uuid()' }) id: string;
  @Column('text') channel: 'sms' | 'web';
  @Column('text', { name: 'external_id' }) externalId: string;
  /** The one patient a reply names (the offer page's); null for a text, which is its number's. */
  @Column('uuid', { name: 'patient_id', nullable: true }) patientId: string | null;
  /** The number a text came from: it speaks for every patient with that number (see `storeReceivedTexts`). */
  @Column('text', { nullable: true }) mobile: string | null;
  @Column('uuid', { name: 'offer_id', nullable: true }) offerId: string | null;
  @Column('text') intent: string;
  @Column('text', { nullable: true }) code: string | null;
  @Column('timestamptz', { name: 'received_at', default: () => 'now()' }) receivedAt: Date;
  @Column({ ...ts, name: 'processed_at' }) processedAt: Date | null;
  @Column('text', { nullable: true }) outcome: string | null;
}

@Entity('ptl_import')
export class PtlImportRow {
  @PrimaryColumn('uuid', { default: () => 'gen_random_uuid()' }) id: string;
  @Column('text', { name: 'trust_ods' }) trustOds: string;
  @Column('text') mode: 'delta' | 'snapshot';
  @Column('text') status: 'running' | 'completed' | 'abandoned';
  @Column('timestamptz', { name: 'started_at', default: () => 'now()' }) startedAt: Date;
  @Column({ ...ts, name: 'completed_at' }) completedAt: Date | null;
  @Column('integer', { default: 0 }) closed: number;
  @Column('integer', { default: 0 }) deferred: number;
  /** A snapshot's data rows and rejected rows (null for records before these were kept). */
  @Column('integer', { nullable: true }) rows: number | null;
  @Column('integer', { nullable: true }) rejected: number | null;
  /** Why the snapshot closed nothing, when it withheld closing (too many rows rejected, a broken CSV). */
  @Column('text', { name: 'closing_withheld', nullable: true }) closingWithheld: string | null;
  /** When the snapshot was last heard from (started, a batch applied): one idle too long may be abandoned. */
  @Column('timestamptz', { name: 'active_at', default: () => 'now()' }) activeAt: Date;
}

export const ENTITIES = [
  OutboxRow, Hl7MessageRow, PatientRow, WaitingListEntryRow, SlotRow, OfferWaveRow, OfferRow, BookingRow, WritebackRow,
  SmsMessageRow, PatientReplyRow, PtlImportRow,
];
