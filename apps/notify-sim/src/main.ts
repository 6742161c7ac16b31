import '@app/platform/telemetry-preload';
import { bootstrapApp, loadConfig } from '@app/platform';
import { AppModule } from './app.module';
import { NotifySimConfig } from './config';

async function main(): Promise<void> {
  const config = loadConfig(NotifySimConfig);
  await bootstrapApp(AppModule.forRoot(config), { config });
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
