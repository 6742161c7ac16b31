/**
 * Sends stored SMS (`sms-outbound`). The row is re-read first: an offer whose slot went meanwhile
 * is not sent, a message already sent is not sent again. `reference` is our message id — no
 * personal data goes to Notify beyond the number and the text itself.
 */
import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { JobOutcome, JobPayloads, QueueName, SMS_TEMPLATES, SmsKind } from '@app/contracts';
import { enqueue } from '@app/persistence';
import { MetricsService, QueueService } from '@app/platform';
import { Job } from 'bullmq';
import { DataSource } from 'typeorm';
import { SmsGateway } from './notify.gateway';

@Injectable()
export class SmsSenderWorker implements OnApplicationBootstrap {
  private readonly logger = new Logger('sms-sender');

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly gateway: SmsGateway,
    private readonly queues: QueueService,
    private readonly metrics: MetricsService,
  ) {}

  onApplicationBootstrap(): void {
    this.queues.worker(QueueName.smsOutbound, (job: Job) => this.process(job.data as JobPayloads['send-sms']), { concurrency: 16 });
  }

  async process({ smsId }: JobPayloads['send-sms']): Promise<JobOutcome> {
    const [sms] = await this.ds.query(
      `SELECT m.id, m.kind, m.personalisation, m.status, m.offer_id, p.mobile, p.mobile_status, o.status AS offer_status
         FROM sms_message m JOIN patient p ON p.id = m.patient_id LEFT JOIN offer o ON o.id = m.offer_id
        WHERE m.id = $1`,
      [smsId],
    );
    if (!sms) return { status: 'skipped', reason: 'no such message' };
    if (sms.status !== 'queued') return { status: 'skipped', reason: `already ${sms.status}` };
    const skip = async (reason: string): Promise<JobOutcome> => {
      await this.ds.query(`UPDATE sms_message SET status = 'skipped', error = $2, status_at = now() WHERE id = $1 AND status = 'queued'`, [smsId, reason]);
      return { status: 'skipped', reason };
    };
    if (!sms.mobile || sms.mobile_status !== 'valid') return skip('no valid mobile');
    if (sms.kind === 'offer' && sms.offer_status !== 'live') return skip(`offer is ${sms.offer_status}`);
    const template = SMS_TEMPLATES[sms.kind as SmsKind];
    if (!template) return skip(`no template for ${sms.kind}`);

    const result = await this.gateway.send(template.id, sms.mobile, sms.personalisation, sms.id);
    this.metrics.counter('sms_sent_total', 'SMS sent through Notify by kind and outcome', ['kind', 'outcome']).inc({ kind: sms.kind, outcome: result.ok ? 'sent' : result.permanent ? 'refused' : 'retry' });
    if (result.ok) {
      await this.ds.query(`UPDATE sms_message SET status = 'sent', notify_id = $2, sent_at = now() WHERE id = $1`, [smsId, result.notifyId]);
      return { status: 'done' };
    }
    if (!result.permanent) throw new Error(`Notify answered ${result.status ?? 'nothing'}: ${result.message}`);
    await this.ds.transaction(async (tx) => {
      await tx.query(`UPDATE sms_message SET status = 'failed', error = $2, status_at = now() WHERE id = $1`, [smsId, result.message]);
      if (result.invalidNumber) {
        await tx.query(`UPDATE patient SET mobile_status = 'invalid', updated_at = now() WHERE id = (SELECT patient_id FROM sms_message WHERE id = $1)`, [smsId]);
      }
      // An offer nobody can receive moves on to the next patient now, not at expiry.
      if (sms.kind === 'offer' && sms.offer_id) await enqueue(tx, 'offer-undeliverable', { offerId: sms.offer_id });
    });
    this.logger.warn(`sms ${smsId} refused by Notify (${result.status}): ${result.message}`);
    return { status: 'done', reason: 'refused' };
  }
}
