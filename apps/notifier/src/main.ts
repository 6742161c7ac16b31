import '@app/platform/telemetry-preload';
import { bootstrapApp, loadConfig } from '@app/platform';
import { NotifierModule } from './app.module';
import { NotifierConfig } from './config';

async function main(): Promise<void> {
  const config = loadConfig(NotifierConfig);
  await bootstrapApp(NotifierModule.forRoot(config), { config });
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
