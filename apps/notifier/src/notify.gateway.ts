/**
 * The SMS provider behind a small interface (one of the few places with several implementations
 * in mind: GOV.UK Notify today, another provider or a test double tomorrow).
 *
 * `NotifyGateway` speaks Notify's v2 API (`POST /v2/notifications/sms`, the request
 * notifications-node-client sends) itself, for throughput: that client signs a new JWT for every
 * request (most of the notifier's CPU in a burst) and opens a new connection each time. Here the
 * token is signed once and reused while it is comfortably inside Notify's 30-second clock window,
 * and requests go over kept-alive connections with node:http (axios cost the notifier more CPU
 * than the rest of a send).
 */
import { Injectable } from '@nestjs/common';
import { createHmac } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
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

interface HttpAnswer {
  status: number;
  body: unknown;
}

@Injectable()
export class NotifyGateway extends SmsGateway {
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly serviceId: string;
  private readonly secret: string;
  private token?: { value: string; at: number };

  constructor(private readonly config: NotifierConfig) {
    super();
    // `<key name>-<service id>-<secret>`, sliced as notifications-node-client does.
    const key = config.NOTIFY_API_KEY;
    this.secret = key.slice(-36);
    this.serviceId = key.slice(-73, -37);
    this.url = new URL(`${config.NOTIFY_BASE_URL.replace(/\/$/, '')}/v2/notifications/sms`);
    this.agent = this.url.protocol === 'https:' ? new https.Agent({ keepAlive: true, maxSockets: 64 }) : new http.Agent({ keepAlive: true, maxSockets: 64 });
  }

  private bearer(): string {
    const now = Date.now();
    if (!this.token || now - this.token.at > TOKEN_REUSE_MS) this.token = { value: notifyToken(this.serviceId, this.secret, Math.round(now / 1000)), at: now };
    return this.token.value;
  }

  private post(body: unknown): Promise<HttpAnswer> {
    const payload = Buffer.from(JSON.stringify(body));
    const request = this.url.protocol === 'https:' ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const req = request(this.url, {
        method: 'POST', agent: this.agent, timeout: this.config.NOTIFY_TIMEOUT_MS,
        headers: {
          Authorization: `Bearer ${this.bearer()}`, 'Content-Type': 'application/json', 'Content-Length': payload.length,
          'User-Agent': 'ics-slot-exchange-notifier',
        },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // Not JSON (a proxy's error page): kept as text.
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`timeout of ${this.config.NOTIFY_TIMEOUT_MS}ms exceeded`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  async send(templateId: string, phone: string, personalisation: Record<string, string>, reference: string): Promise<SendResult> {
    let answer: HttpAnswer;
    try {
      answer = await this.post({ template_id: templateId, phone_number: phone, personalisation, reference });
    } catch (e) {
      // No answer (refused, reset, timed out): worth retrying.
      return { ok: false, permanent: false, invalidNumber: false, rateLimited: false, status: null, message: `error: ${(e as Error).message}` };
    }
    const { status, body } = answer;
    if (status >= 200 && status < 300) return { ok: true, notifyId: (body as { id: string }).id };
    const first = (body as { errors?: Array<{ error?: string; message?: string }> } | undefined)?.errors?.[0];
    const message = `${first?.error ?? 'error'}: ${first?.message ?? `status ${status}`}`;
    // 429 and 5xx are worth retrying; any other 4xx will fail the same way again.
    const permanent = status >= 400 && status < 500 && status !== 429;
    const invalidNumber = permanent && /phone_number|mobile number/i.test(first?.message ?? '');
    return { ok: false, permanent, invalidNumber, rateLimited: status === 429, status, message };
  }
}
