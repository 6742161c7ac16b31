import { PolicyConfig } from '@app/platform';
import { SANDBOX_NOTIFY_API_KEY, SANDBOX_NOTIFY_CALLBACK_TOKEN } from '@app/contracts';
import { IsInt, IsString, Max, Min } from 'class-validator';

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
}
