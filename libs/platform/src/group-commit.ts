/**
 * Group commit: items that arrive while the database is busy are stored together, by one
 * statement and one commit, instead of queueing for a commit each (the adapter's HL7 intake and
 * forwarding, the notifier's record of each SMS Notify accepted).
 *
 * Every submitted item waits for the commit of the batch it is in, so a caller that answers only
 * after `submit()` resolves (the intake's AA) still answers only after its own row is durable. A
 * batch leaves at the end of the event-loop turn it started in (so frames read from several
 * sockets in one turn go together), or, when `concurrency` batches are already in flight, as soon
 * as one of them commits, taking whatever has gathered meanwhile.
 *
 * With `lingerMs`, a batch may also wait a little for callers it has reason to expect. Senders
 * that each wait for their answer before sending again (MLLP) come back one by one after a
 * commit; going at once with the first of them would split them over several commits, which then
 * stay split (each group comes back while the other commits), paying a commit, a round trip and
 * a WAL flush per one or two messages. So: with nothing in flight, a batch waits until as many
 * items are waiting as were outstanding at once recently (the number of callers in step), but no
 * longer than `lingerMs`; with a batch in flight, another leaves only once more items wait than
 * that batch holds (otherwise they go together when it commits, which rejoins split groups). A
 * lone sender is never held (one outstanding item is all it is expected to have).
 *
 * A batch that fails is retried item by item, so one item the database refuses fails alone and
 * its neighbours are stored (or fail) on their own merits.
 */
export interface GroupCommitOptions<I, R> {
  /** Stores the items in one transaction; resolves with one result per item, in order. */
  store: (items: I[]) => Promise<R[]>;
  /** Batches in flight at once (separate connections; Postgres flushes their commits together). */
  concurrency: number;
  /** Most items in one batch. */
  maxItems: number;
  /** Most bytes (per `size`) in one batch; a single larger item still goes, alone. */
  maxBytes: number;
  size: (item: I) => number;
  /** Longest an idle group commit holds a batch for the callers it expects (see above); default 0: never. */
  lingerMs?: number;
  /** How long a peak of outstanding items counts as "recent" (default 500 ms). */
  peakWindowMs?: number;
}

interface Waiting<I, R> {
  item: I;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

export class GroupCommit<I, R> {
  private waiting: Array<Waiting<I, R>> = [];
  private inFlight = 0;
  private inFlightItems = 0;
  private scheduled = false;
  /** Most items outstanding at once in the current and the previous peak window. */
  private peak = { current: 0, previous: 0, since: 0 };
  private lingerTimer: NodeJS.Timeout | undefined;
  private lingerOver = false;

  constructor(private readonly opts: GroupCommitOptions<I, R>) {}

  /** Resolves once the item's batch has committed (with the item's result), rejects if it could not be stored. */
  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.opts.lingerMs) this.notePeak(this.waiting.length + this.inFlightItems);
      if (!this.scheduled && this.inFlight < this.opts.concurrency) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.launch();
        });
      }
    });
  }

  /** Items waiting for a batch plus batches in flight (for tests and metrics). */
  get busy(): { waiting: number; inFlight: number } {
    return { waiting: this.waiting.length, inFlight: this.inFlight };
  }

  /** How many items a batch expects to gather: the most outstanding at once lately (at least 1). */
  get expected(): number {
    this.notePeak(0);
    return Math.max(1, this.peak.current, this.peak.previous);
  }

  private notePeak(outstanding: number): void {
    const now = Date.now();
    const window = this.opts.peakWindowMs ?? 500;
    if (now - this.peak.since >= window) {
      // A window with no activity at all ends the peak outright rather than carrying it on.
      this.peak = { current: 0, previous: now - this.peak.since >= 2 * window ? 0 : this.peak.current, since: now };
    }
    if (outstanding > this.peak.current) this.peak.current = outstanding;
  }

  private launch(): void {
    while (this.inFlight < this.opts.concurrency && this.waiting.length > 0 && this.mayLeave()) {
      const batch = this.take();
      this.inFlight++;
      this.inFlightItems += batch.length;
      void this.run(batch).finally(() => {
        this.inFlight--;
        this.inFlightItems -= batch.length;
        this.launch();
      });
    }
  }

  /** Whether the waiting items should go now (always, without `lingerMs`). */
  private mayLeave(): boolean {
    const linger = this.opts.lingerMs ?? 0;
    if (linger > 0 && this.waiting.length < this.opts.maxItems) {
      if (this.inFlight > 0) return this.waiting.length > this.inFlightItems;
      if (!this.lingerOver && this.waiting.length < this.expected) {
        // Idle but short of the callers in step: wait for them, at most `lingerMs` from now.
        this.lingerTimer ??= setTimeout(() => {
          this.lingerTimer = undefined;
          this.lingerOver = true;
          this.launch();
        }, linger);
        return false;
      }
    }
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    this.lingerOver = false;
    return true;
  }

  private take(): Array<Waiting<I, R>> {
    let n = 0;
    let bytes = 0;
    while (n < this.waiting.length && n < this.opts.maxItems) {
      const b = this.opts.size(this.waiting[n].item);
      if (n > 0 && bytes + b > this.opts.maxBytes) break;
      bytes += b;
      n++;
    }
    return this.waiting.splice(0, n);
  }

  private async run(batch: Array<Waiting<I, R>>): Promise<void> {
    try {
      const results = await this.opts.store(batch.map((w) => w.item));
      if (results.length !== batch.length) throw new Error(`store returned ${results.length} results for ${batch.length} items`);
      batch.forEach((w, i) => w.resolve(results[i]));
    } catch (e) {
      if (batch.length === 1) return batch[0].reject(e);
      // One at a time: whatever made the batch fail fails only the item that causes it.
      for (const w of batch) {
        await this.opts.store([w.item]).then(([r]) => w.resolve(r), w.reject);
      }
    }
  }
}
