/**
 * The waiting-list entry as the matcher sees it: one RTT pathway on a trust's PTL, joined with the
 * patient's contact preferences and consents. Plain data; persistence maps its rows onto it.
 */
import { AppointmentType } from './appointment-type';
import { Priority } from './priority';

/** Sex as recorded for sex-specific clinics; U is known-but-unspecified, null not recorded. */
export type Sex = 'M' | 'F' | 'U';

/**
 * Dates the patient cannot attend, inclusive at both ends. `from` and `to` are calendar dates
 * carried as UTC midnight; the period covers the whole of the `to` day.
 */
export interface UnavailablePeriod {
  from: Date;
  to: Date;
}

export type WaitingListStatus = 'open' | 'paused' | 'booked' | 'closed';

export interface Candidate {
  entryId: string;
  patientId: string;
  /** The trust whose PTL holds the pathway (the patient's home trust). */
  trustOds: string;
  tfc: string;
  appointmentType: AppointmentType;
  priority: Priority;
  rttStart: Date;
  breachDate: Date;
  birthDate: Date;
  sex: Sex | null;
  /** The appointment the patient already holds for this pathway, if any. */
  currentAppointmentStart: Date | null;
  /** May be sent short-notice offers at all. */
  offerConsent: boolean;
  /** May be offered other trusts' slots. */
  icsWideConsent: boolean;
  /** Other trusts' sites the patient can reach: any, or these site ODS codes. */
  acceptableSites: 'ANY' | string[];
  maxTravelKm: number | null;
  unavailable: UnavailablePeriod[];
  status: WaitingListStatus;
  hasLiveOffer: boolean;
  mobileValid: boolean;
  /** The patient replied STOP. */
  smsStopped: boolean;
}
