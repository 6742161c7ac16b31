import { ConfigError, JOB_DEFAULTS, PolicyConfig } from '@app/platform';
import { SANDBOX_NOTIFY_API_KEY, SANDBOX_NOTIFY_CALLBACK_TOKEN, SMS_TEMPLATES, SmsKind } from '@app/contracts';
import { IsInt, IsString, Matches, Max, Min } from 'class-validator';

/** A Notify template id as its service shows it under "API info" (a UUID). */
const TEMPLATE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const IsTemplateId = () => Matches(TEMPLATE_ID, { message: ({ property }) => `${property} must be a Notify template id (a UUID, from the template's "API info" in Notify)` });

/**
 * The setting that holds each kind's Notify template id. A Record over every SmsKind, so a new kind
 * cannot be sent without a setting of its own.
 */
export const TEMPLATE_SETTINGS: Readonly<Record<SmsKind, TemplateSetting>> = Object.freeze({
  offer: 'NOTIFY_TEMPLATE_OFFER',
  confirmed: 'NOTIFY_TEMPLATE_CONFIRMED',
  taken: 'NOTIFY_TEMPLATE_TAKEN',
  expired: 'NOTIFY_TEMPLATE_EXPIRED',
  booking_failed: 'NOTIFY_TEMPLATE_BOOKING_FAILED',
  help: 'NOTIFY_TEMPLATE_HELP',
  stopped: 'NOTIFY_TEMPLATE_STOPPED',
  started: 'NOTIFY_TEMPLATE_STARTED',
  no_offer: 'NOTIFY_TEMPLATE_NO_OFFER',
  withdrawn: 'NOTIFY_TEMPLATE_WITHDRAWN',
});
type TemplateSetting = `NOTIFY_TEMPLATE_${Uppercase<SmsKind>}`;

export class NotifierConfig extends PolicyConfig {
  override SERVICE_NAME = 'notifier';
  override PORT = 3002;

  /** GOV.UK Notify's API; the sandbox (notify-sim) by default. */
  @IsString()
  NOTIFY_BASE_URL = 'http://127.0.0.1:3300';

  @IsString()
  NOTIFY_API_KEY = SANDBOX_NOTIFY_API_KEY;

  /** Bearer token Notify presents on its callbacks (received texts, delivery receipts). */
  @IsString()
  NOTIFY_CALLBACK_TOKEN = SANDBOX_NOTIFY_CALLBACK_TOKEN;

  @IsInt() @Min(1000) @Max(60000)
  NOTIFY_TIMEOUT_MS = 10000;

  /**
   * Notify goes on working on a send we stopped waiting for (a timeout, a cut connection, a 5xx
   * from the way to it) and shows the text only once it is done. So a message whose send began is
   * looked up by our reference (and sent again only if Notify lacks it) no sooner than
   * NOTIFY_TIMEOUT_MS plus this after that send began; its job waits meanwhile, spending no attempt.
   */
  @IsInt() @Min(0) @Max(600_000)
  NOTIFY_SEND_SETTLE_MS = 30_000;

  /**
   * How often the send sweep (sms-sweep.ts) orders again the job of a message still queued whose
   * job failed for good or was lost (a database outage longer than its waits, a Redis loss).
   */
  @IsInt() @Min(1000) @Max(3_600_000)
  SMS_SWEEP_MS = 60_000;

  /**
   * Each kind's template id in our Notify service. Notify gives every service's templates ids of
   * their own, so the defaults (the sandbox's, which notify-sim knows) are refused in production:
   * against the real Notify each send would be refused "Template not found". The template's text
   * must be the one in libs/contracts/src/sms.ts, with the same ((placeholders)).
   */
  @IsTemplateId() NOTIFY_TEMPLATE_OFFER = SMS_TEMPLATES.offer.id;
  @IsTemplateId() NOTIFY_TEMPLATE_CONFIRMED = SMS_TEMPLATES.confirmed.id;
  @IsTemplateId() NOTIFY_TEMPLATE_TAKEN = SMS_TEMPLATES.taken.id;
  @IsTemplateId() NOTIFY_TEMPLATE_EXPIRED = SMS_TEMPLATES.expired.id;
  @IsTemplateId() NOTIFY_TEMPLATE_BOOKING_FAILED = SMS_TEMPLATES.booking_failed.id;
  @IsTemplateId() NOTIFY_TEMPLATE_HELP = SMS_TEMPLATES.help.id;
  @IsTemplateId() NOTIFY_TEMPLATE_STOPPED = SMS_TEMPLATES.stopped.id;
  @IsTemplateId() NOTIFY_TEMPLATE_STARTED = SMS_TEMPLATES.started.id;
  @IsTemplateId() NOTIFY_TEMPLATE_NO_OFFER = SMS_TEMPLATES.no_offer.id;
  @IsTemplateId() NOTIFY_TEMPLATE_WITHDRAWN = SMS_TEMPLATES.withdrawn.id;

  /**
   * SMS jobs one notifier process works on at once. A send spends most of its time waiting (the
   * message's re-read, Notify's answer, the commit of "sent"), so at burst rates 16 at once left
   * the process idle while thousands of texts waited; NOTIFY_RATE_LIMIT, not this, keeps within
   * Notify's quota.
   */
  @IsInt() @Min(1) @Max(256)
  SMS_SEND_CONCURRENCY = 128;

  /**
   * Notify's limit is per API key (3,000 texts a minute), so every notifier instance shares one
   * budget: BullMQ's queue-level limiter, kept in Redis, is global across all workers.
   */
  @IsInt() @Min(1) @Max(100000)
  NOTIFY_RATE_LIMIT = 3000;

