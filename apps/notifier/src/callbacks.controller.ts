/**
 * GOV.UK Notify's callbacks: received texts and delivery receipts. Both need the callback bearer
 * token. A received text is stored once per Notify id (Notify retries callbacks) together with
 * the job that acts on it, in one transaction.
 *
 * Received texts arrive in bursts (hundreds of YES within a second when a popular slot is
 * offered), so they are written in batches: while a write is in flight the next texts wait in
 * memory and go together in the next one (one statement for the whole batch,
 * `storeReceivedTexts`). At most CALLBACK_WRITERS connections are ever used by this path, whatever
 * the burst, and no more than CALLBACK_BACKLOG_MAX texts wait: past that, or when the database
 * does not take the batch, the callback is answered 503 with Retry-After and Notify sends it again
 * (Notify retries a callback on 5xx; the Notify id makes the retry harmless). A 200 is only ever
 * answered once the text and its job are committed.
 */
import { Body, Controller, HttpCode, HttpException, HttpStatus, Logger, Optional, Post, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import { InjectDataSource } from '@nestjs/typeorm';
import { enqueue, OutboxRelay, ReceivedText, rows, storeReceivedTexts } from '@app/persistence';
import { ToleratesNewerSenders, queueFor, smsResendJobSuffix } from '@app/contracts';
import { parseReply, normaliseUkMobile } from '@app/domain';
import { currentTraceparent, MetricsService, StaticBearerGuard, errorMessage } from '@app/platform';
import { IsDateString, IsIn, IsInt, IsOptional, IsString, Length } from 'class-validator';
import { DataSource } from 'typeorm';
import { NotifierConfig } from './config';

/*
 * Notify's callbacks drop a field this release does not know rather than refuse it
 * (`@ToleratesNewerSenders()`): Notify adds fields to its callbacks when it likes, and a refusal
 * would turn every received text and receipt away (Notify gives up on a 4xx). The fields we read
 * stay as strict.
 */
@ToleratesNewerSenders()
export class ReceivedTextDto {
  @IsString() @Length(1, 100) id: string;
  @IsString() @Length(5, 20) source_number: string;
  @IsString() @Length(1, 20) destination_number: string;
  @IsString() @Length(0, 1600) message: string;
  @IsDateString() date_received: string;
}

@ToleratesNewerSenders()
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

/** Answered when a received text cannot be taken now; Notify sends it again. */
export class CallbackBusy extends HttpException {
  constructor(readonly retryAfterSeconds: number, why: string) {
    super({ statusCode: 503, message: `busy: ${why}; send again later` }, HttpStatus.SERVICE_UNAVAILABLE);
  }
}

/** Retry-After for a receipt that came before its send was recorded: the sender records within a second or so. */
const CALLBACK_RECEIPT_RETRY_S = 5;

/** How soon the relay moves a stored batch's job to the booking service (see `write`). */
const CALLBACK_RELAY_MS = 5;

interface Waiting { text: ReceivedText; done: (stored: boolean) => void; fail: (e: Error) => void }

/** Received texts written together, by at most `writers` transactions at a time (see the file's comment). */
export class ReceivedTextWriter {
  private readonly logger = new Logger('callbacks');
  private waiting: Waiting[] = [];
  private writing = 0;

  constructor(
    private readonly ds: DataSource,
    private readonly limits: { writers: number; batchMax: number; backlogMax: number },
    private readonly relay?: OutboxRelay,
  ) {}

  /** True when this call stored the text, false when it was already stored (a repeat). */
  store(text: ReceivedText): Promise<boolean> {
    if (this.waiting.length >= this.limits.backlogMax) return Promise.reject(new CallbackBusy(1, 'too many received texts waiting'));
    return new Promise((done, fail) => {
      this.waiting.push({ text, done, fail });
      this.pump();
    });
  }

  get backlog(): number {
    return this.waiting.length;
  }

  private pump(): void {
    while (this.writing < this.limits.writers && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.limits.batchMax);
      this.writing++;
      void this.write(batch).finally(() => {
        this.writing--;
        this.pump();
      });
    }
  }

  private async write(batch: Waiting[]): Promise<void> {
    try {
      // With a relay in this process the batch's job skips the outbox NOTIFY (a NOTIFY serialises
      // commits cluster-wide) and this relay is woken for it instead; its sweep covers a crash.
      // One statement, so no BEGIN / COMMIT round trips around it: it commits (or not) as a whole.
      // Batches already fold the burst, and a patient waits on the job: its relay pass comes
      // within CALLBACK_RELAY_MS rather than the relay's usual gathering time.
      const stored = await storeReceivedTexts(this.ds, batch.map((w) => w.text), { quiet: this.relay !== undefined });
      if (stored.size > 0) this.relay?.wake([queueFor('process-replies')], CALLBACK_RELAY_MS);
      // A Notify id repeated inside one batch is stored once: the first caller is told so.
      for (const w of batch) {
        const first = stored.delete(w.text.externalId);
        w.done(first);
      }
    } catch (e) {
      this.logger.warn(`${batch.length} received text(s) not stored (${errorMessage(e)}); answering 503 so that Notify retries`);
      for (const w of batch) w.fail(new CallbackBusy(2, 'the database did not take the text'));
    }
  }
}
export const CallbackGuard = StaticBearerGuard(() => callbackToken);

