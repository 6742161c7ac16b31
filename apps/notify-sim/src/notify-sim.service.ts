/**
 * The fake Notify service: accepts texts, "delivers" them (status change plus a delivery receipt
 * to the notifier, as Notify does), takes replies and passes them to the notifier's inbound
 * callback, and — when asked — plays the patients who answer offers.
 *
 * Personal data: phone numbers and message bodies live in memory only and never reach a log line
 * or a metric label.
 */
import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Clock } from '@app/domain';
import { AppError, CLOCK, MetricsService } from '@app/platform';
import { NotifySimConfig } from './config';
import { MessageStore, SentSms } from './message-store';
import { CallbackOutcome, NotifierCallbacks } from './notifier-callbacks';
import { isUuid, parseApiKey } from './notify-auth';
import { NotifyApiError } from './notify-errors';
import { PatientBehaviour, Rng, decideReply, seededRng } from './patients';
import { checkUkMobile, toE164, withoutPlus } from './phone';
import { SlidingWindowLimiter } from './rate-limiter';
import { parseSendSmsRequest } from './send-sms-request';

export interface ReceivedText {
  id: string;
  serviceId: string;
  phone: string;
  content: string;
  createdAt: Date;
}

export interface ReplyOutcome extends CallbackOutcome {
  id: string;
}

/** Notify's page size for `GET /v2/notifications`. */
export const PAGE_SIZE = 250;
/** `/sim/messages` without a phone. */
export const LATEST_LIMIT = 500;

const STATUSES = ['cancelled', 'created', 'sending', 'sent', 'delivered', 'pending', 'failed', 'technical-failure', 'temporary-failure', 'permanent-failure', 'pending-virus-check', 'validation-failed', 'virus-scan-failed', 'returned-letter', 'accepted', 'received'];
const FAILED = ['technical-failure', 'temporary-failure', 'permanent-failure', 'validation-failed', 'virus-scan-failed'];

export interface ListQuery {
  template_type?: string;
  status?: string[];
  reference?: string;
  older_than?: string;
}

@Injectable()
export class NotifySimService implements OnApplicationShutdown {
  private readonly logger = new Logger('notify-sim');
  private readonly store: MessageStore;
  private readonly received: ReceivedText[] = [];
  private readonly limiter: SlidingWindowLimiter;
  private readonly undeliverable: Set<string>;
  private readonly rng: Rng;
  private readonly behaviour: PatientBehaviour;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly serviceId: string;
  private stopped = false;

  constructor(
    private readonly config: NotifySimConfig,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly metrics: MetricsService,
    private readonly callbacks: NotifierCallbacks,
  ) {
    this.serviceId = parseApiKey(config.NOTIFY_API_KEY).serviceId;
    this.store = new MessageStore(config.SIM_MAX_MESSAGES);
    this.limiter = new SlidingWindowLimiter(config.SIM_RATE_PER_MINUTE);
    const listed = config.SIM_UNDELIVERABLE_NUMBERS.split(',').map((s) => s.trim()).filter(Boolean);
    const bad = listed.filter((n) => !toE164(n));
    // Refuse to start rather than silently deliver to a number the operator meant to fail.
    if (bad.length) throw new Error(`SIM_UNDELIVERABLE_NUMBERS has ${bad.length} entr${bad.length === 1 ? 'y that is' : 'ies that are'} not a UK mobile number`);
    this.undeliverable = new Set(listed.map((n) => toE164(n) as string));
    this.rng = seededRng(config.SIM_SEED);
    this.behaviour = {
      replyRate: config.SIM_REPLY_RATE,
      acceptRate: config.SIM_ACCEPT_RATE,
      delayMedianMs: config.SIM_REPLY_DELAY_MS_MEDIAN,
      delayMaxMs: config.SIM_REPLY_DELAY_MS_MAX,
    };
    if (config.SIM_REPLY_DELAY_MS_MAX < config.SIM_REPLY_DELAY_MS_MEDIAN) {
      this.logger.warn('SIM_REPLY_DELAY_MS_MAX is below the median: most replies will take exactly the maximum');
    }
  }

  /** Notify counts every request of a key against its per-minute limit. */
  acquireRateLimit(): void {
    if (!this.limiter.tryAcquire(this.clock.now().getTime())) throw NotifyApiError.rateLimited(this.config.SIM_RATE_PER_MINUTE);
  }

  sendSms(serviceId: string, raw: unknown): SentSms {
    const req = parseSendSmsRequest(raw);
    const now = this.clock.now();
    const m = this.store.add({
      id: randomUUID(),
      serviceId,
      to: req.to,
      phone: req.phone,
      templateId: req.template.id,
      templateVersion: 1,
      kind: req.template.kind,
      personalisation: req.personalisation,
      reference: req.reference,
      body: req.body,
      createdAt: now,
      sentAt: now,
      completedAt: null,
      status: 'sending',
    });
    this.metrics.counter('notify_sim_messages_total', 'Text messages accepted by the Notify sandbox, by template', ['template']).inc({ template: m.kind });
    this.logger.debug(`accepted ${m.kind} message ${m.id}`);
    this.later(this.config.SIM_DELIVERY_DELAY_MS, () => this.deliver(m));
    this.planPatientReply(m);
    return m;
  }

