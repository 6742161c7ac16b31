/**
 * Last line of defence for the rule "no NHS number, name or phone number in logs or traces".
 * Code should never log personal data in the first place; this scrubs anything that looks like
 * an NHS number or a UK phone number from strings that reach a log line or span attribute.
 */
const NHS_NUMBER = /(?<![\d])\d{3}[ -]?\d{3}[ -]?\d{4}(?![\d])/g;
/** Between any two digits of a number: what `normaliseUkMobile` (libs/domain) ignores. */
const SEP = '[\\s\\-.()]{0,3}';
/**
 * A UK mobile in every form the domain accepts as one (`+447…`, `447…`, `00447…`, `+44 (0)7…`,
 * `07…`, `(07…)`, spaces, dashes, dots): a form the domain takes but this misses would reach logs.
 */
const UK_PHONE = new RegExp(
  `(?:(?:\\+|(?<![\\w+])00)44|(?<![\\w+])44)${SEP}(?:0${SEP})?7(?:${SEP}\\d){9}(?!\\w)` + `|(?<![\\w+])\\(?0${SEP}7(?:${SEP}\\d){9}(?!\\w)`,
  'g',
);

/**
 * A database id (UUID) is left whole: ten of its digits in a row (`…-6a1234567890`) look like an
 * NHS number to NHS_NUMBER, and a redacted booking or job id is one an on-call engineer can no
 * longer search for. At each position a UUID is tried first, so digits inside one are never taken.
 */
const UUID_OR_NHS_NUMBER = new RegExp(`([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})|${NHS_NUMBER.source}`, 'gi');

export function redact(text: string): string {
  return text.replace(UK_PHONE, '[phone]').replace(UUID_OR_NHS_NUMBER, (m: string, uuid?: string) => (uuid ? m : '[nhs-number]'));
}

export function redactDeep(value: unknown, depth = 0): unknown {
  if (depth > 6) return value;
  if (typeof value === 'string') return redact(value);
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1));
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    if (value instanceof Error) return { name: value.name, message: redact(value.message), stack: value.stack && redact(value.stack) };
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v, depth + 1);
    return out;
  }
  return value;
}
