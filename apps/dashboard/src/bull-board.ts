/**
 * Bull Board for administrators at /admin/queues: every queue of the ICS, read-only. Re-driving
 * work goes through the failures page instead, where it is validated and audited; a raw job retry
 * here would bypass both. It is plain express (not a Nest route), so it checks the session and the
 * `view-queues` capability itself; its API calls (the page polls them) do not keep a session alive.
 */
import { INestApplication } from '@nestjs/common';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { QueueName } from '@app/contracts';
import { IcsDirectory, QueueService } from '@app/platform';
import type { NextFunction, Request, Response } from 'express';
import { AuditService } from './audit.service';
import { can } from './auth/access';
import { SessionsService, readCookie } from './auth/sessions.service';

export const QUEUES_PATH = '/admin/queues';

export function allQueueNames(ics: IcsDirectory): string[] {
  return [
    QueueName.slotMatching, QueueName.smsOutbound, QueueName.offerReplies, QueueName.bookingEvents,
    ...ics.trusts.flatMap((t) => [QueueName.trustInbound(t.ods), QueueName.trustWriteback(t.ods)]),
  ];
}

export function mountBullBoard(app: INestApplication): void {
  const queues = app.get(QueueService);
  const ics = app.get(IcsDirectory);
  const sessions = app.get(SessionsService);
  const audit = app.get(AuditService);
  const adapter = new ExpressAdapter();
  adapter.setBasePath(QUEUES_PATH);
  createBullBoard({
    queues: allQueueNames(ics).map((name) => new BullMQAdapter(queues.queue(name), { readOnlyMode: true })),
    // @bull-board/express 9.10.1 types against its own copy of @bull-board/api; the shapes are the same.
    serverAdapter: adapter as unknown as Parameters<typeof createBullBoard>[0]['serverAdapter'],
    options: { uiConfig: { boardTitle: 'ICS queues' } },
  });
  const express = app.getHttpAdapter().getInstance() as import('express').Express;
  express.use(QUEUES_PATH, (req: Request, res: Response, next: NextFunction) => {
    void (async () => {
      // The board's page polls its API every few seconds: that is the open tab, not the admin, so
      // it checks the session without extending it (as the live stream does); page loads count.
      const polling = req.path.startsWith('/api/');
      const session = await sessions.resolve(readCookie(req.headers.cookie, sessions.cookieName()), { activity: !polling });
      if (!session) return res.redirect(303, `/sign-in?next=${encodeURIComponent(QUEUES_PATH)}`);
      if (!can(session.principal, 'view-queues')) return res.status(403).type('text/plain').send('Only administrators may see the queues.');
      if (req.method === 'GET' && (req.path === '/' || req.path === '')) {
        await audit.record(session.principal, { action: 'view-queues', ip: req.ip ?? null });
      }
      next();
    })().catch(next);
  }, adapter.getRouter());
}
