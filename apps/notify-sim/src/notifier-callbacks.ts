/**
 * Calls the notifier the way GOV.UK Notify calls a service's callback URLs: JSON POST with the
 * service's bearer token, retried on network errors and 5xx (never on 4xx, which is an answer).
 */
import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { MetricsService, errorMessage } from '@app/platform';
import { NotifySimConfig } from './config';

/** Notify's received-text callback body. */
export interface InboundSmsCallback {
  id: string;
  source_number: string;
  destination_number: string;
  message: string;
  date_received: string;
}

/** Notify's delivery-receipt callback body. */
export interface DeliveryReceiptCallback {
  id: string;
  reference: string | null;
  to: string;
  status: 'delivered' | 'permanent-failure' | 'temporary-failure' | 'technical-failure';
  created_at: string;
  completed_at: string | null;
  sent_at: string | null;
  notification_type: 'sms';
  template_id: string;
  template_version: number;
}

export interface CallbackOutcome {
  delivered: boolean;
  /** The notifier's last HTTP status; null when it never answered. */
  status: number | null;
}

/** Retries after the first attempt, and the pause before each (doubling). */
export const CALLBACK_RETRIES = 3;
const FIRST_BACKOFF_MS = 200;
/** Notify gives a callback a few seconds to answer. */
const ATTEMPT_TIMEOUT_MS = 5000;

@Injectable()
export class NotifierCallbacks implements OnApplicationShutdown {
  private readonly logger = new Logger('callbacks');
  private readonly base: string;
  // Shutdown aborts calls still waiting on the notifier, so the process can exit promptly.
  private readonly shutdown = new AbortController();

  constructor(
    private readonly config: NotifySimConfig,
    private readonly metrics: MetricsService,
  ) {
    this.base = config.NOTIFIER_BASE_URL.replace(/\/+$/, '');
  }

  inbound(body: InboundSmsCallback): Promise<CallbackOutcome> {
    return this.post('inbound', `${this.base}/notify/inbound`, body);
  }

  deliveryReceipt(body: DeliveryReceiptCallback): Promise<CallbackOutcome> {
    return this.post('status', `${this.base}/notify/status`, body);
  }

  private async post(kind: 'inbound' | 'status', url: string, body: unknown): Promise<CallbackOutcome> {
    const counter = this.metrics.counter('notify_sim_callbacks_total', 'Callbacks to the notifier, by kind and outcome', ['kind', 'outcome']);
    let status: number | null = null;
    for (let attempt = 0; attempt <= CALLBACK_RETRIES; attempt++) {
      if (attempt > 0) await this.pause(FIRST_BACKOFF_MS * 2 ** (attempt - 1));
      if (this.shutdown.signal.aborted) break;
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${this.config.NOTIFY_CALLBACK_TOKEN}` },
          body: JSON.stringify(body),
          signal: AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(ATTEMPT_TIMEOUT_MS)]),
        });
        status = res.status;
        await res.arrayBuffer().catch(() => undefined);
        if (res.status < 500) break;
      } catch (e) {
        status = null;
        // The error names the host and port only; bodies and numbers never reach the log.
        this.logger.debug(`${kind} callback attempt ${attempt + 1} failed: ${errorMessage(e)}`);
      }
    }
    const delivered = status !== null && status >= 200 && status < 300;
    counter.inc({ kind, outcome: delivered ? 'ok' : status === null ? 'unreachable' : String(status) });
    if (!delivered) this.logger.warn(`${kind} callback not accepted by the notifier (status ${status ?? 'none'})`);
    return { delivered, status };
  }

  private pause(ms: number): Promise<void> {
    const signal = this.shutdown.signal;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      t.unref();
      signal.addEventListener('abort', done, { once: true });
    });
  }

  onApplicationShutdown(): void {
    this.shutdown.abort();
  }
}
