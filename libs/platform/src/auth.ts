/** Bearer-token checks shared by every inbound HTTP edge. */
import { CanActivate, ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Constant-time comparison. Both sides are hashed first so that neither the length nor the
 * content of the expected token leaks through timing.
 */
export function safeEqual(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b) && presented.length === expected.length;
}

export function bearerToken(header: string | string[] | undefined): string | null {
  const h = Array.isArray(header) ? header[0] : header;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h ?? '');
  return m ? m[1] : null;
}

/** Finds which principal (e.g. a trust ODS code) a token belongs to, in constant time per candidate. */
export function principalForToken(tokens: Record<string, string>, presented: string | null): string | null {
  if (!presented) return null;
  let found: string | null = null;
  for (const [principal, token] of Object.entries(tokens)) {
    if (safeEqual(presented, token) && found === null) found = principal;
  }
  return found;
}

/** A guard for one fixed token. */
export function StaticBearerGuard(getToken: () => string) {
  @Injectable()
  class Guard implements CanActivate {
    canActivate(ctx: ExecutionContext): boolean {
      const req = ctx.switchToHttp().getRequest<{ headers: Record<string, string | string[] | undefined> }>();
      const presented = bearerToken(req.headers['authorization']);
      if (!presented || !safeEqual(presented, getToken())) {
        throw new UnauthorizedException({ error: 'unauthorized', message: 'A valid "Authorization: Bearer <token>" header is required' });
      }
      return true;
    }
  }
  return Guard;
}
