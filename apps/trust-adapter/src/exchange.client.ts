/** The adapter's HTTP client for the slot exchange, with its own trust's token. */
import { Injectable } from '@nestjs/common';
import { tracedFetch } from '@app/platform';
import { AdapterConfig } from './config';

export class ExchangeHttpError extends Error {
  constructor(readonly status: number, readonly body: string) {
    super(`exchange answered ${status}: ${body.slice(0, 300)}`);
  }
  /** 4xx other than 408/429 will not get better by retrying. */
  get permanent(): boolean {
    return this.status >= 400 && this.status < 500 && this.status !== 408 && this.status !== 429;
  }
}

@Injectable()
export class ExchangeClient {
  constructor(private readonly config: AdapterConfig) {}

  async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const res = await tracedFetch(`${this.config.EXCHANGE_URL.replace(/\/$/, '')}/v1/trusts/${this.config.TRUST_ODS}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.config.EXCHANGE_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    }, 'slot-exchange');
    const text = await res.text();
    if (!res.ok) throw new ExchangeHttpError(res.status, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }
}