  /** The window NOTIFY_RATE_LIMIT applies to. */
  @IsInt() @Min(100) @Max(3_600_000)
  NOTIFY_RATE_WINDOW_MS = 60000;

  /**
   * After a 429 (something else used the same key) the whole queue pauses this long, in every
   * instance, before trying again. Notify sends no Retry-After.
   */
  @IsInt() @Min(50) @Max(600_000)
  NOTIFY_RATE_LIMITED_PAUSE_MS = 5000;

  /**
   * After Notify refuses our API key or token (401/403 AuthError: a revoked or mistyped key, or this
   * server's clock more than 30 s out) the whole queue pauses this long, in every instance, and
   * the message goes back unspent: no message is at fault, and none should be recorded as failed
   * or have its offer ended while someone fixes the key or the clock. Each pause ends with one
   * more try; a minute keeps that to a request or so per sender slot a minute while it lasts.
   * The same after a refusal of our settings rather than of the message (a template id Notify
   * does not know, a service in trial mode, a 404 from a wrong NOTIFY_BASE_URL).
   */
  @IsInt() @Min(50) @Max(3_600_000)
  NOTIFY_AUTH_FAILED_PAUSE_MS = 60_000;

  /**
   * Sends in a row that Notify fails as a service (5xx, timeout, no answer), with none accepted in
   * between, that make it an outage (see notify-circuit.ts). Below the job's attempts, so a
   * message sent alone during an outage finds it before its last attempt.
   */
  @IsInt() @Min(1) @Max((JOB_DEFAULTS.attempts ?? 8) - 1)
  NOTIFY_OUTAGE_THRESHOLD = 3;

  /**
   * During an outage the whole queue pauses this long, in every instance, before the next try;
   * messages go back without spending an attempt and are sent when Notify answers again.
   */
  @IsInt() @Min(50) @Max(600_000)
  NOTIFY_OUTAGE_PAUSE_MS = 15_000;

  /**
   * Times a text is sent again after Notify reports a `technical-failure` for it (Notify's own
   * fault: the text never went, and Notify asks the sender to send it again). After the last, the
   * text is failed, and an offer's text moves its wave on as an undeliverable one does.
   */
  @IsInt() @Min(0) @Max(5)
  NOTIFY_TECHNICAL_FAILURE_RESENDS = 2;

  /**
   * Received-text callbacks are written in batches (callbacks.controller.ts): at most this many
   * transactions at once, so a burst of replies never takes more of the pool than this.
   */
  @IsInt() @Min(1) @Max(16)
  CALLBACK_WRITERS = 2;

  /** Most received texts written in one transaction. */
  @IsInt() @Min(1) @Max(5000)
  CALLBACK_BATCH_MAX = 250;

  /** Most received texts waiting for a write; past this a callback is answered 503 with Retry-After (Notify retries). */
  @IsInt() @Min(1) @Max(100000)
  CALLBACK_BACKLOG_MAX = 2000;

  /** The Notify template id this notifier sends a text of `kind` with. */
  templateId(kind: SmsKind): string {
    return this[TEMPLATE_SETTINGS[kind]];
  }

  /**
   * Refuses two kinds sharing a template (one of them would carry the other's words). With
   * NODE_ENV=production also the sandbox's published key and callback token, its template ids, and
   * a Notify that is not HTTPS (so never the sandbox): with the token's default anyone who knows it
   * could post "YES" replies to the public callback, with the key's default every text would go to
   * the sandbox unseen, and with a sandbox template id Notify refuses every text of that kind.
   */
  check(): this {
    const problems: string[] = [];
    const kinds = Object.keys(TEMPLATE_SETTINGS) as SmsKind[];
    for (const [i, kind] of kinds.entries()) {
      const same = kinds.slice(0, i).find((k) => this.templateId(k).toLowerCase() === this.templateId(kind).toLowerCase());
      if (same) problems.push(`${TEMPLATE_SETTINGS[kind]} is the same template as ${TEMPLATE_SETTINGS[same]}: each kind of text needs its own template`);
    }
    if (this.NODE_ENV !== 'production') {
      if (problems.length > 0) throw new ConfigError(problems);
      return this;
    }
    for (const kind of kinds) {
      if (this.templateId(kind).toLowerCase() === SMS_TEMPLATES[kind].id) {
        problems.push(`${TEMPLATE_SETTINGS[kind]} must be set to the id of the ${kind.replace('_', ' ')} template in the service's Notify account (the default is the sandbox's, which Notify does not know)`);
      }
    }
    if (this.NOTIFY_API_KEY === SANDBOX_NOTIFY_API_KEY) problems.push('NOTIFY_API_KEY must be set to the service\'s live API key (the sandbox key is published)');
    if (this.NOTIFY_CALLBACK_TOKEN === SANDBOX_NOTIFY_CALLBACK_TOKEN) problems.push('NOTIFY_CALLBACK_TOKEN must be set to the bearer token configured for the service\'s callbacks in Notify (the sandbox token is published)');
    if (!/^https:\/\//i.test(this.NOTIFY_BASE_URL)) problems.push(`NOTIFY_BASE_URL must be an https:// address in production (GOV.UK Notify: https://api.notifications.service.gov.uk), not ${JSON.stringify(this.NOTIFY_BASE_URL)}`);
    if (problems.length > 0) throw new ConfigError(problems);
    return this;
  }
}
