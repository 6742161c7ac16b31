/**
 * GOV.UK Notify's callbacks: received texts and delivery receipts. Both need the callback bearer
 * token. A received text is stored once per Notify id (Notify retries callbacks) together with
 * the job that acts on it, in one transaction.
 */
import { Body, Controller, HttpCode, Post, UseGuards } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { enqueue, rows } from '@app/persistence';
import { parseReply, normaliseUkMobile } from '@app/domain';
import { MetricsService, StaticBearerGuard } from '@app/platform';
import { IsDateString, IsIn, IsInt, IsOptional, IsString, Length } from 'class-validator';
import { DataSource } from 'typeorm';
import { NotifierConfig } from './config';

export class ReceivedTextDto {
  @IsString() @Length(1, 100) id: string;
  @IsString() @Length(5, 20) source_number: string;
  @IsString() @Length(1, 20) destination_number: string;
  @IsString() @Length(0, 1600) message: string;
  @IsDateString() date_received: string;
}

export class DeliveryReceiptDto {
  @IsString() @Length(1, 100) id: string;
  @IsOptional() @IsString() reference?: string | null;
  @IsOptional() @IsString() to?: string;
  /** Notify's statuses for a text; anything else is not a receipt we understand. */
  @IsIn(['created', 'sending', 'pending', 'sent', 'delivered', 'permanent-failure', 'temporary-failure', 'technical-failure'])
  status: string;
  @IsOptional() @IsString() created_at?: string;
  @IsOptional() @IsString() completed_at?: string | null;
  @IsOptional() @IsString() sent_at?: string | null;
  @IsOptional() @IsString() notification_type?: string;
  @IsOptional() @IsString() template_id?: string;
  @IsOptional() @IsInt() template_version?: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

let callbackToken = '';
export const CallbackGuard = StaticBearerGuard(() => callbackToken);

@UseGuards(CallbackGuard)
@Controller('notify')
export class CallbacksController {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly metrics: MetricsService,
    config: NotifierConfig,
  ) {
    callbackToken = config.NOTIFY_CALLBACK_TOKEN;
  }

  @Post('inbound')
  @HttpCode(200)
  async inbound(@Body() text: ReceivedTextDto) {
    const mobile = normaliseUkMobile(text.source_number);
    const reply = parseReply(text.message);
    const stored = await this.ds.transaction(async (tx) => {
      // Several pathways share one patient; a number is one person's (the PTL's latest row wins).
      const [patient] = mobile ? await tx.query(`SELECT id FROM patient WHERE mobile = $1 ORDER BY updated_at DESC LIMIT 1`, [mobile]) : [];
      const rows: Array<{ id: string }> = await tx.query(
        `INSERT INTO patient_reply (channel, external_id, patient_id, intent, code) VALUES ('sms', $1, $2, $3, $4)
         ON CONFLICT (channel, external_id) DO NOTHING RETURNING id`,
        [text.id, patient?.id ?? null, reply.kind, 'code' in reply ? reply.code : null],
      );
      if (rows.length > 0) await enqueue(tx, 'process-reply', { replyId: rows[0].id });
      return rows.length > 0;
    });
    this.metrics.counter('sms_received_total', 'Received texts by parsed intent', ['intent', 'duplicate']).inc({ intent: reply.kind, duplicate: String(!stored) });
    return { received: true, duplicate: !stored };
  }

  /**
   * A delivery receipt, recorded on the message it is about: found by our `reference` (our own
   * message id, so a receipt that beats the sender's bookkeeping still lands) or by Notify's id.
   * Notify's own status word is kept (`error` for failures); a final status is never undone by a
   * late or repeated receipt.
   */
  @Post('status')
  @HttpCode(200)
  async status(@Body() receipt: DeliveryReceiptDto) {
    const status = receipt.status === 'delivered' ? 'delivered' : /failure/.test(receipt.status) ? 'failed' : null;
    const ourId = receipt.reference && UUID.test(receipt.reference) ? receipt.reference : null;
    let recorded = false;
    if (status) {
      await this.ds.transaction(async (tx) => {
        const updated: Array<{ kind: string; offer_id: string | null; patient_id: string }> = await rows(
          tx,
          `UPDATE sms_message SET status = $2, error = CASE WHEN $2 = 'failed' THEN $3 ELSE error END, status_at = now(), notify_id = COALESCE(notify_id, $1)
            WHERE (notify_id = $1 OR (id = $4::uuid AND (notify_id IS NULL OR notify_id = $1))) AND status IN ('queued', 'sent')
            RETURNING kind, offer_id, patient_id`,
          [receipt.id, status, receipt.status, ourId],
        );
        recorded = updated.length > 0;
        // A permanent failure means the number cannot receive texts: no more offers to it, and
        // an offer it was sent moves on to the next patient.
        if (receipt.status === 'permanent-failure' && updated[0]) {
          await tx.query(`UPDATE patient SET mobile_status = 'invalid', updated_at = now() WHERE id = $1`, [updated[0].patient_id]);
          if (updated[0].kind === 'offer' && updated[0].offer_id) await enqueue(tx, 'offer-undeliverable', { offerId: updated[0].offer_id });
        }
      });
    }
    this.metrics.counter('sms_receipts_total', 'Delivery receipts by status', ['status', 'recorded']).inc({ status: receipt.status, recorded: String(recorded) });
    return { received: true };
  }
}
