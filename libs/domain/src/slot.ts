/**
 * A freed outpatient slot: an appointment a trust has released (cancellation, DNA, reschedule)
 * that the exchange may offer ICS-wide until its notice cut-off.
 */
import { AppointmentType } from './appointment-type';

/** Clinic restrictions from the trust's clinic mapping; ages are inclusive, in completed years on the slot date. */
export interface ClinicConstraints {
  minAgeYears?: number;
  maxAgeYears?: number;
  sex?: 'M' | 'F';
}

export interface FreedSlot {
  slotId: string;
  /** The trust that owns the slot, and whose PAS the booking is written to. */
  trustOds: string;
  siteOds: string;
  tfc: string;
  appointmentType: AppointmentType;
  start: Date;
  durationMinutes: number;
  constraints?: ClinicConstraints;
}
