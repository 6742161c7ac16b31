import { DynamicModule, Module } from '@nestjs/common';
import { PlatformModule } from '@app/platform';
import { NotifySimConfig } from './config';
import { NotifierCallbacks } from './notifier-callbacks';
import { NotifyApiController } from './notify-api.controller';
import { NotifyAuthGuard } from './notify-auth';
import { NotifySimService } from './notify-sim.service';
import { Outage, OutageGuard } from './outage';
import { SimController } from './sim.controller';
import { SlowSends } from './slow-sends';

/** The Notify sandbox: Notify's API v2 for the notifier, `/sim/*` for the demo and the tests. No database, no Redis. */
@Module({})
export class AppModule {
  static forRoot(config: NotifySimConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [PlatformModule.forRoot({ config, configClass: NotifySimConfig })],
      controllers: [NotifyApiController, SimController],
      providers: [NotifyAuthGuard, NotifierCallbacks, NotifySimService, Outage, OutageGuard, SlowSends],
    };
  }
}
