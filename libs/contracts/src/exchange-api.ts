import 'reflect-metadata';
/**
 * HTTP contract between a trust adapter and the slot exchange (`/v1/trusts/:ods/...`). Every
 * route is scoped to the trust whose token is presented.
 */
import { Type } from 'class-transformer';
import {
  ArrayMaxSize, ArrayMinSize, IsArray, IsBoolean, IsDateString, IsIn, IsInt, IsNumber, IsOptional, IsString, Length, Matches, Max, Min, ValidateNested,
} from 'class-validator';

export type SlotEventKind = 'slot-released' | 'slot-withdrawn' | 'appointment-booked' | 'appointment-moved' | 'no-show';
export const SLOT_EVENT_KINDS: SlotEventKind[] = ['slot-released', 'slot-withdrawn', 'appointment-booked', 'appointment-moved', 'no-show'];

export class ClinicConstraintsDto {
  @IsOptional() @IsInt() @Min(0) @Max(130) minAgeYears?: number;
  @IsOptional() @IsInt() @Min(0) @Max(130) maxAgeYears?: number;
  @IsOptional() @IsIn(['M', 'F']) sex?: 'M' | 'F';
}

/** A canonical scheduling event, mapped by the adapter from one accepted SIU message. */
export class SlotEventDto {
  /** The adapter's id of the stored inbound message: the exchange processes each id once. */
  @IsString() @Length(1, 64) eventId: string;
  @IsIn(SLOT_EVENT_KINDS) kind: SlotEventKind;
  @IsString() @Length(1, 64) controlId: string;
  @IsString() @Matches(/^[A-Z0-9]{5}$/) siteOds: string;
  @IsString() @Length(1, 64) clinicCode: string;
  @IsString() @Matches(/^\d{3}$/) tfc: string;
  @IsIn(['NEW', 'FUP']) appointmentType: 'NEW' | 'FUP';
  @IsDateString() start: string;
  @IsInt() @Min(1) @Max(24 * 60) durationMinutes: number;
  @IsString() @Length(1, 64) fillerAppointmentId: string;
  @IsOptional() @IsString() @Length(1, 64) placerAppointmentId?: string;
  @IsOptional() @IsString() @Length(1, 64) clinicianId?: string;
  @IsOptional() @IsString() @Matches(/^\d{10}$/) patientNhsNumber?: string;
  @IsOptional() @IsString() @Length(0, 80) eventReason?: string;
  @IsOptional() @ValidateNested() @Type(() => ClinicConstraintsDto) constraints?: ClinicConstraintsDto;
}

/** Most events in one `POST /events/batch`. */
export const SLOT_EVENT_BATCH_MAX = 200;

/** One event of a batch, with the W3C `traceparent` of the message it came from (one freed slot stays one trace). */
export class SlotEventBatchItemDto extends SlotEventDto {
  @IsOptional() @IsString() @Matches(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/) traceparent?: string;
}

/**
 * Several events from one adapter's forward worker in one request (internal to the ICS): applied
 * in order, in one transaction, each once per event id as `POST /events` would.
 */
export class SlotEventBatchDto {
  @IsArray() @ArrayMinSize(1) @ArrayMaxSize(SLOT_EVENT_BATCH_MAX) @ValidateNested({ each: true }) @Type(() => SlotEventBatchItemDto)
  events: SlotEventBatchItemDto[];
}

/** An event of a batch that the exchange refused on its own (e.g. a site of another trust), as `POST /events` would answer 4xx. */
export interface SlotEventRefusal {
  eventId: string;
  refused: { status: number; error: string; message: string };
}

/** One answer per event, in the batch's order. */
export interface SlotEventBatchResult {
  results: Array<SlotEventResult | SlotEventRefusal>;
}

/**
 * What the exchange did with one event: `withdrawn` a freed slot closed (S17, or S12 re-booking it
 * in the PAS); `appointment-updated` patients' current appointments filled or moved (S12/S13/S14);
 * `echo` our own write-back coming back, recognised and not acted on again; `recorded` kept only
 * (a no-show, or nothing of ours was affected).
 */
export interface SlotEventResult {
  eventId: string;
  outcome: 'slot-created' | 'too-late' | 'duplicate' | 'recorded' | 'ignored' | 'withdrawn' | 'appointment-updated' | 'echo';
  slotId?: string;
  /** Waiting-list entries whose current appointment this event changed. */
  entriesUpdated?: number;
}

export class UnavailablePeriodDto {
  @IsDateString() from: string;
  @IsDateString() to: string;
}