  get(id: string): SentSms {
    if (!isUuid(id)) throw NotifyApiError.validation(['notification_id is not a valid UUID']);
    const m = this.store.get(id.toLowerCase());
    if (!m) throw NotifyApiError.notFound();
    return m;
  }

  /** `GET /v2/notifications`: newest first, a page at a time. */
  list(serviceId: string, q: ListQuery): SentSms[] {
    const problems: string[] = [];
    if (q.template_type !== undefined && !['sms', 'email', 'letter'].includes(q.template_type)) {
      problems.push(`template_type ${q.template_type} is not one of [sms, email, letter]`);
    }
    for (const s of q.status ?? []) if (!STATUSES.includes(s)) problems.push(`status ${s} is not one of [${STATUSES.join(', ')}]`);
    if (q.older_than !== undefined && !isUuid(q.older_than)) problems.push('older_than is not a valid UUID');
    if (problems.length) throw NotifyApiError.validation(problems);
    if (q.template_type && q.template_type !== 'sms') return [];
    const statuses = q.status?.length ? new Set(q.status.flatMap((s) => (s === 'failed' ? FAILED : [s]))) : null;
    let olderThan: SentSms | undefined;
    if (q.older_than) {
      olderThan = this.store.get(q.older_than.toLowerCase());
      if (!olderThan) return [];
    }
    return this.store.newestFirst(
      (m) => m.serviceId === serviceId && (!statuses || statuses.has(m.status)) && (q.reference === undefined || m.reference === q.reference),
      PAGE_SIZE,
      olderThan,
    );
  }

  /** `GET /v2/received-text-messages`: newest first, a page at a time. */
  receivedTexts(serviceId: string, olderThan?: string): ReceivedText[] {
    if (olderThan !== undefined && !isUuid(olderThan)) throw NotifyApiError.validation(['older_than is not a valid UUID']);
    let end = this.received.length;
    if (olderThan) {
      end = this.received.findIndex((r) => r.id === olderThan.toLowerCase());
      if (end < 0) return [];
    }
    const out: ReceivedText[] = [];
    for (let i = end - 1; i >= 0 && out.length < PAGE_SIZE; i--) if (this.received[i].serviceId === serviceId) out.push(this.received[i]);
    return out;
  }

  /** Oldest first; one number in any spelling, or the latest few hundred. */
  messages(phone?: string): SentSms[] {
    if (phone === undefined || phone === '') return this.store.latest(LATEST_LIMIT);
    const e164 = toE164(phone);
    if (!e164) throw new AppError('invalid_phone', 'phone must be a UK mobile number, e.g. +447700900123 or 07700900123');
    return this.store.forPhone(e164);
  }

  /** A patient texts the service: recorded, then handed to the notifier's inbound callback. */
  async reply(phone: string, message: string): Promise<ReplyOutcome> {
    const check = checkUkMobile(phone);
    if (!check.ok) throw new AppError('invalid_phone', `phone: ${check.problem}`);
    const id = randomUUID();
    const now = this.clock.now();
    this.received.push({ id, serviceId: this.serviceId, phone: check.e164, content: message, createdAt: now });
    if (this.received.length > this.config.SIM_MAX_MESSAGES + 1024) this.received.splice(0, this.received.length - this.config.SIM_MAX_MESSAGES);
    const outcome = await this.callbacks.inbound({
      id,
      source_number: withoutPlus(check.e164),
      destination_number: this.config.SIM_INBOUND_NUMBER,
      message,
      date_received: now.toISOString(),
    });
    return { id, ...outcome };
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private deliver(m: SentSms): void {
    m.status = this.undeliverable.has(m.phone) ? 'permanent-failure' : 'delivered';
    m.completedAt = this.clock.now();
    if (!this.config.SIM_DELIVERY_RECEIPTS) return;
    void this.callbacks.deliveryReceipt({
      id: m.id,
      reference: m.reference,
      to: m.to,
      status: m.status,
      created_at: m.createdAt.toISOString(),
      completed_at: m.completedAt.toISOString(),
      sent_at: m.sentAt?.toISOString() ?? null,
      notification_type: 'sms',
      template_id: m.templateId,
      template_version: m.templateVersion,
    });
  }

  /**
   * Decided at send time, in send order, so a seed always gives the same answers to the same
   * offers however the timers interleave. A phone that never gets the text never answers it.
   */
  private planPatientReply(m: SentSms): void {
    if (!this.config.SIM_AUTOREPLY || m.kind !== 'offer' || this.undeliverable.has(m.phone)) return;
    // Notify matches personalisation keys without regard to case.
    const code = Object.entries(m.personalisation).find(([k]) => k.toLowerCase() === 'code')?.[1];
    if (code === undefined || code === null || String(code).trim() === '') return;
    const answer = decideReply(this.rng, this.behaviour, String(code).trim());
    if (!answer) return;
    // The patient reads the text after it arrives.
    this.later(this.config.SIM_DELIVERY_DELAY_MS + answer.delayMs, () => {
      void this.reply(m.phone, answer.message).catch((e: Error) => this.logger.warn(`simulated reply failed: ${e.message}`));
    });
  }

  /** Timers never keep the process alive and all go at shutdown. */
  private later(ms: number, fn: () => void): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.timers.add(t);
  }
}
