import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { SlotEventBatchDto, SlotEventBatchResult, SlotEventDto, TransferListQueryDto, WaitingListBatchDto, WritebackOutcomeDto } from '@app/contracts';
import { SlotEventsService } from './slot-events.service';
import { TransfersService } from './transfers.service';
import { TrustTokenGuard } from './trust-auth.guard';
import { WaitingListService } from './waiting-list.service';
import { WritebacksService } from './writebacks.service';

/** The API the trust adapters call. Every route is scoped to the trust of the presented token. */
@ApiTags('trust adapters')
@ApiBearerAuth()
@UseGuards(TrustTokenGuard)
@Controller('v1/trusts/:ods')
export class ExchangeController {
  constructor(
    private readonly events: SlotEventsService,
    private readonly waitingList: WaitingListService,
    private readonly writebacks: WritebacksService,
    private readonly transfers: TransfersService,
  ) {}

  @Post('events')
  @HttpCode(200)
  postEvent(@Param('ods') ods: string, @Body() event: SlotEventDto) {
    return this.events.handle(ods, event);
  }

  /** Internal: the adapter's forward worker sends the events it has gathered in one request. */
  @Post('events/batch')
  @HttpCode(200)
  async postEvents(@Param('ods') ods: string, @Body() batch: SlotEventBatchDto): Promise<SlotEventBatchResult> {
    return { results: await this.events.handleBatch(ods, batch.events) };
  }

  @Post('waiting-list')
  @HttpCode(200)
  postWaitingList(@Param('ods') ods: string, @Body() batch: WaitingListBatchDto) {
    return this.waitingList.applyBatch(ods, batch);
  }

  @Post('waiting-list/snapshots')
  startSnapshot(@Param('ods') ods: string) {
    return this.waitingList.startSnapshot(ods);
  }

  @Post('waiting-list/snapshots/:id/complete')
  @HttpCode(200)
  completeSnapshot(@Param('ods') ods: string, @Param('id', new ParseUUIDPipe()) id: string) {
    return this.waitingList.completeSnapshot(ods, id);
  }

  @Get('writebacks/:id')
  writeback(@Param('ods') ods: string, @Param('id', new ParseUUIDPipe()) id: string) {
    return this.writebacks.order(ods, id);
  }

  @Post('writebacks/:id/outcome')
  @HttpCode(200)
  writebackOutcome(@Param('ods') ods: string, @Param('id', new ParseUUIDPipe()) id: string, @Body() outcome: WritebackOutcomeDto) {
    return this.writebacks.outcome(ods, id, outcome);
  }

  /** Inter-provider transfers into this trust (the token's trust is the receiver; nobody else's are visible). */
  @Get('transfers')
  listTransfers(@Param('ods') ods: string, @Query() q: TransferListQueryDto) {
    return this.transfers.forReceivingTrust(ods, q);
  }
}
