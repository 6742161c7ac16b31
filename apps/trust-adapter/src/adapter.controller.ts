import { Controller, Get, HttpCode, HttpException, Post, Query, Req, Res, UseGuards } from '@nestjs/common';
import { TransferListQueryDto, TransferRecord } from '@app/contracts';
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

  /** The ACK is the body: 200 for AA, 422 for AE/AR. */
  @Post('hl7')
  async hl7(@Req() req: Request, @Res() res: Response): Promise<void> {
    const raw = await readText(req, this.config.MLLP_MAX_MESSAGE_BYTES + 1);
    const result = await this.intake.receive(raw.replace(/\r\n|\n/g, '\r'));
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
    if (q.since) params.set('since', q.since);
    if (q.limit) params.set('limit', String(q.limit));
    return this.exchange.call<TransferRecord[]>('GET', `/transfers${params.size ? `?${params}` : ''}`);
  }
}

async function readText(req: Request, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > limit) throw new HttpException({ error: 'payload_too_large', message: `An HL7 message may be at most ${limit - 1} bytes` }, 413);
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}
