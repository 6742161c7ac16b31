/** For the trust's interface team and operators: the raw archive by MSH-10, and the clinic codes the mapping lacks. */
import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import { AppError } from '@app/platform';
import { PasInboundGuard } from './adapter.controller';
import { ClinicMap } from './clinic-map';
import { AdapterConfig } from './config';
import { Hl7ArchiveService } from './hl7-archive.service';

@UseGuards(PasInboundGuard)
@Controller('v1')
export class ArchiveController {
  constructor(
    private readonly archive: Hl7ArchiveService,
    private readonly clinics: ClinicMap,
    private readonly config: AdapterConfig,
  ) {}

  /** What was received under one control id, what it was answered, and what became of it. */
  @Get('messages')
  async messages(@Query('controlId') controlId: string | undefined) {
    if (typeof controlId !== 'string' || controlId === '' || controlId.length > 199) {
      throw new AppError('control_id_required', 'Give ?controlId=<MSH-10> (at most 199 characters)', 400);
    }
    return { messages: await this.archive.byControlId(controlId) };
  }

  /** Clinic codes this trust sent that its mapping in force does not know, most frequent first. */
  @Get('unmapped-clinics')
  async unmappedClinics() {
    return { trust: this.config.TRUST_ODS, mappingVersion: this.clinics.version, clinics: await this.archive.unmapped() };
  }
}
