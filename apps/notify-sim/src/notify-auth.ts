/**
 * GOV.UK Notify's API authentication, as the real service applies it: `Authorization: Bearer
 * <JWT>`, HS256, signed with the API key's secret, `iss` = service id, `iat` within 30 seconds of
 * the server's clock. Verified with node:crypto so the sandbox needs no JWT library of its own.
 */
import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Clock } from '@app/domain';
import { CLOCK } from '@app/platform';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { NotifySimConfig } from './config';
import { NotifyApiError } from './notify-errors';

export interface NotifyApiKey {
  keyName: string;
  serviceId: string;
  secret: string;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string): boolean => UUID_RE.test(s);

/** `<key name>-<service id>-<secret>`: the same slicing notifications-node-client does. */
export function parseApiKey(key: string): NotifyApiKey {
  const secret = key.slice(-36);
  const serviceId = key.slice(-73, -37);
  const keyName = key.slice(0, -74);
  if (key.length < 75 || !isUuid(secret) || !isUuid(serviceId) || key[key.length - 37] !== '-' || key[key.length - 74] !== '-') {
    throw new Error('NOTIFY_API_KEY is not a Notify API key (<key name>-<service id>-<secret>)');
  }
  return { keyName, serviceId, secret };
}

/** Notify refuses tokens issued more than this far from its own clock, either way. */
export const MAX_TOKEN_AGE_SECONDS = 30;

export type AuthResult = { ok: true; serviceId: string } | { ok: false; error: NotifyApiError };

function decodeJson(part: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Checks an Authorization header against one API key; the messages are Notify's own. */
export function authenticate(header: string | undefined, key: NotifyApiKey, nowMs: number): AuthResult {
  const fail = (status: 401 | 403, message: string): AuthResult => ({ ok: false, error: NotifyApiError.auth(status, message) });
  if (!header) return fail(401, 'Unauthorized: authentication token must be provided');
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) return fail(401, 'Unauthorized: authentication bearer scheme must be used');
  const parts = m[1].split('.');
  const head = parts.length === 3 ? decodeJson(parts[0]) : null;
  const claims = parts.length === 3 ? decodeJson(parts[1]) : null;
  if (!head || !claims) return fail(403, 'Invalid token: signature, api token is not valid');
  if (typeof claims.iss !== 'string' || !claims.iss) return fail(403, 'Invalid token: iss field not provided');
  if (!isUuid(claims.iss)) return fail(403, 'Invalid token: service id is not the right data type');
  if (claims.iss.toLowerCase() !== key.serviceId.toLowerCase()) return fail(403, 'Invalid token: service not found');
  // Checked before the signature so that `alg: none` can never slip through.
  if (head.alg !== 'HS256') return fail(403, 'Invalid token: algorithm used is not HS256');
  const expected = createHmac('sha256', key.secret).update(`${parts[0]}.${parts[1]}`).digest();
  const presented = Buffer.from(parts[2], 'base64url');
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
    return fail(403, 'Invalid token: API key not found');
  }
  if (typeof claims.iat !== 'number' || !Number.isFinite(claims.iat)) return fail(403, 'Invalid token: API key not found');
  const now = nowMs / 1000;
  if (claims.iat < now - MAX_TOKEN_AGE_SECONDS || claims.iat > now + MAX_TOKEN_AGE_SECONDS) {
    return fail(403, 'Error: Your system clock must be accurate to within 30 seconds');
  }
  return { ok: true, serviceId: key.serviceId };
}

/** Builds a token the way notifications-node-client does; for tests and tools. */
export function signNotifyToken(key: Pick<NotifyApiKey, 'serviceId' | 'secret'>, iatSeconds: number, alg = 'HS256'): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const unsigned = `${enc({ alg, typ: 'JWT' })}.${enc({ iss: key.serviceId, iat: iatSeconds })}`;
  return `${unsigned}.${createHmac('sha256', key.secret).update(unsigned).digest('base64url')}`;
}

export interface NotifyRequest {
  headers: Record<string, string | string[] | undefined>;
  notifyServiceId?: string;
}

@Injectable()
export class NotifyAuthGuard implements CanActivate {
  private readonly key: NotifyApiKey;

  constructor(
    config: NotifySimConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    this.key = parseApiKey(config.NOTIFY_API_KEY);
  }

  canActivate(ctx: ExecutionContext): boolean {
    const req = ctx.switchToHttp().getRequest<NotifyRequest>();
    const raw = req.headers['authorization'];
    const result = authenticate(Array.isArray(raw) ? raw[0] : raw, this.key, this.clock.now().getTime());
    if (!result.ok) throw result.error;
    req.notifyServiceId = result.serviceId;
    return true;
  }
}
