import '@app/platform/telemetry-preload';
import { bootstrapApp, loadConfig, repoRoot } from '@app/platform';
import { join } from 'node:path';
import { static as serveStatic } from 'express';
import { NotifierModule } from './app.module';
import { NotifierConfig } from './config';

async function main(): Promise<void> {
  const config = loadConfig(NotifierConfig).check();
  await bootstrapApp(NotifierModule.forRoot(config), {
    config,
    configure: (app) => {
      // The design system's stylesheet and images, served from the installed package.
      const express = app.getHttpAdapter().getInstance() as import('express').Express;
      const dist = join(repoRoot(), 'node_modules', 'nhsuk-frontend', 'dist', 'nhsuk');
      express.use('/assets', serveStatic(join(dist, 'assets'), { maxAge: '1d' }));
      express.get('/assets/nhsuk-frontend.min.css', (_req, res) => res.sendFile(join(dist, 'nhsuk-frontend.min.css')));
    },
  });
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
