/**
 * A circuit breaker for one PAS. When a PAS is down, every write-back job would otherwise wait out
 * its full timeout on every attempt, holding worker slots and piling load onto a system that is
 * trying to recover. After `threshold` consecutive failures the circuit opens and calls fail at
 * once (as a transient failure: the job is retried with back-off, nothing is lost); after
 * `coolDownMs` one probe is let through (half-open): its success closes the circuit, its failure
 * opens it again for another cool-down.
 */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** Gauge values for `pas_circuit_state` (0 closed, 1 half-open, 2 open): higher is worse. */
export const CIRCUIT_STATE_VALUE: Record<CircuitState, number> = { closed: 0, 'half-open': 1, open: 2 };

export class CircuitOpenError extends Error {
  constructor(readonly retryInMs: number) {
    super(`circuit open: the PAS failed repeatedly; next probe in ${Math.max(0, Math.round(retryInMs))} ms`);
  }
}

export interface CircuitBreakerOptions {
  threshold: number;
  coolDownMs: number;
  now?: () => number;
  onStateChange?: (state: CircuitState) => void;
}

export class CircuitBreaker {
  private state: CircuitState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private probeInFlight = false;
  private readonly now: () => number;

  constructor(private readonly opts: CircuitBreakerOptions) {
    this.now = opts.now ?? Date.now;
  }

  get current(): CircuitState {
    return this.state;
  }

  /**
   * Runs `fn` through the breaker. `isFailure` says whether a returned value counts as a failure
   * of the PAS (a 5xx does; a 4xx refusal is the PAS working correctly and does not). A thrown
   * error (network, timeout) always counts.
   */
  async run<T>(fn: () => Promise<T>, isFailure: (v: T) => boolean = () => false): Promise<T> {
    this.admit();
    let value: T;
    try {
      value = await fn();
    } catch (e) {
      this.failed();
      throw e;
    }
    if (isFailure(value)) this.failed();
    else this.succeeded();
    return value;
  }

  private admit(): void {
    if (this.state === 'closed') return;
    const waited = this.now() - this.openedAt;
    if (this.state === 'open' && waited >= this.opts.coolDownMs) this.set('half-open');
    // Half-open lets exactly one probe through; everyone else keeps failing fast until it answers.
    if (this.state === 'half-open' && !this.probeInFlight) {
      this.probeInFlight = true;
      return;
    }
    throw new CircuitOpenError(this.opts.coolDownMs - waited);
  }

  private succeeded(): void {
    this.failures = 0;
    this.probeInFlight = false;
    if (this.state !== 'closed') this.set('closed');
  }

  private failed(): void {
    this.failures++;
    const probeFailed = this.probeInFlight;
    this.probeInFlight = false;
    if (probeFailed || (this.state === 'closed' && this.failures >= this.opts.threshold)) {
      this.openedAt = this.now();
      this.set('open');
    }
  }

  private set(state: CircuitState): void {
    if (this.state === state) return;
    this.state = state;
    this.opts.onStateChange?.(state);
  }
}
