/**
 * Background work that runs once at start-up (the usual moment to find a crash's leftovers) and
 * then every `everyMs`, never overlapping itself: a run still going when the next is due is not
 * doubled. A run that fails is logged and the next one tries again; the timer never holds the
 * process open, and `stop()` waits for a run in progress (so it still has its connections).
 * Used by the re-drives (booking's reconciler, the adapter's forwarding re-drive).
 */
import { Logger } from '@nestjs/common';
import { errorMessage } from './errors';

export class Periodic {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(private readonly logger: Logger, private readonly what: string, private readonly run: () => Promise<unknown>) {}

  start(everyMs: number): void {
    void this.tick();
    this.timer = setInterval(() => void this.tick(), everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  private async tick(): Promise<void> {
    if (this.running) return;
    this.running = this.run();
    try {
      await this.running;
    } catch (e) {
      this.logger.warn(`${this.what} failed, will try again: ${errorMessage(e)}`);
    } finally {
      this.running = undefined;
    }
  }
}
