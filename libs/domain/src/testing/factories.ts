/**
 * Small factories for domain tests (and for other libraries' tests, via
 * `@app/domain/testing/factories`): a candidate who is eligible for the default slot unless told
 * otherwise, so each test states only what it is about. Not exported from the package index.
 */
import { breachDate, Priority } from '../priority';
import { DEFAULT_POLICY, MatchingPolicy } from '../policy';
import { EligibilityContext } from '../eligibility';
import { FreedSlot } from '../slot';
import { Candidate } from '../waiting-list';

/** The instant every test starts from unless it says otherwise: a Monday, GMT. */
export const T0 = new Date('2026-11-23T09:00:00Z');

export const day = (iso: string): Date => new Date(`${iso}T00:00:00Z`);

export function aSlot(over: Partial<FreedSlot> = {}): FreedSlot {
  return {
    slotId: 'slot-1',
    trustOds: 'RQM',
    siteOds: 'RQM01',
    tfc: '330',
    appointmentType: 'NEW',
    start: new Date('2026-11-26T10:00:00Z'),
    durationMinutes: 20,
    ...over,
  };
}

export function aCandidate(over: Partial<Candidate> = {}): Candidate {
  const priority: Priority = over.priority ?? 'P3';
  const rttStart = over.rttStart ?? day('2026-06-01');
  return {
    entryId: 'entry-1',
    patientId: 'patient-1',
    trustOds: 'RQM',
    tfc: '330',
    appointmentType: 'NEW',
    priority,
    rttStart,
    breachDate: breachDate(priority, rttStart),
    birthDate: day('1968-04-02'),
    sex: 'F',
    currentAppointmentStart: null,
    offerConsent: true,
    icsWideConsent: true,
    acceptableSites: 'ANY',
    maxTravelKm: null,
    unavailable: [],
    status: 'open',
    hasLiveOffer: false,
    mobileValid: true,
    smsStopped: false,
    ...over,
  };
}

export function aContext(over: Partial<EligibilityContext> = {}, policy: Partial<MatchingPolicy> = {}): EligibilityContext {
  return { now: T0, policy: { ...DEFAULT_POLICY, ...policy }, distanceKm: null, ...over };
}

