/** Server-rendered NHS design system pages (nhsuk-frontend's own Nunjucks templates). */
import { Injectable } from '@nestjs/common';
import { repoRoot } from '@app/platform';
import type { Response } from 'express';
import { join } from 'node:path';
import nunjucks from 'nunjucks';

@Injectable()
export class OfferPageRenderer {
  private readonly env = nunjucks.configure(
    [join(repoRoot(), 'apps', 'notifier', 'views'), join(repoRoot(), 'node_modules', 'nhsuk-frontend', 'dist')],
    { autoescape: true, noCache: false },
  );

  render(res: Response, status: number, view: string, context: Record<string, unknown>): void {
    // No caching (the page shows an offer to one person), no token leaking through Referer, and
    // no framing: an Accept button must not be clickable from inside someone else's page.
    res.status(status).type('html').setHeader('cache-control', 'no-store').setHeader('referrer-policy', 'no-referrer');
    res.setHeader('x-frame-options', 'DENY').setHeader('content-security-policy', "frame-ancestors 'none'");
    res.send(this.env.render(view, context));
  }

  message(res: Response, status: number, heading: string, body: string, opts: { confirmation?: boolean; back?: { href: string; text: string } } = {}): void {
    this.render(res, status, 'message.njk', { title: heading, heading, body, confirmation: opts.confirmation === true, back: opts.back });
  }
}
