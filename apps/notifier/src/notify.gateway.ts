/**
 * The SMS provider behind a small interface (one of the few places with several implementations
 * in mind: GOV.UK Notify today, another provider or a test double tomorrow).
 *
 * `NotifyGateway` speaks Notify's v2 API (`POST /v2/notifications/sms`, the request
 * notifications-node-client sends) itself, for throughput: that client signs a new JWT for every
 * request (most of the notifier's CPU in a burst) and opens a new connection each time. Here the
 * token is signed once and reused while it is comfortably inside Notify's 30-second clock window,
 * and connections are kept alive.
 */
import { Injectable } from '@nestjs/common';
import axios, { AxiosInstance } from 'axios';
import { createHmac } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { NotifierConfig } from './config';

export type SendResult =
  | { ok: true; notifyId: string }
  | { ok: false; permanent: boolean; invalidNumber: boolean; rateLimited: boolean; status: number | null; message: string };

export abstract class SmsGateway {
  abstract send(templateId: string, phone: string, personalisation: Record<string, string>, reference: string): Promise<SendResult>;
}

/** Notify refuses a token whose `iat` is over 30 s from its clock; a fresh one is signed well before. */
const TOKEN_REUSE_MS = 10_000;

/** Notify's API token: HS256 JWT, `iss` the service id, `iat` now, signed with the key's secret. */
export function notifyToken(serviceId: string, secret: string, iatSeconds: number): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const unsigned = `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc({ iss: serviceId, iat: iatSeconds })}`;
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}

@Injectable()
export class NotifyGateway extends SmsGateway {
  private readonly http: AxiosInstance;
  private readonly serviceId: string;
  private readonly secret: string;
  private token?: { value: string; at: number };

  constructor(private readonly config: NotifierConfig) {
    super();
    // `<key name>-<service id>-<secret>`, sliced as notifications-node-client does.
    const key = config.NOTIFY_API_KEY;
    this.secret = key.slice(-36);
    this.serviceId = key.slice(-73, -37);
    this.http = axios.create({
      baseURL: config.NOTIFY_BASE_URL.replace(/\/$/, ''),
      timeout: config.NOTIFY_TIMEOUT_MS,
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 64 }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 64 }),
    });
  }

  private bearer(): string {
    const now = Date.now();
    if (!this.token || now - this.token.at > TOKEN_REUSE_MS) this.token = { value: notifyToken(this.serviceId, this.secret, Math.round(now / 1000)), at: now };
    return this.token.value;
  }

  async send(templateId: string, phone: string, personalisation: Record<string, string>, reference: string): Promise<SendResult> {
    try {
      const res = await this.http.post<{ id: string }>(
        '/v2/notifications/sms',
        { template_id: templateId, phone_number: phone, personalisation, reference },
        { headers: { Authorization: `Bearer ${this.bearer()}`, 'User-Agent': 'ics-slot-exchange-notifier' } },
      );
      return { ok: true, notifyId: res.data.id };
    } catch (e) {
      const err = e as { response?: { status?: number; data?: { errors?: Array<{ error?: string; message?: string }> } }; message?: string };
      const status = err.response?.status ?? null;
      const first = err.response?.data?.errors?.[0];
      const message = `${first?.error ?? 'error'}: ${first?.message ?? err.message ?? 'unknown'}`;
      // 429 and 5xx are worth retrying; any other 4xx will fail the same way again.
      const permanent = status !== null && status >= 400 && status < 500 && status !== 429;
      const invalidNumber = permanent && /phone_number|mobile number/i.test(first?.message ?? '');
      return { ok: false, permanent, invalidNumber, rateLimited: status === 429, status, message };
    }
  }
}
