/**
 * UK postcodes, normalised to the Royal Mail form (upper case, one space before the inward
 * code) so that two spellings of one address compare equal and distance look-ups hit.
 */

// The six outward shapes (A9, A99, A9A, AA9, AA99, AA9A) with the letters Royal Mail never uses
// in each position, plus the Girobank oddity GIR 0AA.
const OUTWARD = /^(?:[A-PR-UWYZ]\d{1,2}|[A-PR-UWYZ]\d[A-HJKPSTUW]|[A-PR-UWYZ][A-HK-Y]\d{1,2}|[A-PR-UWYZ][A-HK-Y]\d[ABEHMNPRVWXY])$/;
const INWARD = /^\d[ABD-HJLNP-UW-Z]{2}$/;

export function normaliseUkPostcode(s: string): string | null {
  const compact = s.replace(/\s+/g, '').toUpperCase();
  if (compact.length < 5 || compact.length > 7) return null;
  const outward = compact.slice(0, -3);
  const inward = compact.slice(-3);
  if (compact === 'GIR0AA' || (OUTWARD.test(outward) && INWARD.test(inward))) return `${outward} ${inward}`;
  return null;
}

export function isUkPostcode(s: string): boolean {
  return normaliseUkPostcode(s) !== null;
}
