import '@app/platform/telemetry-preload';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { bootstrapApp, loadConfig } from '@app/platform';
import { ExchangeModule } from './app.module';
import { ExchangeConfig } from './config';

async function main(): Promise<void> {
  const config = loadConfig(ExchangeConfig);
  await bootstrapApp(ExchangeModule.forRoot(config), {
    config,
    // A 5,000-row PTL batch is a few MB of JSON.
    bodyLimit: '20mb',
    configure: (app) => {
      const doc = SwaggerModule.createDocument(app, new DocumentBuilder().setTitle('ICS Slot Exchange').setVersion('1').addBearerAuth().build());
      SwaggerModule.setup('docs', app, doc);
    },
  });
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
