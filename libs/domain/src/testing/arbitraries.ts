/**
 * fast-check arbitraries shared by the matching property tests: waiting lists where the same
 * person can be on two trusts' lists, and every eligibility rule fails now and then.
 */
import fc from 'fast-check';
import { breachDate, PRIORITIES } from '../priority';
import { Candidate } from '../waiting-list';
import { aCandidate, day } from './factories';

/** Usually `usual`, one time in nine one of `rare`. */
export const mostly = <T>(usual: T, ...rare: T[]) => fc.oneof({ weight: 8, arbitrary: fc.constant(usual) }, { weight: 1, arbitrary: fc.constantFrom(...rare) });

export const candidateArb = (i: number, patients = 12) =>
  fc.record({
    // Few patients, several pathways each: the same person can be on two trusts' lists.
    patient: fc.integer({ min: 0, max: patients }),
    trustOds: mostly('RQM', 'RYJ', 'RAS'),
    tfc: mostly('330', '130'),
    priority: fc.constantFrom(...PRIORITIES),
    weeks: fc.integer({ min: 0, max: 40 }),
    icsWideConsent: mostly(true, false),
    acceptableSites: fc.oneof(fc.constant('ANY' as const), fc.subarray(['RQM01', 'RYJ02'])),
    maxTravelKm: fc.option(fc.integer({ min: 1, max: 30 })),
    status: mostly('open' as const, 'paused' as const),
    offerConsent: mostly(true, false),
    smsStopped: mostly(false, true),
    sex: fc.constantFrom('M' as const, 'F' as const, null),
    currentAppointmentStart: fc.option(fc.date({ min: day('2026-11-24'), max: day('2027-02-01'), noInvalidDate: true })),
  }).map(({ patient, weeks, ...f }): Candidate => {
    const rttStart = new Date(day('2026-01-05').getTime() + weeks * 7 * 86_400_000);
    return aCandidate({ ...f, entryId: `e${String(i).padStart(3, '0')}`, patientId: `p${patient}`, rttStart, breachDate: breachDate(f.priority, rttStart) });
  });

/** Up to `max` pathways over `patients + 1` people. */
export const candidateListArb = (max: number, patients = 12) =>
  fc.integer({ min: 0, max }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => candidateArb(i, patients))));
