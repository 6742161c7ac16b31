/** Sandbox-only controls of the simulated PASs (never deployed to production). */
import { Body, Controller, Delete, Get, HttpCode, NotFoundException, ConflictException, Param, Post } from '@nestjs/common';
import { IcsDirectory } from '@app/platform';
import { IsInt, IsOptional, IsString, Length, Max, Min } from 'class-validator';
import { AppointmentStore } from './appointment-store';
import { DemoGenerator } from './demo';
import { FaultBox } from './faults';
import { PtlPusher } from './ptl-pusher';
import { SiuSender } from './siu-sender';

export class CancelDto {
  @IsString() @Length(1, 128) appointmentId: string;
}

export class FaultsDto {
  @IsOptional() @IsInt() @Min(0) @Max(1000) failNext?: number;
  @IsOptional() @IsInt() @Min(0) @Max(120000) delayMs?: number;
  @IsOptional() @IsInt() @Min(0) @Max(1000) dropAfterCommitNext?: number;
}

@Controller('sim/:ods')
export class SimController {
  constructor(
    private readonly store: AppointmentStore,
    private readonly ics: IcsDirectory,
    private readonly siu: SiuSender,
    private readonly faults: FaultBox,
    private readonly demo: DemoGenerator,
    private readonly ptl: PtlPusher,
  ) {}

  private trust(ods: string): string {
    if (!this.ics.trust(ods)) throw new NotFoundException({ error: 'unknown_trust', message: `${ods} is not a trust of this ICS` });
    return ods;
  }

  @Get('appointments')
  appointments(@Param('ods') ods: string) {
    return this.store.all(this.trust(ods));
  }

  @Post('cancel')
  @HttpCode(200)
  async cancel(@Param('ods') ods: string, @Body() body: CancelDto) {
    const a = this.store.get(this.trust(ods), body.appointmentId);
    if (!a) throw new NotFoundException({ error: 'unknown_appointment', message: `No appointment ${body.appointmentId} at ${ods}` });
    if (a.status === 'cancelled') throw new ConflictException({ error: 'already_cancelled', message: `Appointment ${a.id} is already cancelled` });
    const cancelled = this.store.update(ods, a.id, { ...a, status: 'cancelled', cancelationReason: { coding: [{ code: 'pat' }] } });
    return { appointmentId: a.id, ack: await this.siu.cancelled(ods, cancelled) };
  }

  @Post('ptl')
  @HttpCode(200)
  push(@Param('ods') ods: string) {
    return this.ptl.push(this.trust(ods), this.demo.patients.get(ods) ?? []);
  }

  @Post('faults')
  @HttpCode(200)
  setFaults(@Param('ods') ods: string, @Body() body: FaultsDto) {
    return this.faults.set(this.trust(ods), body);
  }

  @Delete('faults')
  @HttpCode(204)
  clearFaults(@Param('ods') ods: string): void {
    this.faults.clear(this.trust(ods));
  }
}
