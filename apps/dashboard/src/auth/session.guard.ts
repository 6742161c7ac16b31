/**
 * Every route needs a signed-in operator unless marked `@Public()`; a route may also require a
 * capability (`@Requires('edit-policy')`). Every state-changing request must carry the session's
 * CSRF token (form field `_csrf` or header `x-csrf-token`), compared in constant time; SameSite=Strict
 * cookies are the second line.
 */
import { CanActivate, ExecutionContext, ForbiddenException, Injectable, SetMetadata, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { safeEqual } from '@app/platform';
import type { Request, Response } from 'express';
import { Capability, can } from './access';
import { Session, SessionsService, readCookie } from './sessions.service';

const PUBLIC = 'dashboard:public';
const REQUIRES = 'dashboard:requires';
export const Public = () => SetMetadata(PUBLIC, true);
export const Requires = (c: Capability) => SetMetadata(REQUIRES, c);

export type DashboardRequest = Request & { session?: Session };

/** Routes of the shared platform (probes, scrapes) that answer without a session. */
const PLATFORM_PATHS = /^\/(health|metrics)(\/|$)/;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export class CsrfError extends ForbiddenException {}

@Injectable()
export class SessionGuard implements CanActivate {
  constructor(private readonly reflector: Reflector, private readonly sessions: SessionsService) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const req = ctx.switchToHttp().getRequest<DashboardRequest>();
    const res = ctx.switchToHttp().getResponse<Response>();
    if (PLATFORM_PATHS.test(req.path)) return true;
    const targets = [ctx.getHandler(), ctx.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC, targets)) return true;
    const session = await this.sessions.resolve(readCookie(req.headers.cookie, this.sessions.cookieName()));
    if (!session) {
      if (req.method === 'GET' && (req.headers.accept ?? '').includes('text/html')) {
        res.redirect(303, `/sign-in?next=${encodeURIComponent(req.originalUrl)}`);
        return false;
      }
      throw new UnauthorizedException({ error: 'unauthorized', message: 'Sign in first' });
    }
    req.session = session;
    if (!SAFE_METHODS.has(req.method)) {
      const body = req.body as Record<string, unknown> | undefined;
      const presented = (typeof body?._csrf === 'string' ? body._csrf : undefined) ?? (req.headers['x-csrf-token'] as string | undefined);
      if (!presented || !safeEqual(presented, session.csrfToken)) {
        throw new CsrfError({ error: 'csrf', message: 'This form has expired or did not come from the dashboard. Go back, reload the page and try again.' });
      }
    }
    const needed = this.reflector.getAllAndOverride<Capability | undefined>(REQUIRES, targets);
    if (needed && !can(session.principal, needed)) {
      throw new ForbiddenException({ error: 'forbidden', message: 'Your role does not allow this' });
    }
    return true;
  }
}
