import '@app/platform/telemetry-preload';
import { bootstrapApp, loadConfig } from '@app/platform';
import { PasSimModule } from './app.module';
import { PasSimConfig } from './config';

async function main(): Promise<void> {
  const config = loadConfig(PasSimConfig);
  await bootstrapApp(PasSimModule.forRoot(config), { config, bodyLimit: '5mb' });
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
