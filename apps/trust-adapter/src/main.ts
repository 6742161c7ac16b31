// First: GC tuning for the whole process (see heap-tuning.ts).
import './heap-tuning';
import '@app/platform/telemetry-preload';
import { bootstrapApp, loadConfig } from '@app/platform';
import { AdapterModule } from './app.module';
import { AdapterConfig } from './config';

async function main(): Promise<void> {
  const config = loadConfig(AdapterConfig).resolve();
  await bootstrapApp(AdapterModule.forRoot(config), { config });
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
