/**
 * Phone numbers as GOV.UK Notify reads them. Deliberately Notify's own, looser rule (any
 * `7xxxxxxxxx` after the UK prefix) rather than `@app/domain`'s stricter one: the sandbox must
 * accept exactly what the real service accepts, so a difference shows up in tests, not in live.
 */

export type PhoneCheck = { ok: true; e164: string } | { ok: false; problem: string };

/** Notify's validation of a UK mobile number; on success the number in E.164 (`+447…`). */
export function checkUkMobile(input: string): PhoneCheck {
  // Notify strips whitespace, brackets, dashes and the plus sign before looking at the digits.
  const compact = input.replace(/[\s()\-+.]/g, '');
  if (!/^\d+$/.test(compact)) return { ok: false, problem: 'Must not contain letters or symbols' };
  let national = compact.replace(/^0+/, '');
  if (national.startsWith('44')) national = national.slice(2).replace(/^0+/, '');
  if (!national.startsWith('7')) return { ok: false, problem: 'Not a UK mobile number' };
  if (national.length > 10) return { ok: false, problem: 'Too many digits' };
  if (national.length < 10) return { ok: false, problem: 'Not enough digits' };
  return { ok: true, e164: `+44${national}` };
}

/** `+447…` for any accepted spelling of a UK mobile, else null. */
export function toE164(input: string): string | null {
  const c = checkUkMobile(input);
  return c.ok ? c.e164 : null;
}

/** Notify's callbacks give the sender as international digits without the plus (`447700900123`). */
export function withoutPlus(e164: string): string {
  return e164.replace(/^\+/, '');
}
