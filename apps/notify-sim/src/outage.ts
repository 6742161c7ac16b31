/**
 * A Notify outage on demand (`POST /sim/outage`), so the notifier's handling of a service-wide
 * failure can be shown and tested with the real client: for the given seconds every `/v2` request
 * (send, read, list) gets the same failure, then Notify is back. Kinds, as Notify and the way to
 * it fail:
 * - `auth`: 403 AuthError, what Notify answers a revoked key or a clock more than 30 s out;
 * - `exception`: 500 Exception, Notify's own internal error;
 * - `unavailable`: 503, the load balancer in front of a Notify that is down;
 * - `drop`: the connection is closed with no answer at all (a network fault, a restart).
 */
import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Clock } from '@app/domain';
import { CLOCK } from '@app/platform';
import type { Request } from 'express';
import { NotifyApiError } from './notify-errors';

export const OUTAGE_KINDS = ['auth', 'exception', 'unavailable', 'drop'] as const;
export type OutageKind = (typeof OUTAGE_KINDS)[number];

export interface OutageState {
  kind: OutageKind;
  until: Date;
}

/** Thrown after the connection is cut: there is no one left to answer. */
export class ConnectionDropped extends Error {
  override name = 'ConnectionDropped';
}

@Injectable()
export class Outage {
  private state: OutageState | null = null;

  constructor(@Inject(CLOCK) private readonly clock: Clock) {}

  start(kind: OutageKind, seconds: number): OutageState {
    this.state = { kind, until: new Date(this.clock.now().getTime() + seconds * 1000) };
    return this.state;
  }

  end(): void {
    this.state = null;
  }

  /** The outage in force now, if any. */
  current(): OutageState | null {
    if (this.state && this.clock.now().getTime() >= this.state.until.getTime()) this.state = null;
    return this.state;
  }
}

/** Ahead of authentication, as an outage is: a Notify that is down checks no tokens. */
@Injectable()
export class OutageGuard implements CanActivate {
  constructor(private readonly outage: Outage) {}

  canActivate(ctx: ExecutionContext): boolean {
    const now = this.outage.current();
    if (!now) return true;
    switch (now.kind) {
      case 'auth':
        throw NotifyApiError.auth(403, 'Error: Your system clock must be accurate to within 30 seconds');
      case 'exception':
        throw new NotifyApiError(500, [{ error: 'Exception', message: 'Internal server error' }]);
      case 'unavailable':
        throw new NotifyApiError(503, [{ error: 'ServiceUnavailable', message: 'Service temporarily unavailable' }]);
      case 'drop':
        ctx.switchToHttp().getRequest<Request>().socket.destroy();
        throw new ConnectionDropped('connection dropped (simulated outage)');
    }
  }
}
