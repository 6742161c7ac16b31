/**
 * Sends stored SMS (`sms-outbound`). The row is re-read first: an offer whose slot went meanwhile
 * is not sent, nor one past its expiry or whose slot is inside the minimum notice by now (its
 * text held by quiet hours, a Notify outage or a backlog while the exchange's own jobs that end it
 * are late too); a message already sent is not sent again. None is sent in quiet hours: its job waits
 * until they end (without spending an attempt) and re-reads the message then. `reference` is our message id — no
 * personal data goes to Notify beyond the number and the text itself.
 *
 * Sent once: before a send goes to Notify, the row records that it began (`send_started_at`,
 * committed first). From then on Notify may hold the text, whatever happens to the job (a retry,
 * a worker that died, a job re-driven by the sweep or rebuilt after Redis lost its data), so every
 * later start asks Notify for it by our reference before anything else (`alreadyAtNotify`), and
 * only once Notify has had time to finish the earlier request: NOTIFY_TIMEOUT_MS plus
 * NOTIFY_SEND_SETTLE_MS after it began (Notify goes on working on a request we stopped waiting
 * for, and shows the text only once it is done). The job waits for that without spending an
 * attempt. A send left unanswered on the job's last attempt is looked up so too before the message
 * is given up on. A send Notify answered by not taking the text (a 429, our key or settings
 * refused, the message refused) takes its record back: the start after the pause sends at once.
 * A text put back after Notify's `technical-failure` has a job of its own for each resend
 * (`sms-<id>-resend-<n>`); only the job of its current send (`resends`) sends it, so an earlier
 * send's job (the queues rebuilt from the outbox, a job delivered again) does not text it twice.
 *
 * The database away (a failover, a restart, connections cut or refused) is not the message's
 * fault either: the job waits for it without spending an attempt, with back-off capped at a
 * minute, up to DATABASE_WAITS_MAX times (half an hour or so). What is still queued after that, or
 * whose job was lost, `sms-sweep.ts` orders again.
 *
 * Notify's limits and failures:
 * - Its 3,000-a-minute limit is per API key, so it binds every notifier instance together. The
 *   worker's BullMQ limiter is kept in Redis and is global to the queue: however many instances
 *   run, no more than NOTIFY_RATE_LIMIT jobs start in any NOTIFY_RATE_WINDOW_MS (see
 *   rate-limit.ts for how a sliding limit maps onto BullMQ's fixed windows). Job priorities set
 *   by matching (offers nearest their cut-off first) decide who goes first when it binds.
 * - A 429 all the same (another service on the key) pauses the whole queue, in every instance,
 *   and puts the job back without spending one of its attempts.
 * - A 401/403 (our API key refused, or our clock more than 30 s out) is wrong for every message
 *   alike: the same pause (NOTIFY_AUTH_FAILED_PAUSE_MS), an error in the log and a metric for the
 *   on-call operator, and no message is failed nor any offer ended meanwhile. So is a refusal of
 *   our settings rather than the message (a template Notify does not know, a service in trial
 *   mode, a 404 from a wrong NOTIFY_BASE_URL: `config` in notify.gateway.ts).
 * - A 5xx, a timeout or a dropped connection is retried (an attempt spent; the next start waits
 *   for Notify to finish the send, then looks it up: "Sent once" above) while Notify is otherwise
 *   up. NOTIFY_OUTAGE_THRESHOLD of them in a row with nothing accepted in between is an outage (notify-circuit.ts): the queue pauses as for a 429, and
 *   messages wait unspent until Notify answers again, so confirmations are not lost and offers
 *   are not ended as undeliverable one wave after another. Only a message that keeps failing
 *   while Notify takes the others is recorded as failed after its last attempt (an offer then
 *   moves on to the next patient rather than waiting for its expiry).
 * - A message Notify itself refuses (400: not a mobile number, a bad personalisation) will fail
 *   the same way again: recorded at once; a refused number is marked invalid (no more offers to
 *   it) and the offer moves on.
 */
