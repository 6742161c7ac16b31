import { DynamicModule, Module } from '@nestjs/common';
import { PersistenceModule } from '@app/persistence';
import { IcsDirectory, PlatformModule, loadIcsDirectory, policyFromConfig } from '@app/platform';
import { BookingConfig } from './config';
import { RepliesWorker } from './replies.worker';
import { Reconciler } from './reconciler';
import { POLICY } from './tokens';
import { WritebackOutcomesWorker } from './writeback-outcomes.worker';

/** Booking: turns an acceptance into a booking, and a PAS's answer into the patient's confirmation. */
@Module({})
export class BookingModule {
  static forRoot(config: BookingConfig): DynamicModule {
    return {
      module: BookingModule,
      imports: [PlatformModule.forRoot({ config, configClass: BookingConfig, redis: true }), PersistenceModule.forRoot()],
      providers: [
        { provide: IcsDirectory, useValue: loadIcsDirectory(config.ICS_CONFIG_DIR) },
        { provide: POLICY, useValue: policyFromConfig(config) },
        RepliesWorker, WritebackOutcomesWorker, Reconciler,
      ],
    };
  }
}
