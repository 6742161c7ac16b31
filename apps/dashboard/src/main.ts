import '@app/platform/telemetry-preload';
import { bootstrapApp, loadConfig } from '@app/platform';
import { DashboardModule } from './app.module';
import { DashboardConfig } from './config';
import { configureDashboard } from './http';

async function main(): Promise<void> {
  const config = loadConfig(DashboardConfig).check();
  await bootstrapApp(DashboardModule.forRoot(config), { config, configure: configureDashboard });
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
