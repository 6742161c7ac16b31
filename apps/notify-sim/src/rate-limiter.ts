/**
 * Notify's per-key limit: at most N requests in any 60 seconds. A ring of the last N accepted
 * request times answers in O(1): a request is refused while the Nth-previous one is still
 * inside the window.
 */
export class SlidingWindowLimiter {
  private readonly ring: number[];
  private next = 0;

  constructor(
    readonly limit: number,
    private readonly windowMs = 60_000,
  ) {
    this.ring = new Array<number>(limit).fill(Number.NEGATIVE_INFINITY);
  }

  /** True, and counted, when the request fits; false when it would exceed the limit. */
  tryAcquire(nowMs: number): boolean {
    if (nowMs - this.ring[this.next] < this.windowMs) return false;
    this.ring[this.next] = nowMs;
    this.next = (this.next + 1) % this.limit;
    return true;
  }
}
