/**
 * Four in-memory PASs: FHIR R4 Appointment resources per trust, with the lookups a PAS offers
 * (by id, by identifier, by patient). Cancelling an appointment, by FHIR update or through the
 * sandbox endpoint, makes the PAS send its own SIU^S15 — which is how a booking's cancelled old
 * appointment re-enters matching (the chain).
 */
import { Injectable } from '@nestjs/common';
import { NHS_NUMBER_SYSTEM, ODS_SITE_SYSTEM } from '@app/contracts';
import { randomUUID } from 'node:crypto';

export type Appointment = fhir4.Appointment & { id: string };

export function participantValue(a: fhir4.Appointment, system: string): string | undefined {
  return a.participant?.find((p) => p.actor?.identifier?.system === system)?.actor?.identifier?.value;
}

export const patientOf = (a: fhir4.Appointment) => participantValue(a, NHS_NUMBER_SYSTEM);
export const siteOf = (a: fhir4.Appointment) => participantValue(a, ODS_SITE_SYSTEM);
export const clinicOf = (a: fhir4.Appointment) => a.serviceType?.[0]?.coding?.[0]?.code;

/** What a PAS refuses: each problem named, as an OperationOutcome would. */
export function appointmentProblems(a: unknown): string[] {
  const r = a as fhir4.Appointment;
  const problems: string[] = [];
  if (!r || typeof r !== 'object' || r.resourceType !== 'Appointment') return ['resourceType must be Appointment'];
  const statuses = ['proposed', 'pending', 'booked', 'arrived', 'fulfilled', 'cancelled', 'noshow', 'entered-in-error', 'checked-in', 'waitlist'];
  if (!statuses.includes(r.status)) problems.push(`status must be one of ${statuses.join(', ')}`);
  if (!r.start || Number.isNaN(Date.parse(r.start))) problems.push('start must be an instant');
  if (r.end && Number.isNaN(Date.parse(r.end))) problems.push('end must be an instant');
  if (!Array.isArray(r.participant) || !patientOf(r)) problems.push(`participant must include the patient by ${NHS_NUMBER_SYSTEM}`);
  return problems;
}

@Injectable()
export class AppointmentStore {
  private readonly byTrust = new Map<string, Map<string, Appointment>>();

  constructor() {}

  trust(ods: string): Map<string, Appointment> {
    let m = this.byTrust.get(ods);
    if (!m) this.byTrust.set(ods, (m = new Map()));
    return m;
  }

  create(ods: string, resource: fhir4.Appointment): Appointment {
    const id = randomUUID();
    const a: Appointment = { ...resource, id, meta: { versionId: '1', lastUpdated: new Date().toISOString() } };
    this.trust(ods).set(id, a);
    return a;
  }

  get(ods: string, id: string): Appointment | undefined {
    return this.trust(ods).get(id);
  }

  update(ods: string, id: string, resource: fhir4.Appointment): Appointment {
    const prev = this.trust(ods).get(id);
    const version = Number(prev?.meta?.versionId ?? '0') + 1;
    const a: Appointment = { ...resource, id, meta: { versionId: String(version), lastUpdated: new Date().toISOString() } };
    this.trust(ods).set(id, a);
    return a;
  }

  byIdentifier(ods: string, system: string, value: string): Appointment[] {
    return [...this.trust(ods).values()].filter((a) => a.identifier?.some((i) => (!system || i.system === system) && i.value === value));
  }

  byPatient(ods: string, system: string, value: string): Appointment[] {
    return [...this.trust(ods).values()].filter((a) => a.participant?.some((p) => (!system || p.actor?.identifier?.system === system) && p.actor?.identifier?.value === value));
  }

  all(ods: string): Appointment[] {
    return [...this.trust(ods).values()];
  }
}
