/**
 * The invariants, checked from outside the engine: every offer and booking the simulation makes
 * is reported here, and this auditor counts what breaks a rule with its own arithmetic. A policy
 * that "fills more" by breaking a rule shows it in `rule_violations` instead of hiding it.
 */
import { isInQuietHours, MatchingPolicy } from '@app/domain';

export const RULES = [
  'offer-inside-notice',
  'sms-in-quiet-hours',
  'second-live-offer',
  'booking-inside-notice',
  'slot-booked-twice',
  'pathway-booked-twice',
] as const;

export type Rule = (typeof RULES)[number];

const HOUR = 3_600_000;

export class RuleAuditor {
  readonly violations: Record<Rule, number> = Object.fromEntries(RULES.map((r) => [r, 0])) as Record<Rule, number>;
  /** How many times a rule was checked (so "0 violations" is known to mean something). */
  checks = 0;
  private readonly liveOffers = new Map<number, number>();
  private readonly bookedSlots = new Set<number>();
  private readonly bookedPathways = new Set<number>();

  /** An offer to `pathway` for a slot starting at `slotStartMs`, texted at `sendMs`. */
  offerMade(pathway: number, slotStartMs: number, sendMs: number, policy: MatchingPolicy): void {
    this.checks += 3;
    if (sendMs >= slotStartMs - policy.minNoticeHours * HOUR) this.violations['offer-inside-notice']++;
    if (isInQuietHours(new Date(sendMs), policy)) this.violations['sms-in-quiet-hours']++;
    const live = this.liveOffers.get(pathway) ?? 0;
    if (live > 0) this.violations['second-live-offer']++;
    this.liveOffers.set(pathway, live + 1);
  }

  offerEnded(pathway: number): void {
    const live = this.liveOffers.get(pathway) ?? 0;
    if (live <= 1) this.liveOffers.delete(pathway);
    else this.liveOffers.set(pathway, live - 1);
  }

  booked(slotId: number, pathway: number, atMs: number, slotStartMs: number, policy: MatchingPolicy): void {
    this.checks += 3;
    if (atMs >= slotStartMs - policy.minNoticeHours * HOUR) this.violations['booking-inside-notice']++;
    if (this.bookedSlots.has(slotId)) this.violations['slot-booked-twice']++;
    if (this.bookedPathways.has(pathway)) this.violations['pathway-booked-twice']++;
    this.bookedSlots.add(slotId);
    this.bookedPathways.add(pathway);
  }

  get total(): number {
    return RULES.reduce((n, r) => n + this.violations[r], 0);
  }
}
