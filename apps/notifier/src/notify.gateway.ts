/**
 * The SMS provider behind a small interface (one of the few places with several implementations
 * in mind: GOV.UK Notify today, another provider or a test double tomorrow).
 */
import { Injectable } from '@nestjs/common';
import axios from 'axios';
import { createSecretKey } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { NotifyClient } from 'notifications-node-client';
import { NotifierConfig } from './config';

/**
 * Why Notify did not take a message, which decides what the sender does next:
 * - `refused`: about this message (400 ValidationError/BadRequestError, e.g. not a mobile
 *   number, or a team-only key and a recipient outside the team). Sending it again fails the
 *   same way.
 * - `rate-limited`: 429, our key's per-minute budget is spent for now.
 * - `auth`: 401/403 AuthError. Notify refused our API key or the token's clock (more than 30 s
 *   off). Nothing about the message: every message fails alike until someone fixes the key or
 *   the clock.
 * - `config`: a refusal about our settings or our Notify service, not the message (see
 *   `SERVICE_WIDE`): a template Notify does not know, a service not allowed to send texts or still
 *   in trial mode, or a 404 (Notify answers none to a send: NOTIFY_BASE_URL is wrong). Every
 *   message of that kind, or every message, fails alike until someone fixes the setting.
 * - `unavailable`: 5xx, a timeout or a dropped connection. Notify (or the way to it) is in
 *   trouble; the message may well be fine. With no answer at all, Notify may even have taken it.
 */
export type SendFailure = 'refused' | 'rate-limited' | 'auth' | 'config' | 'unavailable';

export type SendFailed = { ok: false; failure: SendFailure; invalidNumber: boolean; status: number | null; message: string };
export type SendResult = { ok: true; notifyId: string } | SendFailed;

/** Notify's id for the message it holds under a reference, `null` when it holds none, or why it could not be asked. */
export type LookupResult = { ok: true; notifyId: string | null } | SendFailed;

export abstract class SmsGateway {
  abstract send(templateId: string, phone: string, personalisation: Record<string, string>, reference: string): Promise<SendResult>;
  /** The message Notify already holds with this reference, if any (our reference is our message id), but for one it failed technically. */
  abstract findByReference(reference: string): Promise<LookupResult>;
}

/** One of the errors in Notify's answer, `{ status_code, errors: [{ error, message }] }`. */
export interface NotifyError { error?: string; message?: string }

/**
 * Notify's 400 messages (GOV.UK Notify API documentation and its notifications-api source) that are
 * about our service or settings rather than the message, so that every text, or every text of a
 * kind, fails alike. Trial mode: such a service sends only to its own team, never to patients.
 * Not here, since they depend on the recipient or the text: "Can't send to this recipient using a
 * team-only API key" (the team's own numbers go), an invalid number, missing personalisation.
 */
const SERVICE_WIDE: RegExp[] = [
  /^Template not found/i,
  /^Template has been deleted/i,
  /template is not suitable for/i,
  /^Service is not allowed to send/i,
  /when service is in trial mode/i,
  /^template_id is not a valid UUID/i,
];

/**
 * Notify's HTTP status and errors to what they mean for the message; `null` is no answer (timeout,
 * dropped connection).
 */
export function classifyNotifyFailure(status: number | null, errors: NotifyError[] = []): SendFailure {
  if (status === null || status >= 500) return 'unavailable';
  if (status === 429) return 'rate-limited';
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'config';
  if (errors.some((e) => SERVICE_WIDE.some((re) => re.test(e.message ?? '')))) return 'config';
  return 'refused';
}

@Injectable()
export class NotifyGateway extends SmsGateway {
  private readonly client: NotifyClient;

  constructor(config: NotifierConfig) {
    super();
    this.client = new NotifyClient(config.NOTIFY_BASE_URL, config.NOTIFY_API_KEY);
    // Kept-alive connections: a new TLS connection per text cost more than the send itself in a
    // burst. (The client still signs a JWT per request; we keep GOV.UK's own client for that.)
    this.client.setClient(axios.create({
      timeout: config.NOTIFY_TIMEOUT_MS,
      // Notify's API does not redirect; without redirects axios sends through Node's own http
      // rather than follow-redirects' wrapper, a tenth of the notifier's CPU per text in a burst.
      maxRedirects: 0,
      // A socket for every send in flight (SMS_SEND_CONCURRENCY): with fewer, the sends beyond them
      // queued in the agent, their timeout already running.
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets: config.SMS_SEND_CONCURRENCY }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: config.SMS_SEND_CONCURRENCY }),
    }));
    holdSecretAsKey(this.client);
  }

  async send(templateId: string, phone: string, personalisation: Record<string, string>, reference: string): Promise<SendResult> {
    try {
      const res = await this.client.sendSms(templateId, phone, { personalisation, reference });
      return { ok: true, notifyId: (res.data as { id: string }).id };
    } catch (e) {
      return failureOf(e);
    }
  }

  async findByReference(reference: string): Promise<LookupResult> {
    try {
      const res = await this.client.getNotifications('sms', undefined, reference);
      // Our references are our message ids, so Notify holds one text of ours per reference, but for
      // those it failed technically (never sent), which we send again under the same reference.
      const found = (res.data as { notifications?: Array<{ id: string; reference: string | null; status?: string }> }).notifications
        ?.find((n) => n.reference === reference && n.status !== 'technical-failure');
      return { ok: true, notifyId: found?.id ?? null };
    } catch (e) {
      return failureOf(e);
    }
  }
}

/** A failed call to Notify, from the client's (axios's) error. */
function failureOf(e: unknown): SendFailed {
  const err = e as { response?: { status?: number; data?: { errors?: NotifyError[] } }; message?: string };
  const status = err.response?.status ?? null;
  const errors = Array.isArray(err.response?.data?.errors) ? err.response.data.errors : [];
  const first = errors[0];
  const message = `${first?.error ?? 'error'}: ${first?.message ?? err.message ?? 'unknown'}`;
  const failure = classifyNotifyFailure(status, errors);
  const invalidNumber = failure === 'refused' && /phone_number|mobile number/i.test(first?.message ?? '');
  return { ok: false, failure, invalidNumber, status, message };
}

/**
 * The client hands its API secret to `jsonwebtoken` as a string on every request, and
 * `jsonwebtoken` first tries to read a string as a PEM private key, failing with a thrown error
 * each time before it falls back to an HMAC secret: about 1.6 ms of CPU per text against 0.04 ms
 * with a key object (the same token either way). In a burst of thousands of offers that was one of
 * the notifier's largest costs, so the secret the client keeps is swapped for a key object once.
 * If a later client version keeps it elsewhere, nothing changes but the speed.
 */
export function holdSecretAsKey(client: NotifyClient): void {
  const api = (client as unknown as { apiClient?: { apiKeyId?: unknown } }).apiClient;
  if (api && typeof api.apiKeyId === 'string') api.apiKeyId = createSecretKey(Buffer.from(api.apiKeyId));
}
