/**
 * Who may be offered a freed slot. Every rule is checked and every failure reported, because the
 * dashboard explains why a slot went unfilled ("12 patients, all too far") and the tests assert
 * on the exact reasons.
 */
import { MS_PER_DAY, ageInYearsOn, startOfUtcDay } from './dates';
import { MatchingPolicy } from './policy';
import { isInsideMinimumNotice } from './notice';
import { Candidate } from './waiting-list';
import { FreedSlot } from './slot';
import { localDateIn } from './time-zone';

/** In the order they are reported. */
export const INELIGIBLE_REASONS = Object.freeze([
  'tfc',
  'appointment-type',
  'age',
  'sex',
  'not-open',
  'live-offer',
  'no-consent',
  'no-mobile',
  'sms-stopped',
  'other-trust-no-consent',
  'site-not-acceptable',
  'too-far',
  'not-sooner',
  'unavailable',
  'inside-notice',
] as const);

export type IneligibleReason = (typeof INELIGIBLE_REASONS)[number];

export interface EligibilityContext {
  now: Date;
  policy: MatchingPolicy;
  /** Patient's postcode to the slot's site, when both are known. */
  distanceKm?: number | null;
  /** The same per candidate, for ranking a whole list at once; wins over `distanceKm`. */
  distanceKmFor?: (c: Candidate) => number | null;
}

export type EligibilityResult = { eligible: true } | { eligible: false; reasons: IneligibleReason[] };

export function checkEligibility(c: Candidate, slot: FreedSlot, ctx: EligibilityContext): EligibilityResult {
  const reasons: IneligibleReason[] = [];
  // Age and unavailability are about the day on the patient's calendar, not the UTC date.
  const slotDate = localDateIn(slot.start, ctx.policy.timeZone);

  if (c.tfc !== slot.tfc) reasons.push('tfc');
  if (c.appointmentType !== slot.appointmentType) reasons.push('appointment-type');

  const k = slot.constraints;
  if (k && (k.minAgeYears !== undefined || k.maxAgeYears !== undefined)) {
    const age = ageInYearsOn(c.birthDate, slotDate);
    if ((k.minAgeYears !== undefined && age < k.minAgeYears) || (k.maxAgeYears !== undefined && age > k.maxAgeYears)) {
      reasons.push('age');
    }
  }
  // A sex-specific clinic needs a recorded M or F that matches; U or unknown cannot be assumed to fit.
  if (k?.sex && c.sex !== k.sex) reasons.push('sex');

  if (c.status !== 'open') reasons.push('not-open');
  if (c.hasLiveOffer) reasons.push('live-offer');
  if (!c.offerConsent) reasons.push('no-consent');
  if (!c.mobileValid) reasons.push('no-mobile');
  if (c.smsStopped) reasons.push('sms-stopped');

  // The home trust's own slots are always acceptable; consent and reach matter only across trusts.
  if (c.trustOds !== slot.trustOds) {
    if (!c.icsWideConsent) reasons.push('other-trust-no-consent');
    const distance = (ctx.distanceKmFor ? ctx.distanceKmFor(c) : ctx.distanceKm) ?? null;
    const distanceKnown = c.maxTravelKm !== null && distance !== null;
    const siteNamed = c.acceptableSites === 'ANY' || c.acceptableSites.includes(slot.siteOds);
    const withinReach = distanceKnown && distance <= (c.maxTravelKm as number);
    if (!siteNamed && !withinReach) {
      reasons.push('site-not-acceptable');
      if (distanceKnown) reasons.push('too-far');
    }
  }

  if (c.currentAppointmentStart !== null) {
    const latestUseful = c.currentAppointmentStart.getTime() - ctx.policy.minGainDays * MS_PER_DAY;
    if (slot.start.getTime() > latestUseful) reasons.push('not-sooner');
  }

  const day = slotDate.getTime();
  const unavailable = c.unavailable.some(
    (p) => day >= startOfUtcDay(p.from).getTime() && day <= startOfUtcDay(p.to).getTime(),
  );
  if (unavailable) reasons.push('unavailable');

  if (isInsideMinimumNotice(slot.start, ctx.now, ctx.policy)) reasons.push('inside-notice');

  return reasons.length === 0 ? { eligible: true } : { eligible: false, reasons };
}

export function isEligible(c: Candidate, slot: FreedSlot, ctx: EligibilityContext): boolean {
  return checkEligibility(c, slot, ctx).eligible;
}
