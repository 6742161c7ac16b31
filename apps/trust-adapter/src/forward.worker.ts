/**
 * Forwards each accepted HL7 message, as its canonical event, to the exchange. At-least-once:
 * the exchange de-duplicates by event id. A refusal by the exchange (4xx) is recorded on the
 * archived message for an operator instead of being retried forever.
 */
import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { JobOutcome, JobPayloads, QueueName, SlotEventResult } from '@app/contracts';
import { QueueService } from '@app/platform';
import { Job } from 'bullmq';
import { DataSource } from 'typeorm';
import { AdapterConfig } from './config';
import { ExchangeClient, ExchangeHttpError } from './exchange.client';

@Injectable()
export class ForwardWorker implements OnApplicationBootstrap {
  private readonly logger = new Logger('forward');

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly config: AdapterConfig,
    private readonly exchange: ExchangeClient,
    private readonly queues: QueueService,
  ) {}

  onApplicationBootstrap(): void {
    this.queues.worker(QueueName.trustInbound(this.config.TRUST_ODS), (job: Job) => this.process(job.data as JobPayloads['forward-hl7']));
  }

  async process({ hl7MessageId }: JobPayloads['forward-hl7']): Promise<JobOutcome> {
    const [msg] = await this.ds.query(`SELECT id, event, forwarded_at FROM hl7_message WHERE id = $1 AND trust_ods = $2`, [hl7MessageId, this.config.TRUST_ODS]);
    if (!msg) return { status: 'skipped', reason: 'no such message' };
    if (msg.forwarded_at) return { status: 'skipped', reason: 'already forwarded' };
    let outcome: string;
    try {
      const res = await this.exchange.call<SlotEventResult>('POST', '/events', msg.event);
      outcome = res.outcome;
    } catch (e) {
      if (!(e instanceof ExchangeHttpError) || !e.permanent) throw e;
      outcome = `refused by exchange: ${e.message}`;
      this.logger.error(`message ${hl7MessageId} ${outcome}`);
    }
    await this.ds.query(`UPDATE hl7_message SET forwarded_at = now(), forward_outcome = $2 WHERE id = $1`, [hl7MessageId, outcome]);
    return { status: 'done', reason: outcome };
  }
}
