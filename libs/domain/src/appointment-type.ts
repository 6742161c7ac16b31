/**
 * Outpatient appointment type: a new referral or a follow-up. A freed slot can only go to a
 * patient waiting for the same kind, because clinics book different lengths and staff for each.
 */
export type AppointmentType = 'NEW' | 'FUP';

export const APPOINTMENT_TYPES: readonly AppointmentType[] = Object.freeze(['NEW', 'FUP'] as const);

export function isAppointmentType(s: string): s is AppointmentType {
  return s === 'NEW' || s === 'FUP';
}
