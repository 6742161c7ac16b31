/**
 * Whether GOV.UK Notify looks down, as this notifier process has seen it: the number of sends in a
 * row that got a 5xx, a timeout or no answer at all, reset by any message Notify accepts.
 *
 * Why a count rather than each message's own retries: one message's attempts cannot tell "this
 * message upsets Notify" from "Notify is down". A few failures in a row with nothing accepted in
 * between is an outage, and during an outage no message should spend its attempts (nor an offer
 * be ended as undeliverable: its next wave would fail the same way, and a slot would burn through
 * its candidates in minutes). A message Notify keeps failing while it accepts others resets the
 * count each time, so it still spends its attempts and is given up on as before.
 *
 * Per process, not shared: every instance talks to the same Notify and finds out within a few
 * sends of its own.
 */
export class NotifyCircuit {
  private failuresInARow = 0;

  constructor(private readonly threshold: number) {
    if (!Number.isInteger(threshold) || threshold < 1) throw new Error(`the Notify outage threshold must be a whole number of failures, at least 1 (got ${threshold})`);
  }

  /** Notify took a message: it is up. */
  accepted(): void {
    this.failuresInARow = 0;
  }

  /** One more send that Notify failed as a service; true when that makes it an outage. */
  failed(): boolean {
    this.failuresInARow++;
    return this.isOpen;
  }

  /** Notify is treated as down until it accepts a message again. */
  get isOpen(): boolean {
    return this.failuresInARow >= this.threshold;
  }
}
