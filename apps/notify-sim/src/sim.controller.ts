/**
 * The sandbox's own routes (CONTRACT.md "Sandboxes"), unauthenticated because only the demo and
 * the tests ever reach them: what was sent, and a way to text the service back.
 */
import { Body, Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { IsString, MaxLength } from 'class-validator';
import { NotifySimService, ReplyOutcome } from './notify-sim.service';
import { simMessageView } from './notify-views';

export class SimReplyDto {
  /** The patient's number, any UK spelling (`+447…`, `07…`, `447…`). */
  @IsString() @MaxLength(32)
  phone: string;

  /** What they typed; long texts arrive concatenated, as a real handset sends them. */
  @IsString() @MaxLength(1600)
  message: string;
}

@Controller('sim')
export class SimController {
  constructor(private readonly sim: NotifySimService) {}

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
