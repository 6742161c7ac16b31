import { Controller, Get, HttpCode, Post, Query, Req, Res, UseGuards } from '@nestjs/common';
import { TransferListQueryDto, TransferRecord } from '@app/contracts';
import { OVERSIZED_HEAD_BYTES, normaliseSegmentEnds } from '@app/hl7';
import { AppError, StaticBearerGuard } from '@app/platform';
import type { Request, Response } from 'express';
import { AdapterConfig } from './config';
import { ExchangeClient } from './exchange.client';
import { Hl7IntakeService } from './hl7-intake.service';
import { PtlService } from './ptl.service';

let inboundToken = '';
export const PasInboundGuard = StaticBearerGuard(() => inboundToken);

/** The trust's HTTP edge: one HL7 message per `POST /hl7`, PTL uploads, and the patients transferred in. */
@UseGuards(PasInboundGuard)
@Controller()
export class AdapterController {
  constructor(
    private readonly intake: Hl7IntakeService,
    private readonly ptl: PtlService,
    private readonly config: AdapterConfig,
    private readonly exchange: ExchangeClient,
  ) {
    inboundToken = config.PAS_INBOUND_TOKEN!;
  }

  /**
   * The ACK is the body: 200 for AA, 422 for AE/AR. A body over MLLP_MAX_MESSAGE_BYTES is an ACK
   * too (AR, as over MLLP), not a 413: an integration engine reads ACKs, and the message is kept
   * for inspection (its head and size) like any other refused one.
   */
  @Post('hl7')
  async hl7(@Req() req: Request, @Res() res: Response): Promise<void> {
    const body = await readMessage(req, this.config.MLLP_MAX_MESSAGE_BYTES);
    const result = 'text' in body
      ? await this.intake.receive(normaliseSegmentEnds(body.text))
      : await this.intake.receiveOversized(normaliseSegmentEnds(body.head), body.bytes);
    res.status(result.code === 'AA' ? 200 : 422).type('application/hl7-v2').send(result.ack);
  }

  @Post('v1/ptl')
  @HttpCode(200)
  async uploadPtl(@Req() req: Request, @Query('mode') mode: string | undefined) {
    const m = mode ?? 'snapshot';
    if (m !== 'snapshot' && m !== 'delta') throw new AppError('bad_mode', `mode must be snapshot or delta, not ${m}`, 400);
    const type = String(req.headers['content-type'] ?? '');
    if (!/^(text\/csv|application\/csv|text\/plain)/i.test(type)) {
      throw new AppError('unsupported_media_type', 'Send the PTL as text/csv', 415);
    }
    return this.ptl.import(req, m);
  }

  /**
   * Inter-provider transfers into this trust (patients booked here from another trust's list), for
   * the integration team to add to the PTL. Read through the exchange with this adapter's own
   * credential, which sees its own trust's transfers only.
   */
  @Get('v1/transfers')
  transfers(@Query() q: TransferListQueryDto): Promise<TransferRecord[]> {
    const params = new URLSearchParams();
    if (q.after) params.set('after', q.after);
    if (q.since) params.set('since', q.since);
    if (q.limit) params.set('limit', String(q.limit));
    return this.exchange.call<TransferRecord[]>('GET', `/transfers${params.size ? `?${params}` : ''}`);
  }
}

/**
 * The body as text, or, when it is over `limit` bytes, its first OVERSIZED_HEAD_BYTES and its size:
 * the rest is read and dropped (as the MLLP decoder skips an oversized frame), so memory stays
 * bounded whatever is sent and the sender still gets its answer.
 */
async function readMessage(req: Request, limit: number): Promise<{ text: string } | { head: string; bytes: number }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let head: Buffer | undefined;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (!head && size > limit) {
      head = Buffer.concat([...chunks, c]).subarray(0, OVERSIZED_HEAD_BYTES);
      chunks.length = 0;
    }
    if (!head) chunks.push(c);
  }
  return head ? { head: head.toString('utf8'), bytes: size } : { text: Buffer.concat(chunks).toString('utf8') };
}
