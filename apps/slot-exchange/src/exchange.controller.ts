import { Body, Controller, ExecutionContext, Get, HttpCode, Param, ParseUUIDPipe, Post, Query, UseGuards, createParamDecorator } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiTags } from '@nestjs/swagger';
import { SlotEventBatchDto, SnapshotCompleteDto, SlotEventBatchResult, SlotEventDto, TransferListQueryDto, WaitingListBatchDto, WaitingListColumns, WritebackOutcomeDto } from '@app/contracts';
import { strictValidationPipe } from '@app/platform';
import { SlotEventsService } from './slot-events.service';
import { TransfersService } from './transfers.service';
import { TrustTokenGuard } from './trust-auth.guard';
import { WaitingListService } from './waiting-list.service';
import { WritebacksService } from './writebacks.service';

/**
 * The JSON body as parsed, before the global ValidationPipe (custom parameter decorators skip it).
 * A columnar waiting-list batch holds some 90,000 values, which the pipe would copy and walk one
 * by one: that was most of the exchange's time on a PTL import. `checkWaitingListColumns` checks
 * them instead, and the rest of the body still goes through the pipe.
 */
const JsonBody = createParamDecorator((_: unknown, ctx: ExecutionContext) => ctx.switchToHttp().getRequest<{ body?: unknown }>().body);
const validationPipe = strictValidationPipe();

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
  @ApiBody({ type: WaitingListBatchDto })
  async postWaitingList(@Param('ods') ods: string, @JsonBody() body: unknown) {
    const { columns, ...rest } = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {}) as Record<string, unknown>;
    const batch: WaitingListBatchDto = await validationPipe.transform(rest, { type: 'body', metatype: WaitingListBatchDto });
    if (columns !== undefined) batch.columns = columns as WaitingListColumns;
    return this.waitingList.applyBatch(ods, batch);
  }

  @Post('waiting-list/snapshots')
  startSnapshot(@Param('ods') ods: string) {
    return this.waitingList.startSnapshot(ods);
  }

  @Post('waiting-list/snapshots/:id/complete')
  @HttpCode(200)
  completeSnapshot(@Param('ods') ods: string, @Param('id', new ParseUUIDPipe()) id: string, @Body() filed: SnapshotCompleteDto) {
    return this.waitingList.completeSnapshot(ods, id, filed ?? {});
  }

  /** The adapter gave the snapshot up (its import failed part-way): it closes nothing, and the trust may send the next one at once. */
  @Post('waiting-list/snapshots/:id/abandon')
  @HttpCode(200)
  abandonSnapshot(@Param('ods') ods: string, @Param('id', new ParseUUIDPipe()) id: string) {
    return this.waitingList.abandonSnapshot(ods, id);
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
