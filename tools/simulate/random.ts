/**
 * Seeded randomness. Two kinds: a stream (`Rng`) for building the world (waiting list and
 * cancellations) in one fixed order, and keyed draws (`keyedUniform`) for what a patient does with
 * one offer, so that every policy meets the same patient making the same choice about the same
 * slot (common random numbers): differences between policies are then the policies', not noise.
 */

/** 32-bit avalanche mix (the murmur3 finaliser). */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A uniform in [0, 1) fixed by its integer key parts. */
export function keyedUniform(seed: number, a: number, b: number, c: number): number {
  let h = fmix32((seed ^ 0x9e3779b9) >>> 0);
  h = fmix32((h ^ Math.imul(a | 0, 0xcc9e2d51)) >>> 0);
  h = fmix32((h ^ Math.imul(b | 0, 0x1b873593)) >>> 0);
  h = fmix32((h ^ Math.imul(c | 0, 0xe6546b64)) >>> 0);
  return h / 4294967296;
}

/** A standard normal fixed by its key (Box-Muller on two keyed uniforms). */
export function keyedNormal(seed: number, a: number, b: number, c: number): number {
  const u1 = keyedUniform(seed, a, b, c) || 2 ** -32;
  const u2 = keyedUniform(seed, a, b, c + 0x5bd1e995);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** mulberry32: small, fast, and good enough for a model whose inputs are rough shares. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = fmix32(seed >>> 0) || 0x6d2b79f5;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Uniform in [lo, hi). */
  between(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Index chosen with the given weights (which need not add up to 1). */
  weighted(weights: readonly number[]): number {
    const total = weights.reduce((a, b) => a + b, 0);
    let r = this.next() * total;
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i];
      if (r < 0) return i;
    }
    return weights.length - 1;
  }

  normal(): number {
    const u1 = this.next() || 2 ** -32;
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * this.next());
  }

  /** A count with mean `mean`: Knuth's method when small, the normal approximation when large. */
  poisson(mean: number): number {
    if (mean <= 0) return 0;
    if (mean > 50) return Math.max(0, Math.round(mean + Math.sqrt(mean) * this.normal()));
    const limit = Math.exp(-mean);
    let k = 0;
    let p = this.next();
    while (p > limit) {
      k++;
      p *= this.next();
    }
    return k;
  }
}
