/**
 * Group commit: items that arrive while the database is busy are stored together, by one
 * statement and one commit, instead of queueing for a commit each (the adapter's HL7 intake and
 * forwarding, the notifier's record of each SMS Notify accepted).
 *
 * Every submitted item waits for the commit of the batch it is in, so a caller that answers only
 * after `submit()` resolves (the intake's AA) still answers only after its own row is durable. No
 * timer delays a message: a batch leaves at the end of the event-loop turn it started in (so
 * frames read from several sockets in one turn go together), or, when `concurrency` batches are
 * already in flight, as soon as one of them commits, taking whatever has gathered meanwhile. An
 * idle adapter therefore stores a lone message as quickly as before; a busy one pays one commit
 * for many messages.
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
}

interface Waiting<I, R> {
  item: I;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

export class GroupCommit<I, R> {
  private waiting: Array<Waiting<I, R>> = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(private readonly opts: GroupCommitOptions<I, R>) {}

  /** Resolves once the item's batch has committed (with the item's result), rejects if it could not be stored. */
  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
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

  private launch(): void {
    while (this.inFlight < this.opts.concurrency && this.waiting.length > 0) {
      const batch = this.take();
      this.inFlight++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        this.launch();
      });
    }
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
