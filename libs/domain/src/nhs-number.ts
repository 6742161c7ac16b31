/**
 * The NHS number: validation (modulus 11), normalisation and masking for display and logs.
 * An NHS number is personal data: outside the patient record it is shown masked, never whole.
 */

const TEN_DIGITS = /^\d{10}$/;

/**
 * The modulus-11 check digit for the first nine digits, or null when the number can never be
 * valid (remainder gives 10). Exposed so synthetic test patients can be built from the 999 range.
 */
export function nhsNumberCheckDigit(firstNine: string): number | null {
  if (!/^\d{9}$/.test(firstNine)) return null;
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += Number(firstNine[i]) * (10 - i);
  const check = 11 - (sum % 11);
  if (check === 10) return null;
  return check === 11 ? 0 : check;
}

/** The 999-range number (never issued to patients) with this six-digit base, or null when it has no valid check digit. */
function syntheticAt(base: number): string | null {
  const nine = `999${String(base % 1_000_000).padStart(6, '0')}`;
  const check = nhsNumberCheckDigit(nine);
  return check === null ? null : `${nine}${check}`;
}

/**
 * The first valid synthetic NHS number at or after base `seed` (a base whose check digit would be
 * 10 moves on to the next), for demo and test patients. Neighbouring seeds can therefore give the
 * same number: to hand out many distinct ones use `syntheticNhsNumbers`.
 */
export function syntheticNhsNumber(seed: number): string {
  for (let s = seed; ; s++) {
    const n = syntheticAt(s);
    if (n) return n;
  }
}

/** Distinct synthetic NHS numbers from base `from` on, each base used at most once. */
export function* syntheticNhsNumbers(from = 0): Generator<string> {
  for (let s = from; s < from + 1_000_000; s++) {
    const n = syntheticAt(s);
    if (n) yield n;
  }
}

/**
 * The ten digits, or null. Whitespace is dropped because numbers are printed `999 000 0018`;
 * nothing else is, since a PTL must carry the bare ten digits and anything odder is a data fault
 * to report, not guess at.
 */
export function normaliseNhsNumber(s: string): string | null {
  const digits = s.replace(/\s+/g, '');
  if (!TEN_DIGITS.test(digits)) return null;
  return nhsNumberCheckDigit(digits.slice(0, 9)) === Number(digits[9]) ? digits : null;
}

export function isValidNhsNumber(s: string): boolean {
  return normaliseNhsNumber(s) !== null;
}

/** The 3-3-4 spacing the NHS uses on letters and screens. */
export function formatNhsNumber(s: string): string | null {
  const n = normaliseNhsNumber(s);
  return n && `${n.slice(0, 3)} ${n.slice(3, 6)} ${n.slice(6)}`;
}

/**
 * `*** *** 0018`: enough for a person to tell two patients apart, too little to identify one.
 * Input that is not ten digits is masked completely, so a malformed value cannot leak either.
 */
export function maskNhsNumber(s: string): string {
  const digits = s.replace(/\s+/g, '');
  return TEN_DIGITS.test(digits) ? `*** *** ${digits.slice(6)}` : '*** *** ****';
}
