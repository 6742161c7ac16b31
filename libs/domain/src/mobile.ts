/**
 * UK mobile numbers, the only numbers we send SMS offers to: normalised to E.164 (`+447…`),
 * which is what GOV.UK Notify reports back on replies, so a reply can be matched to its offer.
 */

/**
 * Subscriber part after the leading 7: Ofcom's mobile ranges are 071-075 and 077-079, plus
 * 07624 (Isle of Man). 070 (personal numbering) and the rest of 076 (pagers) look like mobiles
 * but are not, and texting them costs the patient money or reaches nobody.
 */
const UK_MOBILE_NATIONAL = /^7(?:[1-57-9]\d{8}|624\d{6})$/;

/**
 * `+447xxxxxxxxx` from `07…`, `447…`, `+447…`, `00447…` or `+44 (0)7…`, ignoring spaces,
 * dashes, dots and brackets; null for anything that is not a UK mobile.
 */
export function normaliseUkMobile(s: string): string | null {
  const compact = s.replace(/[\s\-.()]/g, '');
  const m = /^(?:\+44|0044|44)0?(7\d+)$/.exec(compact) ?? /^0(7\d+)$/.exec(compact);
  if (!m || !UK_MOBILE_NATIONAL.test(m[1])) return null;
  return `+44${m[1]}`;
}

export function isUkMobile(s: string): boolean {
  return normaliseUkMobile(s) !== null;
}

/**
 * Ofcom's drama range 07700 900000-900999: never allocated to a real phone, so the sandbox and
 * the demo use only these and a test can never text a member of the public.
 */
export function isDramaRangeMobile(e164: string): boolean {
  const n = normaliseUkMobile(e164);
  return n !== null && /^\+447700900\d{3}$/.test(n);
}

/** `*******0123`: for logs and the dashboard, where a whole phone number must never appear. */
export function maskMobile(s: string): string {
  const digits = s.replace(/\D/g, '');
  return digits.length >= 10 ? `*******${digits.slice(-4)}` : '***********';
}
