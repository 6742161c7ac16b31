/** The dashboard as its integration tests run it: a fresh database with the real migrations, Redis db 7, a random port, demo accounts. */
import { INestApplication } from '@nestjs/common';
import { createTestDatabase } from '@app/persistence';
import { bootstrapApp, loadConfig } from '@app/platform';
import { Client } from 'pg';
import { DashboardModule } from '../app.module';
import { DashboardConfig } from '../config';
import { configureDashboard } from '../http';

export interface TestDashboard {
  app: INestApplication;
  /** A connection to the dashboard's database, for seeding and checking. */
  pg: Client;
  /** `http://127.0.0.1:<port>` */
  base: string;
  stop(): Promise<void>;
}

export async function startTestDashboard(dbPrefix: string, env: Record<string, string> = {}): Promise<TestDashboard> {
  const db = await createTestDatabase(dbPrefix);
  const pg = new Client({ connectionString: db.url });
  await pg.connect();
  const REDIS_URL = `${(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379').replace(/\/\d+$/, '')}/7`;
  const config = loadConfig(DashboardConfig, {
    DATABASE_URL: db.url, REDIS_URL, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', DASHBOARD_DEMO_ACCOUNTS: '1', LIVE_INTERVAL_MS: '300', PASSWORD_COST_LOG2: '12', ...env,
  }).check();
  const app = await bootstrapApp(DashboardModule.forRoot(config), { config, configure: configureDashboard });
  return {
    app, pg,
    base: (await app.getUrl()).replace('[::1]', '127.0.0.1'),
    async stop() {
      await app.close();
      await pg.end();
      await db.drop();
    },
  };
}
