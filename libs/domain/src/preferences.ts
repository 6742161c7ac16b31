/**
 * What a patient may change about the offers they get, from the offer page: the hospital sites
 * they can reach, dates they cannot make, and whether they want offers at all. The form arrives
 * as untrusted strings; this decides, without I/O, what is valid and what the stored preferences
 * become. Bad input changes nothing: any problem and the whole form is refused with its reasons.
 */
import { MS_PER_DAY, addUtcDays, parseIsoDate, toIsoDate } from './dates';

export interface PreferenceForm {
  /** Site ODS codes ticked (one value or several, as a browser posts checkboxes). */
  sites?: string | string[];
  /** A new period they cannot make, `YYYY-MM-DD` each, both or neither. */
  unavailableFrom?: string;
  unavailableTo?: string;
  /** Periods already stored that the patient ticked to remove, as `from/to`. */
  removeUnavailable?: string | string[];
  /** `yes` to stop offers by text. */
  stopOffers?: string;
}

export interface StoredPreferences {
  acceptableSites: string[];
  unavailable: Array<{ from: string; to: string }>;
}

export interface PreferenceChange extends StoredPreferences {
  stopOffers: boolean;
}

export type PreferenceProblem = { field: 'sites' | 'unavailableFrom' | 'unavailableTo' | 'removeUnavailable'; message: string };

/** A period further ahead than this is almost certainly a typing slip (and the list would grow). */
export const MAX_UNAVAILABLE_AHEAD_DAYS = 366;
export const MAX_UNAVAILABLE_PERIODS = 20;

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]).map((s) => String(s).trim()).filter((s) => s !== '');

/**
 * Applies a submitted form to the stored preferences. `knownSites` are the ICS's site codes;
 * `today` is the patient's calendar date (UTC midnight of it). Past periods are dropped as they
 * no longer matter to matching.
 */
export function applyPreferenceForm(
  form: PreferenceForm,
  current: StoredPreferences,
  knownSites: ReadonlySet<string>,
  today: Date,
): { ok: true; value: PreferenceChange } | { ok: false; problems: PreferenceProblem[] } {
  const problems: PreferenceProblem[] = [];
  const sites = [...new Set(list(form.sites).map((s) => s.toUpperCase()))];
  const unknown = sites.filter((s) => !knownSites.has(s));
  if (unknown.length > 0) problems.push({ field: 'sites', message: 'Choose hospitals from the list' });

  const remove = new Set(list(form.removeUnavailable));
  let unavailable = current.unavailable.filter((p) => !remove.has(`${p.from}/${p.to}`));
  const fromText = (form.unavailableFrom ?? '').trim();
  const toText = (form.unavailableTo ?? '').trim();
  if (fromText !== '' || toText !== '') {
    const from = parseIsoDate(fromText);
    const to = parseIsoDate(toText === '' ? fromText : toText);
    if (!from) problems.push({ field: 'unavailableFrom', message: 'Enter the first date you cannot make as a real date' });
    // An empty last date means a single day; it is only wrong in itself when something was typed.
    if (!to && toText !== '') problems.push({ field: 'unavailableTo', message: 'Enter the last date you cannot make as a real date' });
    if (from && to) {
      if (to < from) problems.push({ field: 'unavailableTo', message: 'The last date must be the same as or after the first date' });
      else if (to < today) problems.push({ field: 'unavailableTo', message: 'The dates must be today or in the future' });
      else if (from.getTime() - today.getTime() > MAX_UNAVAILABLE_AHEAD_DAYS * MS_PER_DAY) {
        problems.push({ field: 'unavailableFrom', message: 'The first date must be within the next year' });
      } else unavailable = [...unavailable, { from: toIsoDate(from), to: toIsoDate(to) }];
    }
  }
  // Periods that have ended no longer affect matching.
  const yesterday = toIsoDate(addUtcDays(today, -1));
  unavailable = dedupe(unavailable.filter((p) => p.to > yesterday)).sort((a, b) => a.from.localeCompare(b.from));
  if (unavailable.length > MAX_UNAVAILABLE_PERIODS) {
    problems.push({ field: 'unavailableFrom', message: `You can list up to ${MAX_UNAVAILABLE_PERIODS} periods; remove one first` });
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, value: { acceptableSites: sites.sort(), unavailable, stopOffers: (form.stopOffers ?? '').trim().toLowerCase() === 'yes' } };
}

function dedupe(periods: Array<{ from: string; to: string }>): Array<{ from: string; to: string }> {
  const seen = new Set<string>();
  return periods.filter((p) => {
    const k = `${p.from}/${p.to}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
