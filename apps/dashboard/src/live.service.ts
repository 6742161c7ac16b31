/**
 * Live overview and slot feed over server-sent events. One timer per process recomputes the
 * figures for each scope that has a browser connected (ICS-wide, or one trust for trust viewers)
 * and sends them only when they changed, so a hundred open dashboards cost one query per scope.
 * Each tick also re-checks every stream's session (one query for all of them): a stream ends when
 * its session is signed out elsewhere, expires, or its account is disabled or moved to another
 * scope, instead of streaming on to someone who is no longer allowed to see it.
 */
import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { IcsDirectory, errorMessage } from '@app/platform';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { trustScope } from './auth/access';
import { Session, SessionsService } from './auth/sessions.service';
import { DashboardConfig } from './config';
import { overviewFigures, slotFeed } from './overview.queries';

interface Client { res: Response; scope: string | null; tokenHash: string; lastSent?: string }

export const LIVE_FEED_SIZE = 25;

@Injectable()
export class LiveService implements BeforeApplicationShutdown {
  private readonly logger = new Logger('live');
  private readonly clients = new Set<Client>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly config: DashboardConfig,
    private readonly ics: IcsDirectory,
    private readonly sessions: SessionsService,
  ) {}

  /** Starts streaming to one signed-in browser; ends when it disconnects or its session ends. */
  subscribe(res: Response, session: Session): void {
    const scope = trustScope(session.principal);
    res.status(200).setHeader('content-type', 'text/event-stream');
    res.setHeader('cache-control', 'no-store');
    res.setHeader('x-accel-buffering', 'no');
    res.flushHeaders();
    res.write(`retry: 3000\n\n`);
    const client: Client = { res, scope, tokenHash: session.tokenHash };
    this.clients.add(client);
    res.on('close', () => this.clients.delete(client));
    void this.tick(client);
    this.timer ??= setInterval(() => void this.tick(), this.config.LIVE_INTERVAL_MS);
  }

  async snapshot(scope: string | null) {
    const now = new Date();
    const [overview, feed] = await Promise.all([
      overviewFigures(this.ds, { trust: scope, now, timeZone: this.ics.timeZone }),
      slotFeed(this.ds, { trust: scope, limit: LIVE_FEED_SIZE }),
    ]);
    return { overview, feed };
  }

  private async tick(only?: Client): Promise<void> {
    if (!only && this.running) return;
    if (!only) this.running = true;
    try {
      // The first tick of a new stream follows the guard's own check; later ones re-check.
      const targets = only ? [only] : await this.stillAllowed([...this.clients]);
      if (!targets.length && !this.clients.size) {
        clearInterval(this.timer);
        this.timer = undefined;
        return;
      }
      const scopes = [...new Set(targets.map((c) => c.scope))];
      for (const scope of scopes) {
        const data = await this.snapshot(scope);
        // `at` changes every time; compare what is shown.
        const shown = JSON.stringify({ w: data.overview.windows, f: data.feed });
        const message = `event: update\ndata: ${JSON.stringify(data)}\n\n`;
        for (const c of targets.filter((t) => t.scope === scope)) {
          if (c.lastSent === shown) continue;
          c.lastSent = shown;
          c.res.write(message);
        }
      }
    } catch (e) {
      this.logger.warn(`live update failed: ${errorMessage(e)}`);
    } finally {
      if (!only) this.running = false;
    }
  }

  /** The streams whose sessions may still see what they stream; the others are told and ended. */
  private async stillAllowed(clients: Client[]): Promise<Client[]> {
    if (!clients.length) return clients;
    const live = await this.sessions.stillSignedIn([...new Set(clients.map((c) => c.tokenHash))]);
    return clients.filter((c) => {
      const principal = live.get(c.tokenHash);
      if (principal && trustScope(principal) === c.scope) return true;
      this.clients.delete(c);
      c.res.end('event: signed-out\ndata: {}\n\n');
      return false;
    });
  }

  /** Before the HTTP server closes: it would otherwise wait for these never-ending responses. */
  beforeApplicationShutdown(): void {
    clearInterval(this.timer);
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }
}
