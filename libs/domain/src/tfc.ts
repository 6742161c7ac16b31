/**
 * Treatment Function Code: the national three-digit specialty code (330 Dermatology, 130
 * Ophthalmology …). Slots and waiting patients meet only within one TFC.
 */
export function isTfc(s: string): boolean {
  return /^\d{3}$/.test(s);
}
