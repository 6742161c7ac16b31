/**
 * For fault suites that run the apps in this process (adapter-faults, writeback-faults): fresh
 * stores (a new database, Redis database REDIS_DB) and the real slot exchange on `exchangePort`,
 * with the settings every such suite shares, handed back so the adapter can be started alike.
 * The apps log at info into `logs` (printed from error up), which the suite's last test scans for
 * personal data (`personalDataFound`); the suite restores stdout in its afterAll.
 */
import { INestApplication } from '@nestjs/common';
import { bootstrapApp, loadConfig } from '@app/platform';
import { ExchangeModule } from '../../apps/slot-exchange/src/app.module';
import { ExchangeConfig } from '../../apps/slot-exchange/src/config';
import { FreshStores, freshStores } from '../../tools/stack/fresh-stack';
import { CapturedLogs, captureLogs } from '../support/captured-logs';
import { REDIS_DB } from './harness';

export interface InProcessWorld {
  stores: FreshStores;
  exchange: INestApplication;
  /** The environment every app of the suite gets. */
  common: Record<string, string>;
  /** Every line the apps of this process logged since the world started. */
  logs: CapturedLogs;
}

export async function startExchangeWorld(dbPrefix: string, exchangePort: number): Promise<InProcessWorld> {
  const logs = captureLogs();
  try {
    const stores = await freshStores(dbPrefix, REDIS_DB);
    const common = { DATABASE_URL: stores.db.url, REDIS_URL: stores.redisUrl, HOST: '127.0.0.1', LOG_LEVEL: 'info', QUIET_HOURS: '' };
    const exConfig = loadConfig(ExchangeConfig, { ...common, PORT: String(exchangePort) });
    const exchange = await bootstrapApp(ExchangeModule.forRoot(exConfig), { config: exConfig });
    return { stores, exchange, common, logs };
  } catch (e) {
    logs.restore();
    throw e;
  }
}
