/**
 * A Notify that is slow to take texts, on demand (`POST /sim/slow-sends`): for the given seconds
 * every `POST /v2/notifications/sms` is worked on for `ms` before it is answered, and the text is
 * held (and listed by `GET /v2/notifications?reference=`) only once that time is up, as a request
 * Notify is still processing is not yet visible. A client that gives up waiting meanwhile does not
 * stop it: the text is taken all the same, as a real Notify's would be. Reads are not slowed, so a
 * client can ask after such a text while Notify is still working on it.
 */
import { Injectable, OnApplicationShutdown } from '@nestjs/common';

export interface SlowSendsState {
  ms: number;
  /** Real time (the slowness is of the service, not of the sandbox's own clock). */
  until: Date;
}

@Injectable()
export class SlowSends implements OnApplicationShutdown {
  private state: SlowSendsState | null = null;
  private readonly waits = new Set<() => void>();

  start(ms: number, seconds: number): SlowSendsState {
    this.state = { ms, until: new Date(Date.now() + seconds * 1000) };
    return this.state;
  }

  end(): void {
    this.state = null;
  }

  current(): SlowSendsState | null {
    if (this.state && Date.now() >= this.state.until.getTime()) this.state = null;
    return this.state;
  }

  /** Resolves once a send that arrives now has been worked on (at once when sends are not slow). */
  async delay(): Promise<void> {
    const ms = this.current()?.ms ?? 0;
    if (ms <= 0) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waits.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waits.add(done);
    });
  }

  /** A sandbox shutting down finishes the sends in hand rather than keep the process open. */
  onApplicationShutdown(): void {
    for (const done of [...this.waits]) done();
  }
}
