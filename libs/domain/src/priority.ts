/**
 * Clinical priority (the national P1a-P4 codes) and the dates it implies. Priority is the first
 * ranking key; the breach date (when the patient passes their priority's target, or the 18-week
 * RTT standard if that comes first) is the second.
 */
import { addUtcDays } from './dates';

export type Priority = 'P1a' | 'P1b' | 'P2' | 'P3' | 'P4';

/** Most urgent first: the index is the rank. */
export const PRIORITIES: readonly Priority[] = Object.freeze(['P1a', 'P1b', 'P2', 'P3', 'P4'] as const);

export function isPriority(s: string): s is Priority {
  return (PRIORITIES as readonly string[]).includes(s);
}

/** P1a = 0 … P4 = 4: lower is more urgent. */
export function priorityRank(p: Priority): number {
  return PRIORITIES.indexOf(p);
}

/** Days within which each priority should be seen: P1a 24 h, P1b 72 h, P2 4 weeks, P3 13 weeks, P4 18 weeks. */
export const PRIORITY_TARGET_DAYS: Readonly<Record<Priority, number>> = Object.freeze({
  P1a: 1,
  P1b: 3,
  P2: 28,
  P3: 91,
  P4: 126,
});

/** The 18-week referral-to-treatment standard. */
export const RTT_STANDARD_DAYS = 126;

/**
 * The calendar date (UTC midnight) on which the patient breaches: RTT start plus the shorter of
 * their priority's target and the RTT standard. Whole UTC days, so DST never shifts it.
 */
export function breachDate(priority: Priority, rttStart: Date): Date {
  return addUtcDays(rttStart, Math.min(PRIORITY_TARGET_DAYS[priority], RTT_STANDARD_DAYS));
}