@UseGuards(CallbackGuard)
@Controller('notify')
export class CallbacksController {
  readonly received: ReceivedTextWriter;
  private readonly resendsMax: number;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly metrics: MetricsService,
    config: NotifierConfig,
    @Optional() relay?: OutboxRelay,
  ) {
    callbackToken = config.NOTIFY_CALLBACK_TOKEN;
    this.resendsMax = config.NOTIFY_TECHNICAL_FAILURE_RESENDS;
    this.received = new ReceivedTextWriter(ds, { writers: config.CALLBACK_WRITERS, batchMax: config.CALLBACK_BATCH_MAX, backlogMax: config.CALLBACK_BACKLOG_MAX }, relay);
  }

  @Post('inbound')
  @HttpCode(200)
  async inbound(@Body() text: ReceivedTextDto, @Res({ passthrough: true }) res: Response) {
    const reply = parseReply(text.message);
    let stored: boolean;
    try {
      // Stored with its number: the booking service decides it for every patient who has it.
      stored = await this.received.store({
        externalId: text.id, mobile: normaliseUkMobile(text.source_number) ?? null, intent: reply.kind, code: 'code' in reply ? reply.code : null,
        traceparent: currentTraceparent(),
      });
    } catch (e) {
      if (e instanceof CallbackBusy) {
        res.setHeader('Retry-After', String(e.retryAfterSeconds));
        this.metrics.counter('sms_received_busy_total', 'Received texts answered 503 (Notify retries them)').inc();
      }
      throw e;
    }
    this.metrics.counter('sms_received_total', 'Received texts by parsed intent', ['intent', 'duplicate']).inc({ intent: reply.kind, duplicate: String(!stored) });
    return { received: true, duplicate: !stored };
  }

  /**
   * A delivery receipt, recorded on the message it is about: found by our `reference` (our own
   * message id, so a receipt that beats the sender's bookkeeping still lands) or by Notify's id.
   * Notify's own status word is kept (`error` for failures); a final status is never undone by a
   * late or repeated receipt.
   *
   * - `technical-failure` (Notify's fault; the text was not sent, and Notify says to send it again):
   *   sent again, see `technicalFailure`.
   * - `permanent-failure` (the number cannot receive texts): the number is marked invalid, and an
   *   offer it was sent moves on to the next patient.
   * - `temporary-failure` (the phone off or out of reach, after the provider's own retries): failed,
   *   not sent again. The provider has already tried for a while and the phone is still away, and a
   *   late copy would reach the patient after whatever followed it (an offer that has since ended, a
   *   slot since taken). The number stays valid. An offer text moves its wave on, as the patient has
   *   not seen it and cannot answer it.
   */
  @Post('status')
  @HttpCode(200)
  async status(@Body() receipt: DeliveryReceiptDto, @Res({ passthrough: true }) res?: Response) {
    const ourId = receipt.reference && UUID.test(receipt.reference) ? receipt.reference : null;
    let recorded: boolean;
    try {
      recorded = receipt.status === 'technical-failure' ? await this.technicalFailure(receipt.id, ourId) : await this.finalStatus(receipt, ourId);
    } catch (e) {
      if (e instanceof CallbackBusy) res?.setHeader('Retry-After', String(e.retryAfterSeconds));
      throw e;
    }
    this.metrics.counter('sms_receipts_total', 'Delivery receipts by status', ['status', 'recorded']).inc({ status: receipt.status, recorded: String(recorded) });
    return { received: true };
  }

  /**
   * Any receipt but a technical-failure. One for a text being sent again (its row `queued` with
   * the failed text's Notify id until the resend's "sent" is recorded) may beat that record: it is
   * answered 503, for Notify to send it again once the row carries the resend's id, rather than
   * lost (a permanent failure would then never mark the number invalid nor move the offer on).
   */
  private finalStatus(receipt: DeliveryReceiptDto, ourId: string | null): Promise<boolean> {
    const status = receipt.status === 'delivered' ? 'delivered' : /failure/.test(receipt.status) ? 'failed' : null;
    if (!status) return Promise.resolve(false);
    return this.ds.transaction(async (tx) => {
      const updated: Array<{ kind: string; offer_id: string | null; patient_id: string }> = await rows(
        tx,
        `UPDATE sms_message SET status = $2, error = CASE WHEN $2 = 'failed' THEN $3 ELSE error END, status_at = now(), notify_id = COALESCE(notify_id, $1)
          WHERE (notify_id = $1 OR (id = $4::uuid AND (notify_id IS NULL OR notify_id = $1))) AND status IN ('queued', 'sent')
          RETURNING kind, offer_id, patient_id`,
        [receipt.id, status, receipt.status, ourId],
      );
      if (updated.length === 0 && ourId) {
        const resending = await rows(tx, `SELECT 1 FROM sms_message WHERE id = $1::uuid AND status = 'queued' AND notify_id <> $2`, [ourId, receipt.id]);
        if (resending.length > 0) throw new CallbackBusy(CALLBACK_RECEIPT_RETRY_S, 'the text is being sent again and its send is not recorded yet');
      }
      // A permanent failure means the number cannot receive texts: no more offers to it.
      if (receipt.status === 'permanent-failure' && updated[0]) {
        await tx.query(`UPDATE patient SET mobile_status = 'invalid', updated_at = now() WHERE id = $1`, [updated[0].patient_id]);
      }
      // Either way an offer whose text did not arrive moves on to the next patient.
      if (status === 'failed' && updated[0]?.kind === 'offer' && updated[0].offer_id) await enqueue(tx, 'offer-undeliverable', { offerId: updated[0].offer_id });
      return updated.length > 0;
    });
  }

  /**
   * Notify's `technical-failure`: the text was never sent. It goes back to `queued` with a send job
   * of its own (`sms-<id>-resend-<n>`, in the same transaction through the outbox, with the
   * priority the text was first ordered with, `sms_message.priority`), which re-reads it as every
   * send does (an offer that ended meanwhile is not sent; quiet hours hold it). Notify's
   * id of the failed text stays on the row until the resend is recorded, so a repeat of this
   * receipt (Notify retries callbacks) changes nothing. After NOTIFY_TECHNICAL_FAILURE_RESENDS the
   * text is failed, and an offer's text moves its wave on as an undeliverable one does; the number
   * is not at fault and stays valid.
   * A receipt for a send whose "sent" the sender has not recorded yet (its row still `queued` with
   * another Notify id or none) is answered 503, for Notify to send it again once it has.
   */
  private technicalFailure(notifyId: string, ourId: string | null): Promise<boolean> {
    return this.ds.transaction(async (tx) => {
      const [m]: Array<{ id: string; kind: string; offer_id: string | null; status: string; notify_id: string | null; resends: number; priority: number | null }> = await rows(
        tx,
        `SELECT id, kind, offer_id, status, notify_id, resends, priority FROM sms_message
          WHERE notify_id = $1 OR id = $2::uuid
          ORDER BY notify_id = $1 DESC NULLS LAST LIMIT 1 FOR UPDATE`,
        [notifyId, ourId],
      );
      if (!m || (m.status !== 'sent' && m.status !== 'queued')) return false;
      if (m.notify_id !== null && m.notify_id !== notifyId) {
        // Another Notify message is this row's now: a late repeat about a text already sent again.
        if (m.status === 'sent') return false;
        throw new CallbackBusy(CALLBACK_RECEIPT_RETRY_S, 'the text is being sent again and its send is not recorded yet');
      }
      if (m.status === 'queued') {
        if (m.notify_id === notifyId) return false; // already being sent again: Notify repeated the receipt
        throw new CallbackBusy(CALLBACK_RECEIPT_RETRY_S, "the text's send is not recorded yet");
      }
      if (m.resends < this.resendsMax) {
        await tx.query(
          // Notify has said what became of that send: the resend need not wait for it to settle.
          `UPDATE sms_message SET status = 'queued', notify_id = $2, error = 'technical-failure', resends = resends + 1, send_started_at = NULL, status_at = now() WHERE id = $1`,
          [m.id, notifyId],
        );
        // With the priority the text was first ordered with: without one the resend would go ahead
        // of every prioritised offer text (BullMQ serves its wait list first).
        await enqueue(tx, 'send-sms', { smsId: m.id }, { jobIdSuffix: smsResendJobSuffix(m.resends + 1), priority: m.priority ?? undefined });
        this.metrics.counter('sms_resent_total', 'Texts sent again after a Notify technical-failure, by kind', ['kind']).inc({ kind: m.kind });
        return true;
      }
      await tx.query(`UPDATE sms_message SET status = 'failed', notify_id = $2, error = 'technical-failure', status_at = now() WHERE id = $1`, [m.id, notifyId]);
      if (m.kind === 'offer' && m.offer_id) await enqueue(tx, 'offer-undeliverable', { offerId: m.offer_id });
      return true;
    });
  }
}
