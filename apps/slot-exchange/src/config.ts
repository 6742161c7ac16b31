import { EmptyAsUndefined, PolicyConfig } from '@app/platform';
import { IsOptional, IsString } from 'class-validator';

export class ExchangeConfig extends PolicyConfig {
  override SERVICE_NAME = 'slot-exchange';
  override PORT = 3000;

  /** `RQM=<token>,RAS=<token>,…`: each adapter's credential, which acts on its own trust only. Sandbox tokens when unset outside production. */
  @IsOptional() @IsString() @EmptyAsUndefined()
  EXCHANGE_TOKENS?: string;

  /** Where patients open offer links (the notifier's public address). */
  @IsString()
  OFFER_PAGE_BASE_URL = 'http://127.0.0.1:3002';
}
