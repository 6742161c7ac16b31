/**
 * Query-string filters, validated: an unknown trust, site, TFC, status or a malformed date is a
 * 400 naming the field, never a silently empty table. A trust viewer's trust overrides any trust
 * asked for (they cannot widen their own scope). Dates are days of the ICS's calendar
 * (`ics.timeZone`, Europe/London), as the overview's "today" is: a slot freed at 00:30 BST on
 * 10 June belongs to 10 June, and a clock-change day is 23 or 25 hours long.
 */
import { localDateIn, zonedTimeToUtc } from '@app/domain';
import { AppError, IcsDirectory } from '@app/platform';
import { Principal, trustScope } from './auth/access';
import { SLOT_STATE } from './overview.queries';

const DAY = 86_400_000;

export interface Filters {
  trust: string | null;
  site: string | null;
  tfc: string | null;
  status: string | null;
  from: Date;
  to: Date;
  /** As typed, for the form (YYYY-MM-DD, days of the ICS's calendar). */
  fromText: string;
  toText: string;
}

/** A YYYY-MM-DD as the Date at UTC midnight of that date (calendar arithmetic only). */
function isoDate(s: string): Date | null {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return null;
  const d = new Date(`${s}T00:00:00Z`);
  return Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== s ? null : d;
}

/**
 * One query-string value, trimmed; null when absent or blank. Given more than once (`?trust=RQM&trust=RAS`,
 * which Express reads as an array) it is a problem naming the field: treating it as absent would
 * widen a filter to the whole ICS without a word.
 */
export function textOf(q: Record<string, unknown>, k: string, problems: string[]): string | null {
  const v = q[k];
  if (v === undefined) return null;
  if (typeof v !== 'string') {
    problems.push(`${k}: give it once`);
    return null;
  }
  return v.trim() === '' ? null : v.trim();
}

/** The trust asked for, or null for all; a problem naming the field when it is not a trust of this ICS. */
function askedTrust(q: Record<string, unknown>, ics: IcsDirectory, problems: string[]): string | null {
  const trust = textOf(q, 'trust', problems)?.toUpperCase() ?? null;
  if (trust && !ics.trust(trust)) problems.push(`trust: ${trust} is not a trust of this ICS`);
  return trust;
}

function invalid(problems: string[]): AppError {
  return new AppError('invalid_filter', problems.join('; '), 400, problems);
}

/** The trust filter alone (pages filtered by nothing else): checked, and narrowed to a trust viewer's trust. */
export function parseTrustFilter(q: Record<string, unknown>, viewer: Principal, ics: IcsDirectory): string | null {
  const problems: string[] = [];
  const trust = askedTrust(q, ics, problems);
  if (problems.length) throw invalid(problems);
  return trustScope(viewer) ?? trust;
}

export function parseFilters(q: Record<string, unknown>, viewer: Principal, ics: IcsDirectory, now: Date, defaultDays = 30): Filters {
  const problems: string[] = [];
  const str = (k: string) => textOf(q, k, problems);
  let trust = askedTrust(q, ics, problems);
  const site = str('site')?.toUpperCase() ?? null;
  if (site && !ics.site(site)) problems.push(`site: ${site} is not a site of this ICS`);
  const tfc = str('tfc');
  if (tfc && !/^\d{3}$/.test(tfc)) problems.push('tfc: a treatment function code is 3 digits');
  const status = str('status');
  // Own keys only: `constructor` or `toString` are "in" any object.
  if (status && !Object.hasOwn(SLOT_STATE, status)) problems.push(`status: one of ${Object.keys(SLOT_STATE).join(', ')}`);
  // The default range ends today as the ICS's clocks read it, not as UTC's.
  const today = localDateIn(now, ics.timeZone);
  const fromText = str('from') ?? new Date(today.getTime() - defaultDays * DAY).toISOString().slice(0, 10);
  const toText = str('to') ?? today.toISOString().slice(0, 10);
  const from = isoDate(fromText);
  const toDay = isoDate(toText);
  if (!from) problems.push('from: a date as YYYY-MM-DD');
  if (!toDay) problems.push('to: a date as YYYY-MM-DD');
  if (from && toDay && from > toDay) problems.push('from: must not be after to');
  if (from && toDay && toDay.getTime() - from.getTime() > 400 * DAY) problems.push('from: at most 400 days before to');
  if (problems.length) throw invalid(problems);
  const scope = trustScope(viewer);
  if (scope) trust = scope;
  if (site && scope && ics.trustOfSite(site) !== scope) throw new AppError('invalid_filter', `site: ${site} is not a site of ${scope}`, 400);
  // `to` is inclusive: the whole of that day, up to the next local midnight.
  return { trust, site, tfc, status, from: localMidnight(from!, ics.timeZone), to: localMidnight(new Date(toDay!.getTime() + DAY), ics.timeZone), fromText, toText };
}

/** The instant a day (given as its UTC-midnight Date) begins in `timeZone`. */
function localMidnight(day: Date, timeZone: string): Date {
  return zonedTimeToUtc({ year: day.getUTCFullYear(), month: day.getUTCMonth() + 1, day: day.getUTCDate(), hour: 0, minute: 0 }, timeZone);
}
