/**
 * Sign-in and sign-out. The sign-in form has its own CSRF defence (there is no session yet): a
 * random value in a short-lived SameSite=Strict cookie that the form must echo (double submit),
 * which stops another site signing a victim in to an account of the attacker's choosing.
 */
import { Body, Controller, Get, Post, Query, Req, Res, UseFilters } from '@nestjs/common';
import { safeEqual } from '@app/platform';
import type { Request, Response } from 'express';
import { AuditService } from '../audit.service';
import { DashboardConfig } from '../config';
import { DashboardErrorFilter, Pages } from '../pages';
import { AccountsService } from './accounts.service';
import { OidcPending, OidcService } from './oidc.service';
import { DashboardRequest, Public } from './session.guard';
import { randomToken, readCookie, SessionsService } from './sessions.service';

const PRE_CSRF = 'dashboard_signin_csrf';
/** The OIDC round trip's state, nonce and PKCE verifier. SameSite=Lax: it must come back on the provider's redirect. */
const OIDC_PENDING = 'dashboard_oidc';

function readPending(raw: string | undefined): OidcPending | null {
  if (!raw || raw.length > 1000) return null;
  try {
    const p = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
    return ['state', 'nonce', 'verifier', 'next'].every((k) => typeof p?.[k] === 'string') ? p : null;
  } catch {
    return null;
  }
}

/** Only a local path may be a `next`: never another origin (open redirect). */
export function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/(?![/\\])[\w\-./?=&%]*$/.test(next) && !next.startsWith('/sign-') ? next : '/';
}

@Controller()
@UseFilters(DashboardErrorFilter)
export class AuthController {
  constructor(
    private readonly accounts: AccountsService,
    private readonly sessions: SessionsService,
    private readonly pages: Pages,
    private readonly audit: AuditService,
    private readonly config: DashboardConfig,
    private readonly oidc: OidcService,
  ) {}

  /** Out to the organisation's identity provider (only when OIDC is configured). */
  @Public()
  @Get('sign-in/oidc')
  async oidcStart(@Req() req: Request, @Res() res: Response, @Query('next') next?: string): Promise<void> {
    if (!this.oidc.enabled()) return this.pages.render(req, res, 'error.njk', { title: 'Page not found', message: 'Page not found' }, 404);
    let out: Awaited<ReturnType<OidcService['start']>>;
    try {
      out = await this.oidc.start(safeNext(next));
    } catch {
      return this.showForm(req, res, 503, safeNext(next), ['Sign-in with your organisation account is not available at the moment. Try again shortly, or sign in with a dashboard password.']);
    }
    res.cookie(OIDC_PENDING, Buffer.from(JSON.stringify(out.pending)).toString('base64url'), {
      httpOnly: true, secure: this.config.cookieSecure(), sameSite: 'lax', path: '/sign-in/oidc', maxAge: 10 * 60_000,
    });
    res.redirect(303, out.url);
  }

  /** Back from the identity provider: every check in OidcService; a session, or a page saying why not. */
  @Public()
  @Get('sign-in/oidc/callback')
  async oidcCallback(@Req() req: Request, @Res() res: Response): Promise<void> {
    if (!this.oidc.enabled()) return this.pages.render(req, res, 'error.njk', { title: 'Page not found', message: 'Page not found' }, 404);
    const pending = readPending(readCookie(req.headers.cookie, OIDC_PENDING));
    res.clearCookie(OIDC_PENDING, { path: '/sign-in/oidc' });
    const query = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?')) : '';
    const outcome = await this.oidc.finish(query, pending, req.ip ?? null);
    if (!outcome.ok) {
      return this.pages.render(req, res, 'sign-in-refused.njk', { title: 'No access to the dashboard', email: outcome.email, buttonText: this.config.OIDC_BUTTON_TEXT }, 403);
    }
    const token = await this.sessions.create(outcome.principal.userId);
    res.cookie(this.sessions.cookieName(), token, this.sessions.cookieOptions());
    res.redirect(303, safeNext(pending?.next));
  }

  @Public()
  @Get('sign-in')
  form(@Req() req: Request, @Res() res: Response, @Query('next') next?: string): void {
    this.showForm(req, res, 200, safeNext(next));
  }

  @Public()
  @Post('sign-in')
  async signIn(@Req() req: Request, @Res() res: Response, @Body() body: Record<string, unknown>): Promise<void> {
    const next = safeNext(body?.next);
    const email = typeof body?.email === 'string' ? body.email : '';
    const password = typeof body?.password === 'string' ? body.password : '';
    const cookie = readCookie(req.headers.cookie, PRE_CSRF);
    if (!cookie || typeof body?._csrf !== 'string' || !safeEqual(body._csrf, cookie)) {
      return this.showForm(req, res, 403, next, ['The sign-in form had expired. Try again.'], email);
    }
    const problems: string[] = [];
    if (!email.trim() || email.length > 254) problems.push('Enter your email address');
    if (!password || password.length > 200) problems.push('Enter your password');
    if (problems.length) return this.showForm(req, res, 400, next, problems, email);
    const result = await this.accounts.signIn(email, password, req.ip ?? null);
    if (!result.ok) {
      const message = result.reason === 'locked'
        ? `This account is locked after too many failed sign-ins. Try again in ${this.config.LOCKOUT_MINUTES} minutes, or ask an administrator to unlock it.`
        : 'The email address or password is not right';
      return this.showForm(req, res, result.reason === 'locked' ? 423 : 401, next, [message], email);
    }
    const token = await this.sessions.create(result.principal.userId);
    res.clearCookie(PRE_CSRF, { path: '/sign-in' });
    res.cookie(this.sessions.cookieName(), token, this.sessions.cookieOptions());
    res.redirect(303, next);
  }

  @Get('sign-out')
  confirm(@Req() req: Request, @Res() res: Response): void {
    this.pages.render(req, res, 'sign-out.njk', { title: 'Sign out' });
  }

  @Post('sign-out')
  async signOut(@Req() req: DashboardRequest, @Res() res: Response): Promise<void> {
    const session = req.session!;
    await this.sessions.destroy(session.tokenHash);
    await this.audit.record(session.principal, { action: 'sign-out', ip: req.ip ?? null });
    res.clearCookie(this.sessions.cookieName(), this.sessions.cookieOptions());
    res.redirect(303, '/sign-in');
  }

  private showForm(req: Request, res: Response, status: number, next: string, errors: string[] = [], email = ''): void {
    const csrf = randomToken();
    res.cookie(PRE_CSRF, csrf, { httpOnly: true, secure: this.config.cookieSecure(), sameSite: 'strict', path: '/sign-in', maxAge: 30 * 60_000 });
    this.pages.render(req, res, 'sign-in.njk', { title: 'Sign in', signInCsrf: csrf, next, errors, email, oidc: this.oidc.enabled() ? { text: this.config.OIDC_BUTTON_TEXT, href: `/sign-in/oidc?next=${encodeURIComponent(next)}` } : null }, status);
  }
}
