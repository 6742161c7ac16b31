import '@app/platform/telemetry-preload';
import { bootstrapApp, loadConfig } from '@app/platform';
import { BookingModule } from './app.module';
import { BookingConfig } from './config';

async function main(): Promise<void> {
  const config = loadConfig(BookingConfig);
  await bootstrapApp(BookingModule.forRoot(config), { config });
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
