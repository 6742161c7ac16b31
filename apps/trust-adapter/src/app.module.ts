import { DynamicModule, Module } from '@nestjs/common';
import { PersistenceModule } from '@app/persistence';
import { IcsDirectory, PlatformModule, loadIcsDirectory } from '@app/platform';
import { AdapterController } from './adapter.controller';
import { ClinicMap } from './clinic-map';
import { AdapterConfig } from './config';
import { ExchangeClient } from './exchange.client';
import { FhirWritebackDriver, PAS_CIRCUIT_TIMING, PasCircuitTiming, PasWritebackDriver } from './fhir-writeback.driver';
import { FORWARD_REDRIVE_TIMING, ForwardRedriveTiming, ForwardRedriver } from './forward-redrive';
import { ForwardWorker } from './forward.worker';
import { ArchiveController } from './archive.controller';
import { Hl7ArchiveService } from './hl7-archive.service';
import { Hl7IntakeService } from './hl7-intake.service';
import { MllpListener } from './mllp.listener';
import { PtlService } from './ptl.service';
import { WritebackWorker } from './writeback.worker';

/** One trust's adapter: HL7 in (MLLP and HTTP), PTL in, write-back out. */
@Module({})
export class AdapterModule {
  /**
   * `redrive`: tests shorten the forwarding re-drive's timing; `circuit`: tests shorten the PAS
   * circuit breaker's cool-down. Production (main.ts) passes neither and keeps the defaults.
   */
  static forRoot(config: AdapterConfig, opts: { redrive?: Partial<ForwardRedriveTiming>; circuit?: Partial<PasCircuitTiming> } = {}): DynamicModule {
    return {
      module: AdapterModule,
      imports: [PlatformModule.forRoot({ config, configClass: AdapterConfig, redis: true }), PersistenceModule.forRoot()],
      controllers: [AdapterController, ArchiveController],
      providers: [
        { provide: IcsDirectory, useValue: loadIcsDirectory(config.ICS_CONFIG_DIR) },
        { provide: PasWritebackDriver, useClass: FhirWritebackDriver },
        { provide: FORWARD_REDRIVE_TIMING, useValue: opts.redrive ?? {} },
        { provide: PAS_CIRCUIT_TIMING, useValue: opts.circuit ?? {} },
        ClinicMap, ExchangeClient, Hl7ArchiveService, Hl7IntakeService, PtlService, ForwardWorker, ForwardRedriver, WritebackWorker, MllpListener,
      ],
    };
  }
}
