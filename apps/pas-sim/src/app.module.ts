import { DynamicModule, Module } from '@nestjs/common';
import { IcsDirectory, PlatformModule, loadIcsDirectory } from '@app/platform';
import { AppointmentStore } from './appointment-store';
import { PasSimConfig } from './config';
import { DemoGenerator } from './demo';
import { FaultBox } from './faults';
import { FhirController } from './fhir.controller';
import { PtlPusher } from './ptl-pusher';
import { SimController } from './sim.controller';
import { SiuSender } from './siu-sender';

/** Sandbox: the four trusts' PASs (FHIR R4 Appointment), their SIU feeds and PTL exports, and the demo. */
@Module({})
export class PasSimModule {
  static forRoot(config: PasSimConfig): DynamicModule {
    return {
      module: PasSimModule,
      imports: [PlatformModule.forRoot({ config, configClass: PasSimConfig })],
      // SimController first: `sim/:ods/...` must not be taken for a trust called "sim".
      controllers: [SimController, FhirController],
      providers: [
        { provide: IcsDirectory, useValue: loadIcsDirectory(config.ICS_CONFIG_DIR) },
        AppointmentStore, SiuSender, FaultBox, PtlPusher, DemoGenerator,
      ],
    };
  }
}
