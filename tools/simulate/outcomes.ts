/**
 * From one policy run's tally to the figures a reader compares: the shape of
 * simulation/results/latest.json (one object per policy, names as issue 8 gives them).
 */
import { Scenario, SimConfig } from './config';
import { NOTICE_BANDS, Tally } from './engine';
import { Rule, RuleAuditor } from './rules';
import { World } from './world';

export const DAYS_SOONER_BUCKETS: ReadonlyArray<[string, number, number]> = [
  ['< 0', -Infinity, 0],
  ['0-7', 0, 7],
  ['7-14', 7, 14],
  ['14-28', 14, 28],
  ['28-56', 28, 56],
  ['56-91', 56, 91],
  ['91+', 91, Infinity],
];

export interface PolicyResult {
  policy: string;
  fill_rate: number;
  median_days_sooner: number;
  sms_per_fill: number;
  cross_trust_moves: number;
  breaches_avoided_52w: number;
  /** Quintile 1 (most deprived) first: of patients offered at least once, the share who were booked. */
  fill_rate_by_imd_quintile: number[];
  rule_violations: number;
  label: string;
  scope: Scenario['scope'];
  strategy: Scenario['strategy'];
  wave_size: number;
  offer_ttl_minutes: number;
  offers_per_fill: number;
  p2_breaches_avoided: number;
  rtt_breaches_avoided: number;
  slots_freed: number;
  slots_too_late: number;
  slots_reofferable: number;
  slots_filled: number;
  slots_freed_by_moves: number;
  slots_filled_freed_by_moves: number;
  unfilled: Tally['unfilled'];
  days_sooner_p25: number;
  days_sooner_p75: number;
  days_sooner_distribution: Record<string, number>;
  median_hours_to_fill: number;
  fill_rate_by_trust: Record<string, number>;
  /** By notice left when the slot was freed (only slots with at least the minimum notice). */
  fill_rate_by_notice: Record<string, number>;
  patients_helped_per_1000_waiting_by_imd_quintile: number[];
  sms: Tally['sms'] & { total: number };
  offers: number;
  waves: number;
  undeliverable: number;
  declined: number;
  late_replies: number;
  rule_checks: number;
  rule_violations_by_rule: Record<Rule, number>;
  seed: number;
  days: number;
  scale: number;
  config_version: number;
}

const round = (x: number, places: number) => {
  const f = 10 ** places;
  return Math.round(x * f) / f;
};
const ratio = (a: number, b: number, places = 4) => (b > 0 ? round(a / b, places) : 0);

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function summarise(world: World, config: SimConfig, scenario: Scenario, tally: Tally, auditor: RuleAuditor): PolicyResult {
  const sooner = [...tally.daysSooner].sort((a, b) => a - b);
  const hours = [...tally.hoursToFill].sort((a, b) => a - b);
  const smsTotal = Object.values(tally.sms).reduce((a, b) => a + b, 0);
  const distribution: Record<string, number> = {};
  for (const [label, lo, hi] of DAYS_SOONER_BUCKETS) distribution[label] = sooner.filter((d) => d >= lo && d < hi).length;
  return {
    policy: scenario.name,
    fill_rate: ratio(tally.filled, tally.reofferable),
    median_days_sooner: round(quantile(sooner, 0.5), 1),
    sms_per_fill: ratio(smsTotal, tally.filled, 2),
    cross_trust_moves: tally.crossTrustMoves,
    breaches_avoided_52w: tally.breachesAvoided52w,
    fill_rate_by_imd_quintile: tally.bookedByQuintile.map((b, q) => ratio(b, tally.offeredPatientsByQuintile[q])),
    rule_violations: auditor.total,
    label: scenario.label,
    scope: scenario.scope,
    strategy: scenario.strategy,
    wave_size: scenario.strategy === 'sequential' ? 1 : scenario.waveSize,
    offer_ttl_minutes: scenario.offerTtlMinutes,
    offers_per_fill: ratio(tally.offers, tally.filled, 2),
    p2_breaches_avoided: tally.breachesAvoidedP2,
    rtt_breaches_avoided: tally.breachesAvoidedRtt,
    slots_freed: tally.slotsFreed,
    slots_too_late: tally.tooLate,
    slots_reofferable: tally.reofferable,
    slots_filled: tally.filled,
    slots_freed_by_moves: tally.slotsFreedByMove,
    slots_filled_freed_by_moves: tally.filledByMove,
    unfilled: { ...tally.unfilled },
    days_sooner_p25: round(quantile(sooner, 0.25), 1),
    days_sooner_p75: round(quantile(sooner, 0.75), 1),
    days_sooner_distribution: distribution,
    median_hours_to_fill: round(quantile(hours, 0.5), 1),
    fill_rate_by_trust: Object.fromEntries(world.trusts.map((ods, t) => [ods, ratio(tally.filledByTrust[t], tally.reofferableByTrust[t])])),
    fill_rate_by_notice: Object.fromEntries(NOTICE_BANDS.map(([label], i) => [label, ratio(tally.filledByNotice[i], tally.reofferableByNotice[i])])),
    patients_helped_per_1000_waiting_by_imd_quintile: tally.bookedByQuintile.map((b, q) => ratio(1000 * b, world.pathwaysByQuintile[q], 2)),
    sms: { ...tally.sms, total: smsTotal },
    offers: tally.offers,
    waves: tally.waves,
    undeliverable: tally.undeliverable,
    declined: tally.declined,
    late_replies: tally.lateReplies,
    rule_checks: auditor.checks,
    rule_violations_by_rule: { ...auditor.violations },
    seed: config.seed,
    days: config.days,
    scale: config.scale,
    config_version: config.version,
  };
}
