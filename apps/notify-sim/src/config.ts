import { SANDBOX_NOTIFY_API_KEY, SANDBOX_NOTIFY_CALLBACK_TOKEN } from '@app/contracts';
import { BaseConfig, EmptyAsUndefined } from '@app/platform';
import { IsIn, IsInt, IsNumber, IsOptional, IsString, Matches, Max, Min } from 'class-validator';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

/** Everything notify-sim reads from the environment (a sandbox: never deployed to production). */
export class NotifySimConfig extends BaseConfig {
  override SERVICE_NAME = 'notify-sim';

  // Re-declared with an explicit type: BaseConfig's `PORT = 3000` has no annotation, so TypeScript
  // records its design type as Object and the string from the environment is never converted
  // (PORT=13300 would fail @IsInt). The annotation here gives class-transformer `Number`.
  @IsInt() @Min(0) @Max(65535)
  override PORT: number = 3300;

  /** The one API key this fake Notify service accepts, in Notify's `<key name>-<service id>-<secret>` form. */
  @IsString() @Matches(new RegExp(`^.+-${UUID}-${UUID}$`, 'i'), { message: 'NOTIFY_API_KEY must look like <key name>-<service id uuid>-<secret uuid>' })
  NOTIFY_API_KEY: string = SANDBOX_NOTIFY_API_KEY;

  /** The notifier, which serves Notify's callbacks at `/notify/inbound` and `/notify/status`. */
  @IsString() @Matches(/^https?:\/\/[^/]+/, { message: 'NOTIFIER_BASE_URL must be an http(s) URL' })
  NOTIFIER_BASE_URL: string = 'http://127.0.0.1:3002';

  /** Bearer token on every callback, as configured on a real Notify service's callback settings. */
  @IsString()
  NOTIFY_CALLBACK_TOKEN: string = SANDBOX_NOTIFY_CALLBACK_TOKEN;

  /** The number patients text back to (Notify's inbound number for the service). */
  @IsString()
  SIM_INBOUND_NUMBER: string = '07700900000';

  /** 1: simulated patients answer offers on their own. */
  @IsInt() @IsIn([0, 1])
  SIM_AUTOREPLY: number = 0;

  /** Share of offers that get any answer. */
  @IsNumber() @Min(0) @Max(1)
  SIM_REPLY_RATE: number = 0.35;

  /** Share of answers that are YES. */
  @IsNumber() @Min(0) @Max(1)
  SIM_ACCEPT_RATE: number = 0.3;

  /** Reply delays are log-normal around this median… */
  @IsInt() @Min(0)
  SIM_REPLY_DELAY_MS_MEDIAN: number = 15_000;

  /** …and never longer than this. */
  @IsInt() @Min(0)
  SIM_REPLY_DELAY_MS_MAX: number = 120_000;

  /** Seeds the simulated patients' choices so a run can be replayed; random when unset. */
  @IsOptional() @IsString() @EmptyAsUndefined()
  SIM_SEED?: string;

  /** 1: post a delivery receipt to the notifier for every message, as Notify does. */
  @IsInt() @IsIn([0, 1])
  SIM_DELIVERY_RECEIPTS: number = 1;

  /**
   * How long a message takes to be "delivered". Real receipts come seconds after the send; one
   * arriving before the sender has stored the notification id would be a race no real service has.
   */
  @IsInt() @Min(0) @Max(600_000)
  SIM_DELIVERY_DELAY_MS: number = 1000;

  /** Comma-separated numbers whose messages fail with `permanent-failure` (a dead phone). */
  @IsString()
  SIM_UNDELIVERABLE_NUMBERS: string = '';

  /** Notify's per-key limit on sends in any 60 seconds. */
  @IsInt() @Min(1)
  SIM_RATE_PER_MINUTE: number = 3000;

  /** Messages kept in memory; the oldest are dropped beyond this. */
  @IsInt() @Min(1) @Max(10_000_000)
  SIM_MAX_MESSAGES: number = 100_000;
}
