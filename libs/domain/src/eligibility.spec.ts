import { checkEligibility, IneligibleReason, INELIGIBLE_REASONS, isEligible } from './eligibility';
import { aCandidate, aContext, aSlot, day, T0 } from './testing/factories';
import { Candidate } from './waiting-list';
import { FreedSlot } from './slot';

const reasonsFor = (c: Candidate, slot: FreedSlot = aSlot(), ctx = aContext()): IneligibleReason[] => {
  const r = checkEligibility(c, slot, ctx);
  return r.eligible ? [] : r.reasons;
};

describe('checkEligibility', () => {
  it('finds the baseline candidate eligible for the baseline slot', () => {
    expect(checkEligibility(aCandidate(), aSlot(), aContext())).toEqual({ eligible: true });
    expect(isEligible(aCandidate(), aSlot(), aContext())).toBe(true);
  });

  describe('one broken rule gives exactly its reason', () => {
    it.each<[string, Partial<Candidate>, IneligibleReason]>([
      ['another specialty', { tfc: '130' }, 'tfc'],
      ['a follow-up waiting', { appointmentType: 'FUP' }, 'appointment-type'],
      ['a paused entry', { status: 'paused' }, 'not-open'],
      ['an entry already booked', { status: 'booked' }, 'not-open'],
      ['a closed entry', { status: 'closed' }, 'not-open'],
      ['a patient holding a live offer', { hasLiveOffer: true }, 'live-offer'],
      ['no consent to short-notice offers', { offerConsent: false }, 'no-consent'],
      ['no valid mobile', { mobileValid: false }, 'no-mobile'],
      ['a patient who replied STOP', { smsStopped: true }, 'sms-stopped'],
      ['an appointment already earlier than the slot', { currentAppointmentStart: new Date('2026-11-25T10:00:00Z') }, 'not-sooner'],
      ['unavailable on the slot day', { unavailable: [{ from: day('2026-11-26'), to: day('2026-11-26') }] }, 'unavailable'],
    ])('%s', (_what, over, reason) => {
      expect(reasonsFor(aCandidate(over))).toEqual([reason]);
    });
  });

  it('reports every failing rule, in a fixed order', () => {
    const c = aCandidate({
      tfc: '130',
      appointmentType: 'FUP',
      status: 'paused',
      hasLiveOffer: true,
      offerConsent: false,
      mobileValid: false,
      smsStopped: true,
      trustOds: 'RYJ',
      icsWideConsent: false,
      acceptableSites: ['RYJ01'],
      maxTravelKm: 5,
      currentAppointmentStart: new Date('2026-11-20T10:00:00Z'),
      unavailable: [{ from: day('2026-11-01'), to: day('2026-11-30') }],
      birthDate: day('2015-01-01'),
      sex: 'M',
    });
    const slot = aSlot({ start: new Date('2026-11-24T08:00:00Z'), constraints: { minAgeYears: 18, sex: 'F' } });
    expect(reasonsFor(c, slot, aContext({ distanceKm: 12 }))).toEqual([...INELIGIBLE_REASONS]);
  });

  describe('clinic constraints', () => {
    const adults = aSlot({ constraints: { minAgeYears: 18 } });
    const paediatric = aSlot({ constraints: { maxAgeYears: 17 } });

    it('takes age in completed years on the slot date, both bounds inclusive', () => {
      expect(reasonsFor(aCandidate({ birthDate: day('2008-11-26') }), adults)).toEqual([]);
      expect(reasonsFor(aCandidate({ birthDate: day('2008-11-27') }), adults)).toEqual(['age']);
      expect(reasonsFor(aCandidate({ birthDate: day('2008-11-27') }), paediatric)).toEqual([]);
      expect(reasonsFor(aCandidate({ birthDate: day('2008-11-26') }), paediatric)).toEqual(['age']);
    });

    it("uses the slot's date on the London calendar, not the UTC one", () => {
      // 23:30 UTC on 1 July is 00:30 BST on 2 July: the patient's eighteenth birthday.
      const lateSlot = aSlot({ start: new Date('2026-07-01T23:30:00Z'), constraints: { minAgeYears: 18 } });
      const ctx = aContext({ now: new Date('2026-06-01T09:00:00Z') });
      expect(reasonsFor(aCandidate({ birthDate: day('2008-07-02') }), lateSlot, ctx)).toEqual([]);
      expect(reasonsFor(aCandidate({ birthDate: day('2008-07-03') }), lateSlot, ctx)).toEqual(['age']);
    });

    it('lets only a matching recorded sex into a sex-specific clinic', () => {
      const women = aSlot({ constraints: { sex: 'F' } });
      expect(reasonsFor(aCandidate({ sex: 'F' }), women)).toEqual([]);
      expect(reasonsFor(aCandidate({ sex: 'M' }), women)).toEqual(['sex']);
      expect(reasonsFor(aCandidate({ sex: 'U' }), women)).toEqual(['sex']);
      expect(reasonsFor(aCandidate({ sex: null }), women)).toEqual(['sex']);
      expect(reasonsFor(aCandidate({ sex: null }), aSlot())).toEqual([]);
    });
  });

  describe('trust and site', () => {
    const otherTrust = (over: Partial<Candidate>) => aCandidate({ trustOds: 'RYJ', ...over });

    it("always accepts the patient's own trust, whatever their ICS-wide choices", () => {
      expect(reasonsFor(aCandidate({ trustOds: 'RQM', icsWideConsent: false, acceptableSites: [], maxTravelKm: 1 }), aSlot(), aContext({ distanceKm: 50 }))).toEqual([]);
    });

    it('needs ICS-wide consent for another trust', () => {
      expect(reasonsFor(otherTrust({ icsWideConsent: false }))).toEqual(['other-trust-no-consent']);
      expect(reasonsFor(otherTrust({ icsWideConsent: true }))).toEqual([]);
    });

    it('needs the site named, or ANY', () => {
      expect(reasonsFor(otherTrust({ acceptableSites: ['RQM01', 'RYJ02'] }))).toEqual([]);
      expect(reasonsFor(otherTrust({ acceptableSites: ['RQM91'] }))).toEqual(['site-not-acceptable']);
      expect(reasonsFor(otherTrust({ acceptableSites: [] }))).toEqual(['site-not-acceptable']);
    });

    it('accepts an unnamed site within the maximum travel distance, when both distances are known', () => {
      const c = otherTrust({ acceptableSites: [], maxTravelKm: 10 });
      expect(reasonsFor(c, aSlot(), aContext({ distanceKm: 8 }))).toEqual([]);
      expect(reasonsFor(c, aSlot(), aContext({ distanceKm: 10 }))).toEqual([]);
      expect(reasonsFor(c, aSlot(), aContext({ distanceKm: 10.1 }))).toEqual(['site-not-acceptable', 'too-far']);
      expect(reasonsFor(c, aSlot(), aContext({ distanceKm: null }))).toEqual(['site-not-acceptable']);
      expect(reasonsFor(c, aSlot(), aContext({ distanceKm: undefined }))).toEqual(['site-not-acceptable']);
      expect(reasonsFor(otherTrust({ acceptableSites: [], maxTravelKm: null }), aSlot(), aContext({ distanceKm: 1 }))).toEqual(['site-not-acceptable']);
    });

    it('takes a named site even when it is further than the maximum distance', () => {
      expect(reasonsFor(otherTrust({ acceptableSites: ['RQM01'], maxTravelKm: 5 }), aSlot(), aContext({ distanceKm: 30 }))).toEqual([]);
      expect(reasonsFor(otherTrust({ acceptableSites: 'ANY', maxTravelKm: 5 }), aSlot(), aContext({ distanceKm: 30 }))).toEqual([]);
    });
  });

  describe('useful gain over the current appointment', () => {
    // Slot 2026-11-26T10:00Z; minGainDays 7.
    it('needs the slot at least minGainDays before the current appointment', () => {
      expect(reasonsFor(aCandidate({ currentAppointmentStart: new Date('2026-12-03T10:00:00Z') }))).toEqual([]);
      expect(reasonsFor(aCandidate({ currentAppointmentStart: new Date('2026-12-03T09:59:00Z') }))).toEqual(['not-sooner']);
      expect(reasonsFor(aCandidate({ currentAppointmentStart: new Date('2027-01-10T09:00:00Z') }))).toEqual([]);
    });

    it('follows the policy', () => {
      const c = aCandidate({ currentAppointmentStart: new Date('2026-11-28T10:00:00Z') });
      expect(reasonsFor(c, aSlot(), aContext({}, { minGainDays: 2 }))).toEqual([]);
      expect(reasonsFor(c, aSlot(), aContext({}, { minGainDays: 3 }))).toEqual(['not-sooner']);
    });
  });

  describe('unavailable periods', () => {
    it('covers whole days at both ends', () => {
      const on = (from: string, to: string) => aCandidate({ unavailable: [{ from: day(from), to: day(to) }] });
      expect(reasonsFor(on('2026-11-26', '2026-11-30'))).toEqual(['unavailable']);
      expect(reasonsFor(on('2026-11-20', '2026-11-26'))).toEqual(['unavailable']);
      expect(reasonsFor(on('2026-11-20', '2026-11-25'))).toEqual([]);
      expect(reasonsFor(on('2026-11-27', '2026-12-25'))).toEqual([]);
    });

    it('checks every period', () => {
      const c = aCandidate({
        unavailable: [
          { from: day('2026-10-01'), to: day('2026-10-02') },
          { from: day('2026-11-26'), to: day('2026-11-26') },
        ],
      });
      expect(reasonsFor(c)).toEqual(['unavailable']);
    });
  });

  describe('minimum notice', () => {
    // T0 is 2026-11-23T09:00Z; with 24 hours' notice the slot must start after 2026-11-24T09:00Z.
    it('refuses a slot inside the notice window at ctx.now', () => {
      expect(reasonsFor(aCandidate(), aSlot({ start: new Date('2026-11-24T09:00:00Z') }))).toEqual(['inside-notice']);
      expect(reasonsFor(aCandidate(), aSlot({ start: new Date('2026-11-24T09:01:00Z') }))).toEqual([]);
      expect(reasonsFor(aCandidate(), aSlot({ start: new Date('2026-11-20T09:00:00Z') }))).toEqual(['inside-notice']);
    });

    it('uses the time given, not any clock', () => {
      const slot = aSlot({ start: new Date('2026-11-24T10:00:00Z') });
      expect(reasonsFor(aCandidate(), slot, aContext({ now: T0 }))).toEqual([]);
      expect(reasonsFor(aCandidate(), slot, aContext({ now: new Date('2026-11-23T10:00:00Z') }))).toEqual(['inside-notice']);
    });
  });
});
