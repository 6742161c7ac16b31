/**
 * Simulated patients: whether someone answers an offer, what they say and how long they take.
 * Pure and seedable, so a demo can be replayed and a test can know the answers in advance.
 */
import { createHash, randomBytes } from 'node:crypto';

/** A uniform [0, 1) source. */
export type Rng = () => number;

/** mulberry32: tiny, fast and good enough to make choices for pretend patients. */
export function seededRng(seed: string | undefined): Rng {
  let s = (seed === undefined ? randomBytes(4) : createHash('sha256').update(seed).digest()).readUInt32LE(0);
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface PatientBehaviour {
  replyRate: number;
  acceptRate: number;
  delayMedianMs: number;
  delayMaxMs: number;
}

export interface PatientReply {
  message: string;
  delayMs: number;
}

/**
 * Spread of the log-normal reply delay: with a 15 s median about one reply in twenty takes
 * longer than 75 s, which is the long tail of people who read the text later.
 */
export const DELAY_SIGMA = 1;

/** A standard normal draw (Box–Muller); both uniforms come from `rng` so it stays reproducible. */
function normal(rng: Rng): number {
  const u1 = 1 - rng(); // (0, 1]: log(0) would be -Infinity
  const u2 = rng();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** What one patient does about one offer: nothing (null), or a `YES <code>` / `NO <code>` after a while. */
export function decideReply(rng: Rng, b: PatientBehaviour, code: string): PatientReply | null {
  // Always draw the same number of values per offer, so one patient's choice never shifts the
  // next patient's: the sequence of answers depends only on the seed and the order of offers.
  const answers = rng() < b.replyRate;
  const accepts = rng() < b.acceptRate;
  const z = normal(rng);
  if (!answers) return null;
  const delayMs = Math.min(b.delayMaxMs, Math.round(b.delayMedianMs * Math.exp(DELAY_SIGMA * z)));
  return { message: `${accepts ? 'YES' : 'NO'} ${code}`, delayMs };
}