import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { JobOutcome, JobPayloads, OFFER_ENDED_KINDS, QueueName, SMS_TEMPLATES, SmsKind, smsResendOfJobId } from '@app/contracts';
import { POLICY_IN_FORCE_SQL, PolicyRow, enqueue, isDatabaseUnavailable, policyFromRow, rows } from '@app/persistence';
import { Clock, MatchingPolicy, isInsideMinimumNotice, nextSendableTime } from '@app/domain';
import { CLOCK, GroupCommit, MetricsService, QueueService, cappedBackoffMs, errorMessage } from '@app/platform';
import { DelayedError, Job, Worker } from 'bullmq';
import { DataSource } from 'typeorm';
import { NotifierConfig } from './config';
import { SendFailure, SendResult, SmsGateway } from './notify.gateway';
import { NotifyCircuit } from './notify-circuit';
import { limiterFor } from './rate-limit';
import { POLICY } from './tokens';

/** `sms_sent_total`'s outcome for each kind of Notify failure (names kept from before the auth/outage split). */
const OUTCOME_LABEL: Record<SendFailure, string> = { refused: 'refused', 'rate-limited': 'rate_limited', auth: 'auth_failed', config: 'config_failed', unavailable: 'retry' };

/**
 * Times a job waits for the database without spending an attempt (back-off capped at a minute:
 * about half an hour in all); then its attempts are spent as for any error, and the sweep
 * (sms-sweep.ts) orders the message again once its job has failed for good.
 */
export const DATABASE_WAITS_MAX = 40;

/** Where a job stands among its attempts, so the last one can settle the message for good. */
export interface AttemptInfo {
  attemptsMade: number;
  attempts: number;
  /**
   * Puts the job back until `at` (on the injected clock) without spending an attempt: quiet hours.
   * Absent when called outside a queue job; the message then waits for its own job.
   */
  holdUntil?: (at: Date) => Promise<never>;
  /**
   * Puts the job back for `ms` of real time without spending an attempt, keeping `note` on it:
   * Notify given time to finish a request. Absent outside a queue job: Notify is asked at once.
   */
  holdFor?: (ms: number, note?: Partial<SendSmsJobData>) => Promise<never>;
  /**
   * An earlier start of this job may have reached Notify without a note on the row (a job begun
   * before `send_started_at` was recorded): Notify is asked for the message before it is sent again.
   */
  mayHaveSent?: boolean;
  /** The last attempt's send went unanswered: this start asks Notify for it and, if Notify lacks it, gives up. */
  lookUpThenGiveUp?: boolean;
  /**
   * Which send of the message this job is for (`smsResendOfJobId`: 0 for the first, n for the
   * n-th resend after a technical-failure). A job for another send than the message's current
   * one (`resends`) sends nothing. Absent outside a queue job: the current send.
   */
  resend?: number;
}

/** The send job's data as the worker keeps it: the payload, and its own notes. */
type SendSmsJobData = JobPayloads['send-sms'] & {
  /** Written by releases before `send_started_at`; still read while their jobs drain. */
  mayHaveSent?: boolean;
  lookUpThenGiveUp?: boolean;
  /** Times this job waited for the database (DATABASE_WAITS_MAX). */
  databaseWaits?: number;
};

/** A message as its send job re-reads it. */
interface SmsToSend {
  id: string; kind: string; personalisation: Record<string, string>; status: string; offer_id: string | null;
  /** Times the text was put back to be sent again after a technical-failure: its current send's number. */
  resends: number;
  mobile: string | null; mobile_status: string; offer_status: string | null;
  /** The offer's expiry and its slot's start and specialty (null for a message about no offer). */
  offer_expires_at: Date | null; slot_start_at: Date | null; slot_tfc: string | null;
  /** Milliseconds (on the database's clock) since a send of it to Notify last began, null if none did. */
  send_started_ms_ago: number | null;
  /** Whether the text of the offer this message is about went to Notify (sent or delivered). */
  offer_text_sent: boolean;
  /** The newest recorded matching policy (the dashboard's), null before any. */
  policy_row: PolicyRow;
}

