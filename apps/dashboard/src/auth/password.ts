/**
 * Password hashing with scrypt (node's crypto: a memory-hard KDF, as OWASP recommends when
 * Argon2id is not to hand). The stored form names its parameters, so they can be raised later and
 * old hashes still verify: `scrypt$<N>$<r>$<p>$<salt b64>$<key b64>`.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** log2 of scrypt's N: 15 (32 MiB, ~0.1 s) is OWASP's floor; tests may go lower to stay fast. */
export const DEFAULT_COST_LOG2 = 15;
const R = 8;
const P = 1;
const KEY_BYTES = 32;

function derive(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    // maxmem above 128·N·r (32 MiB here): node's default limit is exactly that and would refuse.
    scrypt(password.normalize('NFKC'), salt, KEY_BYTES, { N: n, r, p, maxmem: 256 * n * r }, (e, key) => (e ? reject(e) : resolve(key))),
  );
}

export async function hashPassword(password: string, costLog2 = DEFAULT_COST_LOG2): Promise<string> {
  const salt = randomBytes(16);
  const n = 2 ** costLog2;
  const key = await derive(password, salt, n, R, P);
  return ['scrypt', n, R, P, salt.toString('base64'), key.toString('base64')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [n, r, p] = parts.slice(1, 4).map(Number);
  if (![n, r, p].every((x) => Number.isInteger(x) && x > 0) || n > 2 ** 20) return false;
  const expected = Buffer.from(parts[5], 'base64');
  const key = await derive(password, Buffer.from(parts[4], 'base64'), n, r, p);
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A hash of a random password: checked against when the account does not exist, so timing does not tell. */
const decoys = new Map<number, Promise<string>>();
export function decoyHash(costLog2 = DEFAULT_COST_LOG2): Promise<string> {
  if (!decoys.has(costLog2)) decoys.set(costLog2, hashPassword(randomBytes(16).toString('hex'), costLog2));
  return decoys.get(costLog2)!;
}

/** Operators choose passphrases; length is what matters (NCSC), with a short deny list of the obvious. */
export function passwordProblem(password: string, email: string): string | null {
  if (password.length < 12) return 'Use at least 12 characters';
  if (password.length > 200) return 'Use at most 200 characters';
  const lower = password.toLowerCase();
  if (lower === email.toLowerCase() || /^(password|passw0rd|123456|qwerty)/.test(lower)) return 'Choose a password that is harder to guess';
  return null;
}
