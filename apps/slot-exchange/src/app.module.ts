import { DynamicModule, Module } from '@nestjs/common';
import { PersistenceModule, StateMetrics } from '@app/persistence';
import { IcsDirectory, PlatformModule, loadIcsDirectory } from '@app/platform';
import { ExchangeConfig } from './config';
import { ExchangeController } from './exchange.controller';
import { MATCHING_SWEEP_TIMING, MatchingSweep, MatchingSweepTiming } from './matching-sweep';
import { MatchingWorker } from './matching.worker';
import { PolicyService, exchangePolicy } from './policy.service';
import { SlotEventsService } from './slot-events.service';
import { POLICY } from './tokens';
import { TransfersService } from './transfers.service';
import { TravelDistances } from './travel-distance';
import { TrustTokenGuard } from './trust-auth.guard';
import { WaitingListService } from './waiting-list.service';
import { WritebacksService } from './writebacks.service';

/** The slot exchange: ICS-wide slots, waiting list and offers; the API for adapters; the matching engine. */
@Module({})
export class ExchangeModule {
  /** `sweep`: in-process tests set the matching sweep's timing here (a spawned process takes MATCHING_SWEEP_MS and MATCHING_SWEEP_GRACE_MS). */
  static forRoot(config: ExchangeConfig, opts: { sweep?: Partial<MatchingSweepTiming> } = {}): DynamicModule {
    const ics = loadIcsDirectory(config.ICS_CONFIG_DIR);
    return {
      module: ExchangeModule,
      imports: [PlatformModule.forRoot({ config, configClass: ExchangeConfig, redis: true }), PersistenceModule.forRoot()],
      controllers: [ExchangeController],
      providers: [
        { provide: IcsDirectory, useValue: ics },
        { provide: POLICY, useValue: exchangePolicy(config) },
        { provide: TravelDistances, useValue: TravelDistances.load(config.POSTCODE_CENTROIDS_FILE, ics) },
        { provide: MATCHING_SWEEP_TIMING, useValue: opts.sweep ?? {} },
        TrustTokenGuard, SlotEventsService, WaitingListService, WritebacksService, TransfersService, MatchingWorker, MatchingSweep, PolicyService, StateMetrics,
      ],
    };
  }
}