@Injectable()
export class SmsSenderWorker implements OnApplicationBootstrap {
  private readonly logger = new Logger('sms-sender');
  private worker?: Worker;
  private circuit: NotifyCircuit;
  /** Until when an error about Notify's state is not logged again (one line per pause, not per text). */
  private quietLogUntil = 0;
  /** The same for the database being away. */
  private quietDbLogUntil = 0;
  /**
   * "Sent" is recorded for the messages Notify accepted meanwhile in one statement and one
   * commit: at burst rates a commit per SMS, not Notify, was the limit. A job still completes only
   * once its own row is committed; the row change has no outbox rows of its own.
   */
  /**
   * "A send began" for the messages about to go, one statement per batch, committed before they
   * go; each gets the time recorded, as Postgres's text (to the microsecond), for `startUndone`.
   */
  private readonly starts = new GroupCommit<string, string>({
    store: (ids) => this.recordStarts(ids),
    concurrency: 2,
    maxItems: 100,
    maxBytes: Number.MAX_SAFE_INTEGER,
    size: () => 1,
  });

  private readonly sent = new GroupCommit<{ smsId: string; notifyId: string }, void>({
    store: (items) => this.recordSent(items),
    // One commit in flight: what arrives meanwhile goes in the next, so batches grow with the rate.
    concurrency: 1,
    maxItems: 100,
    maxBytes: Number.MAX_SAFE_INTEGER,
    size: () => 1,
  });

