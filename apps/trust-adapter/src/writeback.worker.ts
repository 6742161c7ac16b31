/**
 * This trust's write-back jobs: book or cancel in the PAS, then report to the exchange. Network
 * errors and 5xx are retried with exponential back-off (BullMQ attempts); on the last attempt, or
 * on a refusal that will not change, the failure is reported as permanent so that the patient is
 * told the truth and a person is asked to look.
 */
import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { JobOutcome, JobPayloads, QueueName, WritebackOrder } from '@app/contracts';
import { storableText } from '@app/domain';
import { MetricsService, QueueService } from '@app/platform';
import { Job } from 'bullmq';
import { AdapterConfig } from './config';
import { ExchangeClient } from './exchange.client';
import { PasWritebackDriver, WritebackResult } from './fhir-writeback.driver';

@Injectable()
export class WritebackWorker implements OnApplicationBootstrap {
  private readonly logger = new Logger('writeback');

  constructor(
    private readonly config: AdapterConfig,
    private readonly exchange: ExchangeClient,
    private readonly driver: PasWritebackDriver,
    private readonly queues: QueueService,
    private readonly metrics: MetricsService,
  ) {}

  onApplicationBootstrap(): void {
    this.queues.worker(QueueName.trustWriteback(this.config.TRUST_ODS), (job: Job) => this.process(job));
  }

  async process(job: Job): Promise<JobOutcome> {
    const { writebackId } = job.data as JobPayloads['write-back'];
    const order = await this.exchange.call<WritebackOrder>('GET', `/writebacks/${writebackId}`);
    if (order.status !== 'pending') return { status: 'skipped', reason: `write-back already ${order.status}` };
    let result: WritebackResult;
    try {
      result = order.kind === 'book' ? await this.driver.book(order) : await this.driver.cancel(order);
    } catch (e) {
      result = { ok: false, permanent: false, reason: `PAS unreachable: ${(e as Error).message}` };
    }
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    this.metrics.counter('pas_writebacks_total', 'PAS write-back attempts', ['trust', 'kind', 'outcome']).inc({ trust: this.config.TRUST_ODS, kind: order.kind, outcome: result.ok ? 'ok' : result.permanent ? 'refused' : 'retry' });
    if (result.ok) {
      await this.exchange.call('POST', `/writebacks/${writebackId}/outcome`, { outcome: 'succeeded', pasAppointmentId: result.pasAppointmentId });
      return { status: 'done' };
    }
    // The failures page shows the PAS's answer; logs and the job's error carry only our reason.
    const recorded = storableText(result.detail ? `${result.reason}: ${result.detail}` : result.reason);
    if (result.permanent || lastAttempt) {
      await this.exchange.call('POST', `/writebacks/${writebackId}/outcome`, { outcome: 'failed', permanent: true, reason: recorded });
      this.logger.error(`write-back ${writebackId} (${order.kind}) failed for good: ${result.reason}`);
      return { status: 'done', reason: 'failed' };
    }
    await this.exchange.call('POST', `/writebacks/${writebackId}/outcome`, { outcome: 'failed', permanent: false, reason: recorded }).catch(() => undefined);
    throw new Error(result.reason);
  }
}
