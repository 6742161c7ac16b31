/** What the dashboard adds to express beyond Nest routes: static assets and Bull Board. */
import { INestApplication } from '@nestjs/common';
import { repoRoot } from '@app/platform';
import { static as serveStatic } from 'express';
import { join } from 'node:path';
import { mountBullBoard } from './bull-board';

export function configureDashboard(app: INestApplication): void {
  const express = app.getHttpAdapter().getInstance() as import('express').Express;
  const nhsuk = join(repoRoot(), 'node_modules', 'nhsuk-frontend', 'dist', 'nhsuk');
  express.use('/assets', serveStatic(join(nhsuk, 'assets'), { maxAge: '1d' }));
  express.get('/assets/nhsuk-frontend.min.css', (_req, res) => res.sendFile(join(nhsuk, 'nhsuk-frontend.min.css')));
  express.get('/static/chart.umd.min.js', (_req, res) => res.sendFile(join(repoRoot(), 'node_modules', 'chart.js', 'dist', 'chart.umd.min.js')));
  express.use('/static', serveStatic(join(repoRoot(), 'apps', 'dashboard', 'public'), { maxAge: '1h' }));
  mountBullBoard(app);
}
