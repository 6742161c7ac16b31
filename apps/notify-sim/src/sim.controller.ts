/**
 * The sandbox's own routes (CONTRACT.md "Sandboxes"), unauthenticated because only the demo and
 * the tests ever reach them: what was sent, and a way to text the service back.
 */
import { Body, Controller, Delete, Get, HttpCode, Post, Query } from '@nestjs/common';
import { IsIn, IsInt, IsString, Max, MaxLength, Min } from 'class-validator';
import { NotifySimService, ReplyOutcome } from './notify-sim.service';
import { simMessageView } from './notify-views';
import { OUTAGE_KINDS, Outage, OutageKind } from './outage';
import { SlowSends, SlowSendsState } from './slow-sends';

export class SimReplyDto {
  /** The patient's number, any UK spelling (`+447…`, `07…`, `447…`). */
  @IsString() @MaxLength(32)
  phone: string;

  /** What they typed; long texts arrive concatenated, as a real handset sends them. */
  @IsString() @MaxLength(1600)
  message: string;
}

export class SimOutageDto {
  @IsIn(OUTAGE_KINDS)
  kind: OutageKind;

  /** How long Notify stays down; a later call replaces it. */
  @IsInt() @Min(1) @Max(24 * 3600)
  seconds: number;
}

export class SimSlowSendsDto {
  /** How long Notify works on each text before it answers (and before the text is held). */
  @IsInt() @Min(1) @Max(600_000)
  ms: number;

  /** For how long sends are this slow; a later call replaces it. */
  @IsInt() @Min(1) @Max(24 * 3600)
  seconds: number;
}

const slowView = (s: SlowSendsState | null) => (s ? { ms: s.ms, until: s.until.toISOString() } : null);

const outageView = (o: { kind: OutageKind; until: Date } | null) => (o ? { kind: o.kind, until: o.until.toISOString() } : null);

@Controller('sim')
export class SimController {
  constructor(
    private readonly sim: NotifySimService,
    private readonly outage: Outage,
    private readonly slow: SlowSends,
  ) {}

  /** Notify down for a while: every `/v2` request fails the same way until then (outage.ts). */
  @Post('outage')
  @HttpCode(200)
  startOutage(@Body() dto: SimOutageDto) {
    return outageView(this.outage.start(dto.kind, dto.seconds));
  }

  @Get('outage')
  currentOutage() {
    return { outage: outageView(this.outage.current()) };
  }

  /** Notify back now. */
  @Delete('outage')
  @HttpCode(204)
  endOutage(): void {
    this.outage.end();
  }

  /** Notify slow to take texts for a while (slow-sends.ts): a send is held only once it is answered. */
  @Post('slow-sends')
  @HttpCode(200)
  startSlowSends(@Body() dto: SimSlowSendsDto) {
    return slowView(this.slow.start(dto.ms, dto.seconds));
  }

  @Get('slow-sends')
  currentSlowSends() {
    return { slowSends: slowView(this.slow.current()) };
  }

  @Delete('slow-sends')
  @HttpCode(204)
  endSlowSends(): void {
    this.slow.end();
  }

  @Get('messages')
  messages(@Query('phone') phone?: string | string[]) {
    return this.sim.messages(Array.isArray(phone) ? phone[0] : phone).map(simMessageView);
  }

  /** Answers after the notifier's callback has answered, so a test can act on the outcome at once. */
  @Post('reply')
  @HttpCode(200)
  async reply(@Body() dto: SimReplyDto): Promise<ReplyOutcome> {
    const { id, delivered, status } = await this.sim.reply(dto.phone, dto.message);
    return { delivered, status, id };
  }
}
