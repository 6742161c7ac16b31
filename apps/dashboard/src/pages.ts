/**
 * Server-rendered pages in the NHS design system (nhsuk-frontend's own Nunjucks templates), with
 * progressive enhancement: every page works without JavaScript; dashboard.js adds live updates
 * and charts. Every HTML response gets a strict Content-Security-Policy with a per-response nonce.
 */
import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Injectable } from '@nestjs/common';
import { AppError, IcsDirectory, redact, repoRoot } from '@app/platform';
import type { Request, Response } from 'express';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import nunjucks from 'nunjucks';
import { Principal, ROLE_NAMES, can } from './auth/access';
import type { DashboardRequest } from './auth/session.guard';

export const VIEWS_DIR = join(repoRoot(), 'apps', 'dashboard', 'views');

interface NavItem { href: string; text: string; show: (p: Principal) => boolean }
const NAV: NavItem[] = [
  { href: '/', text: 'Overview', show: () => true },
  { href: '/slots', text: 'Slots', show: () => true },
  { href: '/flows', text: 'Flows', show: () => true },
  { href: '/failures', text: 'Failures', show: (p) => can(p, 'view-failures') },
  { href: '/waiting-list-imports', text: 'Waiting list imports', show: () => true },
  { href: '/policy', text: 'Policy', show: () => true },
  { href: '/audit', text: 'Audit log', show: (p) => can(p, 'read-audit') },
  { href: '/users', text: 'Accounts', show: (p) => can(p, 'manage-users') },
  { href: '/admin/queues', text: 'Queues', show: (p) => can(p, 'view-queues') },
];

@Injectable()
export class Pages {
  private readonly env: nunjucks.Environment;

  constructor(private readonly ics: IcsDirectory) {
    this.env = nunjucks.configure([VIEWS_DIR, join(repoRoot(), 'node_modules', 'nhsuk-frontend', 'dist')], { autoescape: true });
    this.env.addFilter('dt', (d: unknown) => formatDateTime(d, ics.timeZone));
    this.env.addFilter('num', (n: unknown) => (n === null || n === undefined || n === '' ? '–' : Number(n).toLocaleString('en-GB', { maximumFractionDigits: 1 })));
    this.env.addFilter('pct', (n: unknown) => (n === null || n === undefined ? '–' : `${(Number(n) * 100).toFixed(1)}%`));
    this.env.addFilter('trustName', (ods: string) => ics.trust(ods)?.name ?? ods);
    this.env.addFilter('specialty', (tfc: string) => `${tfc} ${ics.specialty(tfc)}`);
    this.env.addFilter('json', (v: unknown) => JSON.stringify(v, null, 2));
  }

  render(req: Request, res: Response, view: string, context: Record<string, unknown>, status = 200): void {
    const nonce = randomBytes(16).toString('base64');
    const session = (req as DashboardRequest).session;
    const p = session?.principal;
    const path = req.path;
    const nav = p ? NAV.filter((n) => n.show(p)).map((n) => ({ ...n, current: n.href === '/' ? path === '/' : path.startsWith(n.href) })) : [];
    res.status(status).type('html')
      .setHeader('cache-control', 'no-store')
      .setHeader('referrer-policy', 'same-origin')
      .setHeader('x-content-type-options', 'nosniff')
      .setHeader('x-frame-options', 'DENY')
      .setHeader('content-security-policy', `default-src 'self'; script-src 'self' 'nonce-${nonce}'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`);
    res.send(this.env.render(view, {
      ...context, cspNonce: nonce, nav, principal: p, roleName: p ? ROLE_NAMES[p.role] : '', csrf: session?.csrfToken,
      trusts: this.ics.trusts, icsName: this.ics.name,
    }));
  }
}

export function formatDateTime(d: unknown, timeZone = 'Europe/London'): string {
  if (!d) return '–';
  const date = d instanceof Date ? d : new Date(String(d));
  if (Number.isNaN(date.getTime())) return '–';
  return date.toLocaleString('en-GB', { timeZone, day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/**
 * Errors as pages for people and as JSON for scripts. Used on every dashboard controller, ahead of
 * the platform's JSON-only filter.
 */
@Catch()
@Injectable()
export class DashboardErrorFilter implements ExceptionFilter {
  constructor(private readonly pages: Pages) {}

  catch(e: unknown, host: ArgumentsHost): void {
    const req = host.switchToHttp().getRequest<Request>();
    const res = host.switchToHttp().getResponse<Response>();
    if (res.headersSent) return;
    const status = e instanceof AppError ? e.status : e instanceof HttpException ? e.getStatus() : 500;
    const body = e instanceof HttpException ? (e.getResponse() as { error?: string; message?: string | string[] }) : undefined;
    const message = e instanceof AppError ? e.message : status === 500 ? 'Something went wrong on our side; it has been logged.' : String(Array.isArray(body?.message) ? body?.message.join('; ') : body?.message ?? (e as Error).message);
    const code = e instanceof AppError ? e.code : body?.error ?? (status === 500 ? 'internal_error' : 'error');
    // Written past the pino logger, so scrubbed here: a database error can quote a patient's value.
    if (status === 500) {
      const err = e as Error | undefined;
      console.error(JSON.stringify({ level: 'error', msg: 'unhandled dashboard error', error: redact(String(err?.message)), stack: err?.stack && redact(err.stack) }));
    }
    const wantsHtml = (req.headers.accept ?? '').includes('text/html');
    if (!wantsHtml) {
      res.status(status).json({ error: code, message, details: e instanceof AppError ? e.details : undefined });
      return;
    }
    const titles: Record<number, string> = { 401: 'Sign in first', 403: 'You cannot do this', 404: 'Page not found', 409: 'Already done', 400: 'There is a problem' };
    this.pages.render(req, res, 'error.njk', { title: titles[status] ?? 'Sorry, there is a problem with the service', message }, status);
  }
}
