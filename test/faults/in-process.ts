/**
 * For fault suites that run the apps in this process (adapter-faults, writeback-faults): fresh
 * stores (a new database, Redis database REDIS_DB) and the real slot exchange on `exchangePort`,
 * with the settings every such suite shares, handed back so the adapter can be started alike.
 */
import { INestApplication } from '@nestjs/common';
import { bootstrapApp, loadConfig } from '@app/platform';
import { ExchangeModule } from '../../apps/slot-exchange/src/app.module';
import { ExchangeConfig } from '../../apps/slot-exchange/src/config';
import { FreshStores, freshStores } from '../../tools/stack/fresh-stack';
import { REDIS_DB } from './harness';

export interface InProcessWorld {
  stores: FreshStores;
  exchange: INestApplication;
  /** The environment every app of the suite gets. */
  common: Record<string, string>;
}

export async function startExchangeWorld(dbPrefix: string, exchangePort: number): Promise<InProcessWorld> {
  const stores = await freshStores(dbPrefix, REDIS_DB);
  const common = { DATABASE_URL: stores.db.url, REDIS_URL: stores.redisUrl, HOST: '127.0.0.1', LOG_LEVEL: 'error', QUIET_HOURS: '' };
  const exConfig = loadConfig(ExchangeConfig, { ...common, PORT: String(exchangePort) });
  const exchange = await bootstrapApp(ExchangeModule.forRoot(exConfig), { config: exConfig });
  return { stores, exchange, common };
}