/** One validated PTL row, as the adapter parsed it. */
export class WaitingListRowDto {
  @IsInt() @Min(1) rowNumber: number;
  @IsString() @Length(1, 64) pathwayId: string;
  @IsString() @Matches(/^\d{10}$/) nhsNumber: string;
  @IsDateString() birthDate: string;
  @IsString() @Matches(/^\d{3}$/) tfc: string;
  @IsIn(['NEW', 'FUP']) appointmentType: 'NEW' | 'FUP';
  @IsDateString() rttStart: string;
  @IsIn(['P1a', 'P1b', 'P2', 'P3', 'P4']) priority: 'P1a' | 'P1b' | 'P2' | 'P3' | 'P4';
  @IsOptional() @IsString() @Matches(/^\+447\d{9}$/) mobile?: string | null;
  @IsOptional() @IsString() @Length(0, 10) postcode?: string | null;
  @IsOptional() @IsIn(['M', 'F', 'U']) sex?: 'M' | 'F' | 'U' | null;
  @IsOptional() @IsDateString() currentAppointmentStart?: string | null;
  @IsOptional() @IsString() @Length(1, 64) currentAppointmentId?: string | null;
  @IsBoolean() offerConsent: boolean;
  @IsBoolean() icsWideConsent: boolean;
  /** `['ANY']` or site ODS codes. */
  @IsArray() @ArrayMaxSize(50) @IsString({ each: true }) acceptableSites: string[];
  @IsOptional() @IsNumber() @Min(0) maxTravelKm?: number | null;
  @IsArray() @ArrayMaxSize(50) @ValidateNested({ each: true }) @Type(() => UnavailablePeriodDto) unavailable: UnavailablePeriodDto[];
}

export class WaitingListBatchDto {
  @IsIn(['delta', 'snapshot']) mode: 'delta' | 'snapshot';
  /** For snapshots: the import this batch belongs to (from `POST .../waiting-list/snapshots`). */
  @IsOptional() @IsString() snapshotId?: string;
  @IsArray() @ArrayMaxSize(5000) @ValidateNested({ each: true }) @Type(() => WaitingListRowDto) rows: WaitingListRowDto[];
}

export interface WaitingListBatchResult {
  applied: number;
}

export interface SnapshotResult {
  snapshotId: string;
  closed: number;
  deferred: number;
}

export type WritebackKind = 'book' | 'cancel';

/** What the adapter needs to write one booking or cancellation to its PAS. */
export interface WritebackOrder {
  id: string;
  kind: WritebackKind;
  trustOds: string;
  bookingId: string;
  attempt: number;
  status: 'pending' | 'succeeded' | 'failed';
  /** For `book`: the slot being booked. For `cancel`: the patient's old appointment. */
  appointment: {
    start: string;
    durationMinutes: number | null;
    clinicCode: string | null;
    siteOds: string | null;
    clinicianId: string | null;
    pasAppointmentId: string | null;
  };
  patient: { nhsNumber: string };
}

export class WritebackOutcomeDto {
  @IsIn(['succeeded', 'failed']) outcome: 'succeeded' | 'failed';
  /** The PAS's id of the appointment booked (for `book`). */
  @IsOptional() @IsString() @Length(1, 128) pasAppointmentId?: string;
  /** A failure that retrying will not fix (e.g. the PAS refused the booking). */
  @IsOptional() @IsBoolean() permanent?: boolean;
  @IsOptional() @IsString() @Length(0, 500) reason?: string;
}

/** `GET /v1/trusts/:ods/transfers`: paging through the IPT records of which `:ods` is the receiver. */
export class TransferListQueryDto {
  /** Only records created after this instant (the last `createdAt` seen). */
  @IsOptional() @IsDateString() since?: string;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000) limit?: number;
}

/** An inter-provider transfer: the pathway a patient brings to the receiving trust. */
export interface TransferRecord {
  id: string;
  bookingId: string;
  sendingTrustOds: string;
  receivingTrustOds: string;
  /** The sending trust's pathway id (PATIENT_PATHWAY_IDENTIFIER), specialty and appointment type. */
  referral: { pathwayId: string; tfc: string; appointmentType: 'NEW' | 'FUP' };
  priority: 'P1a' | 'P1b' | 'P2' | 'P3' | 'P4';
  /** RTT clock start carried over from the sending trust (`YYYY-MM-DD`): the wait does not restart. */
  rttStart: string;
  /** The booked appointment in the receiving trust's PAS. */
  appointment: { start: string; pasAppointmentId: string };
  patient: { nhsNumber: string };
  createdAt: string;
}