  /**
   * Each job re-reads its message; the re-reads of jobs that start together go in one statement
   * (a burst starts dozens at once), each job still seeing the row as it is after its job began.
   */
  private readonly reads = new GroupCommit<string, SmsToSend | undefined>({
    store: (ids) => this.readMessages(ids),
    concurrency: 2,
    maxItems: 100,
    maxBytes: Number.MAX_SAFE_INTEGER,
    size: () => 1,
  });

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly gateway: SmsGateway,
    private readonly queues: QueueService,
    private readonly metrics: MetricsService,
    private readonly config: NotifierConfig,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(POLICY) private readonly policy: MatchingPolicy,
  ) {
    this.circuit = new NotifyCircuit(config.NOTIFY_OUTAGE_THRESHOLD);
  }

  onApplicationBootstrap(): void {
    this.worker = this.queues.worker(
      QueueName.smsOutbound,
      (job: Job<SendSmsJobData>, token?: string) => {
        const holdFor = async (ms: number, note?: Partial<SendSmsJobData>): Promise<never> => {
          if (note) await job.updateData({ ...job.data, ...note });
          await job.moveToDelayed(Date.now() + Math.max(0, ms), token);
          throw new DelayedError();
        };
        return this.process(job.data, {
          attemptsMade: job.attemptsMade,
          attempts: job.opts.attempts ?? 1,
          // A job of a release that did not record `send_started_at`, still draining.
          mayHaveSent: job.attemptsMade > 0 || job.stalledCounter > 0 || job.data.mayHaveSent === true,
          lookUpThenGiveUp: job.data.lookUpThenGiveUp === true,
          resend: smsResendOfJobId(job.id ?? ''),
          // BullMQ's delay runs on real time; the wait is measured on the injected clock.
          holdUntil: (at) => holdFor(at.getTime() - this.clock.now().getTime()),
          holdFor,
        }).catch((e: unknown) => this.waitForDatabase(job, e, holdFor));
      },
      { concurrency: this.config.SMS_SEND_CONCURRENCY, limiter: limiterFor(this.config.NOTIFY_RATE_LIMIT, this.config.NOTIFY_RATE_WINDOW_MS) },
    ) as Worker | undefined;
  }

  async process({ smsId }: JobPayloads['send-sms'], attempt: AttemptInfo = { attemptsMade: 0, attempts: 1 }): Promise<JobOutcome> {
    const sms = await this.reads.submit(smsId);
    if (!sms) return { status: 'skipped', reason: 'no such message' };
    if (sms.status !== 'queued') return { status: 'skipped', reason: `already ${sms.status}` };
    // The job of an earlier send (rebuilt from the outbox after Redis lost its data, or delivered
    // again) beside the current send's own job: only that one sends, or the patient gets it twice.
    // The sweep orders the current send's job, so a message is never left to a job skipped here.
    if (attempt.resend !== undefined && attempt.resend !== sms.resends) {
      return { status: 'skipped', reason: `a job for send ${attempt.resend} of a message now at send ${sms.resends}` };
    }
    const skip = async (reason: string): Promise<JobOutcome> => {
      await this.ds.query(`UPDATE sms_message SET status = 'skipped', error = $2, status_at = now() WHERE id = $1 AND status = 'queued'`, [smsId, reason]);
      return { status: 'skipped', reason };
    };
    // An earlier send may have reached Notify: ask before any rule below that would skip the text
    // now (its offer may have ended since), so a text the patient already holds is recorded as
    // sent, not as skipped; and not before Notify has had time to finish that send.
    let result: SendResult | null = null;
    if (sms.send_started_ms_ago !== null || attempt.mayHaveSent) {
      const settleLeft = this.config.NOTIFY_TIMEOUT_MS + this.config.NOTIFY_SEND_SETTLE_MS - (sms.send_started_ms_ago ?? Infinity);
      if (settleLeft > 0 && attempt.holdFor) return attempt.holdFor(settleLeft);
      result = await this.alreadyAtNotify(sms.id);
      if (!result && attempt.lookUpThenGiveUp) {
        // The last attempt's send went unanswered and Notify does not hold it: given up, unsent.
        return this.giveUp(sms, { ok: false, failure: 'unavailable', invalidNumber: false, status: null, message: 'no answer from Notify on the last attempt, and Notify does not hold the text' });
      }
    }
    if (!result) {
      // Below the lookup: a text that reached Notify before its number was marked invalid is sent.
      if (!sms.mobile || sms.mobile_status !== 'valid') return skip('no valid mobile');
      if (sms.kind === 'offer' && sms.offer_status !== 'live') return skip(`offer is ${sms.offer_status}`);
      if (sms.kind === 'offer') {
        const ended = this.offerEndedUnrecorded(sms);
        if (ended) return skip(ended);
      }
      // "No longer available" / "expired" / "withdrawn" about an offer whose own text never went (it
      // was still held by quiet hours, a Notify outage or a backlog when the offer ended, and its
      // send then skipped it) would be the first the patient heard of it. One check here covers
      // every way an offer ends (a wave's end, another patient's YES, the trust's withdrawal).
      if (OFFER_ENDED_KINDS.has(sms.kind as SmsKind) && sms.offer_id && !sms.offer_text_sent) return skip('the offer itself was never sent');
      const templateId = sms.kind in SMS_TEMPLATES ? this.config.templateId(sms.kind as SmsKind) : undefined;
      if (!templateId) return skip(`no template for ${sms.kind}`);
      const now = this.clock.now();
      const sendableAt = nextSendableTime(now, this.quietHoursPolicy(sms));
      if (sendableAt.getTime() > now.getTime()) {
        // CONTRACT: no SMS in quiet hours, whatever the kind. The job waits until they end and then
        // re-reads the message, so an offer that ended overnight is skipped then, not sent.
        this.metrics.counter('sms_held_for_quiet_hours_total', 'SMS whose sending came up in quiet hours and waits for their end, by kind', ['kind']).inc({ kind: sms.kind });
        if (attempt.holdUntil) return attempt.holdUntil(sendableAt);
        return { status: 'retry', reason: `quiet hours until ${sendableAt.toISOString()}` };
      }
      // Recorded and committed before the send goes: from now on Notify may hold the text.
      const startedAt = await this.starts.submit(sms.id);
      result = await this.gateway.send(templateId, sms.mobile, sms.personalisation, sms.id);
      this.metrics.counter('sms_sent_total', 'SMS sent through Notify by kind and outcome', ['kind', 'outcome']).inc({ kind: sms.kind, outcome: result.ok ? 'sent' : OUTCOME_LABEL[result.failure] });
      // Notify answered that it did not take the text (a 429, our key or settings refused, the
      // message refused): the next start need not wait for it to settle nor ask for it.
      if (!result.ok && result.failure !== 'unavailable') await this.startUndone(sms.id, startedAt);
    }
    if (result.ok) {
      this.circuit.accepted();
      await this.sent.submit({ smsId, notifyId: result.notifyId });
      return { status: 'done' };
    }
    if (result.failure === 'rate-limited') return this.pauseSending(this.config.NOTIFY_RATE_LIMITED_PAUSE_MS);
    if (result.failure === 'auth' || result.failure === 'config') {
      this.serviceFailure(result.failure, result.failure === 'auth'
        ? `Notify refused our API key (${result.status}: ${result.message}); check NOTIFY_API_KEY and this server's clock (Notify allows 30 s)`
        : `Notify refused a ${sms.kind} text for a reason of our settings or service, not of the text (${result.status}: ${result.message}); check NOTIFY_BASE_URL, NOTIFY_TEMPLATE_* and the service in Notify (live, allowed to send texts)`,
      this.config.NOTIFY_AUTH_FAILED_PAUSE_MS);
      return this.pauseSending(this.config.NOTIFY_AUTH_FAILED_PAUSE_MS);
    }
    // A timeout, a cut connection or a 5xx (a gateway's 502/504) may hide a text Notify took: the
    // next start of the job waits for Notify to finish, then looks before sending again.
    if (result.failure === 'unavailable' && this.circuit.failed()) {
      this.serviceFailure('unavailable', `Notify is failing every send (${result.status ?? 'no answer'}: ${result.message})`, this.config.NOTIFY_OUTAGE_PAUSE_MS);
      return this.pauseSending(this.config.NOTIFY_OUTAGE_PAUSE_MS);
    }
    const lastAttempt = attempt.attemptsMade + 1 >= attempt.attempts;
    const refused = result.failure === 'refused';
    if (!refused && !lastAttempt) throw new Error(`Notify answered ${result.status ?? 'nothing'}: ${result.message}`);
    if (result.failure === 'unavailable' && attempt.holdFor) {
      // Not given up on while Notify may hold it: once Notify has had time to finish, it is asked.
      return attempt.holdFor(this.config.NOTIFY_TIMEOUT_MS + this.config.NOTIFY_SEND_SETTLE_MS, { lookUpThenGiveUp: true });
    }
    return this.giveUp(sms, result);
  }

  /**
   * Records the message as failed for good (refused by Notify, or not sent after every attempt);
   * a refused number is marked invalid, and an offer nobody can receive moves on now.
   */
  private async giveUp(sms: SmsToSend, result: Extract<SendResult, { ok: false }>): Promise<JobOutcome> {
    const smsId = sms.id;
    const refused = result.failure === 'refused';
    await this.ds.transaction(async (tx) => {
      await tx.query(`UPDATE sms_message SET status = 'failed', error = $2, status_at = now() WHERE id = $1 AND status = 'queued'`, [smsId, result.message]);
      if (result.invalidNumber) {
        await tx.query(`UPDATE patient SET mobile_status = 'invalid', updated_at = now() WHERE id = (SELECT patient_id FROM sms_message WHERE id = $1)`, [smsId]);
      }
      // An offer nobody can receive moves on to the next patient now, not at expiry.
      if (sms.kind === 'offer' && sms.offer_id) await enqueue(tx, 'offer-undeliverable', { offerId: sms.offer_id });
    });
    this.logger.warn(`sms ${smsId} ${refused ? 'refused by Notify' : 'not sent after every retry'} (${result.status ?? 'no answer'}): ${result.message}`);
    return { status: 'done', reason: refused ? 'refused' : 'gave up' };
  }

  /**
   * Whether Notify already took this message on an earlier start of its job: Notify accepted it
   * but recording "sent" failed (the database was away, the commit failed), the worker died
   * mid-send, or Notify never answered. Sending again would text the patient twice, so Notify is
   * asked for the message by our reference (GET /v2/notifications?reference=, our message id) and,
   * if it holds it, the message is recorded as sent with Notify's id. Only on such a start: the
   * common path asks nothing. Returns null to send now; a lookup Notify fails is handled as a send
   * it fails (a 400 to a lookup says nothing about the message, so it counts as Notify's trouble).
   */
  private async alreadyAtNotify(smsId: string): Promise<SendResult | null> {
    const found = await this.gateway.findByReference(smsId);
    if (!found.ok) return found.failure === 'refused' ? { ...found, failure: 'unavailable', invalidNumber: false } : found;
    if (found.notifyId === null) return null;
    this.metrics.counter('sms_found_at_notify_total', 'SMS retries that Notify already held: recorded as sent, not sent again').inc();
    return { ok: true, notifyId: found.notifyId };
  }

  /**
   * The database was away during this start of the job (a failover, a restart, its connections cut
   * or refused): the job waits for it, with back-off capped at a minute, without spending an
   * attempt, up to DATABASE_WAITS_MAX times. Any other error, or one past that, goes to BullMQ
   * as it came (an attempt spent).
   */
  private async waitForDatabase(job: Job<SendSmsJobData>, e: unknown, holdFor: (ms: number, note?: Partial<SendSmsJobData>) => Promise<never>): Promise<never> {
    const waits = job.data.databaseWaits ?? 0;
    if (!isDatabaseUnavailable(e) || waits >= DATABASE_WAITS_MAX) throw e;
    this.metrics.counter('sms_database_waits_total', 'SMS jobs put back without spending an attempt because the database was away').inc();
    const now = Date.now();
    if (now >= this.quietDbLogUntil) {
      this.quietDbLogUntil = now + 60_000;
      this.logger.warn(`database unavailable (${errorMessage(e)}): SMS jobs wait for it without spending attempts`);
    }
    return holdFor(cappedBackoffMs(waits + 1, Number.MAX_SAFE_INTEGER), { databaseWaits: waits + 1 });
  }

  /**
   * Pauses the queue for every instance and returns the job to the wait list without spending an
   * attempt: the fault is Notify's or our account's, not the message's.
   */
  private async pauseSending(ms: number): Promise<never> {
    if (!this.worker) throw new Error('Notify asked us to wait, and this process runs no SMS worker to pause');
    await this.worker.rateLimit(ms);
    throw Worker.RateLimitError();
  }

  /**
   * A failure of Notify or of our account, which holds every text until it is fixed: counted on
   * every failed send (alert on `notify_service_failures_total` rising), and logged as an error
   * once per pause in each process rather than once for each of the hundred texts in flight. No
   * personal data: Notify's own error text and status only. Real time, not the injected clock:
   * the pause it reports is BullMQ's, in real time.
   */
  private serviceFailure(reason: 'auth' | 'config' | 'unavailable', message: string, pauseMs: number): void {
    this.metrics.counter('notify_service_failures_total', 'Sends that failed for a reason affecting every message (auth: key or clock refused; config: template, address or Notify service settings; unavailable: Notify down)', ['reason']).inc({ reason });
    const now = Date.now();
    if (now < this.quietLogUntil) return;
    this.quietLogUntil = now + pauseMs;
    this.logger.error(`${message}: no texts are sent and none is given up on; sending paused ${pauseMs} ms, then tried again`);
  }

  /**
   * Why a live offer's text must not go now although its offer is still recorded live: its expiry
   * passed, or its slot is inside the minimum notice, while the exchange's jobs that would end it
   * (`expire-wave`, `close-slot`) are late. Judged as the exchange judges a YES to it and closes
   * its slot (`decideAcceptance`, `closeSlot`): the notice of the recorded policy in force with the
   * slot's specialty's overrides, not the slot's `cutoff_at` (the notice at its release, which an
   * administrator may have lengthened since), on the injected clock.
   */
  private offerEndedUnrecorded(sms: SmsToSend): string | null {
    const now = this.clock.now();
    if (sms.offer_expires_at && new Date(sms.offer_expires_at).getTime() <= now.getTime()) return 'offer expired before its text went';
    if (sms.slot_start_at && isInsideMinimumNotice(new Date(sms.slot_start_at), now, policyFromRow(sms.policy_row, this.policy, sms.slot_tfc ?? undefined))) {
      return 'slot inside the minimum notice before the offer text went';
    }
    return null;
  }

  /**
   * Quiet hours as matching applies them: the newest recorded policy's (an administrator may change
   * them on the dashboard), else this process's QUIET_HOURS. One source for both, so matching
   * never plans a wave to be sent at a time the notifier would hold its texts back.
   */
  private quietHoursPolicy(sms: SmsToSend): MatchingPolicy {
    const recorded = sms.policy_row?.settings;
    if (!recorded) return this.policy;
    return { ...this.policy, quietHours: recorded.quietHours ?? null, timeZone: recorded.timeZone ?? this.policy.timeZone };
  }

  private async readMessages(ids: string[]): Promise<Array<SmsToSend | undefined>> {
    const found = (await this.ds.query(
      `SELECT m.id, m.kind, m.personalisation, m.status, m.offer_id, m.resends, p.mobile, p.mobile_status, o.status AS offer_status,
              o.expires_at AS offer_expires_at, s.start_at AS slot_start_at, s.tfc AS slot_tfc,
              (extract(epoch FROM clock_timestamp() - m.send_started_at) * 1000)::float8 AS send_started_ms_ago,
              m.kind <> 'offer' AND m.offer_id IS NOT NULL AND EXISTS (
                SELECT 1 FROM sms_message om WHERE om.offer_id = m.offer_id AND om.kind = 'offer' AND om.status IN ('sent', 'delivered')) AS offer_text_sent,
              ${POLICY_IN_FORCE_SQL} AS policy_row
         FROM sms_message m JOIN patient p ON p.id = m.patient_id LEFT JOIN offer o ON o.id = m.offer_id LEFT JOIN slot s ON s.id = o.slot_id
        WHERE m.id = ANY ($1::uuid[])`,
      [ids],
    )) as SmsToSend[];
    const byId = new Map(found.map((r) => [r.id, r]));
    return ids.map((id) => byId.get(id));
  }

  private async recordStarts(ids: string[]): Promise<string[]> {
    const started = await rows<{ id: string; at: string }>(
      this.ds,
      `UPDATE sms_message SET send_started_at = now() WHERE id = ANY ($1::uuid[]) RETURNING id, send_started_at::text AS at`,
      [ids],
    );
    const byId = new Map(started.map((r) => [r.id, r.at]));
    return ids.map((id) => byId.get(id) ?? '');
  }

  /**
   * Takes back this start's "a send began" once Notify has said it did not take the text; only if
   * no later start has recorded its own meanwhile.
   */
  private async startUndone(smsId: string, startedAt: string): Promise<void> {
    if (!startedAt) return;
    await this.ds.query(`UPDATE sms_message SET send_started_at = NULL WHERE id = $1 AND send_started_at = $2::timestamptz`, [smsId, startedAt]);
  }

  private async recordSent(items: Array<{ smsId: string; notifyId: string }>): Promise<void[]> {
    // A delivery receipt may already have landed (it finds the row by our reference); keep it.
    await this.ds.query(
      `UPDATE sms_message m SET status = CASE WHEN m.status = 'queued' THEN 'sent' ELSE m.status END, notify_id = x.notify_id, sent_at = now()
         FROM unnest($1::uuid[], $2::text[]) AS x(id, notify_id) WHERE m.id = x.id`,
      [items.map((i) => i.smsId), items.map((i) => i.notifyId)],
    );
    return items.map(() => undefined);
  }
}
