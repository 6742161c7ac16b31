/**
 * notify-sim and the notifier in the test's own process, for the notifier's suites that want the
 * real Notify client against the real sandbox over real Postgres and Redis: what notify-sim was
 * sent, per number, and its controls (`/sim/outage`).
 */
import { INestApplication } from '@nestjs/common';
import type { Clock } from '@app/domain';
import { bootstrapApp, loadConfig } from '@app/platform';
import { AddressInfo } from 'node:net';
import { NotifierModule } from '../../apps/notifier/src/app.module';
import { NotifierConfig } from '../../apps/notifier/src/config';
import type { SmsSweepTiming } from '../../apps/notifier/src/sms-sweep';
import { AppModule as NotifySimModule } from '../../apps/notify-sim/src/app.module';
import { NotifySimConfig } from '../../apps/notify-sim/src/config';
import type { FreshStores } from '../../tools/stack/fresh-stack';
import { http } from './wait';

export interface NotifySandbox {
  app: INestApplication;
  url: string;
  /** What notify-sim holds for one number, oldest first (`/sim/messages?phone=`). */
  messages(phone: string): Promise<Array<{ id: string; reference: string | null; created_at: string }>>;
}

export async function startNotifySandbox(env: Record<string, string> = {}): Promise<NotifySandbox> {
  const config = loadConfig(NotifySimConfig, { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', NODE_ENV: 'test', SIM_DELIVERY_RECEIPTS: '0', ...env });
  const app = await bootstrapApp(NotifySimModule.forRoot(config), { config });
  const url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  return { app, url, messages: async (phone) => (await http('GET', `${url}/sim/messages?phone=${encodeURIComponent(phone)}`)).json };
}

/** The notifier on `port` over `stores`, sending to `sim`; `env` over quiet settings (no quiet hours unless asked); `opts` as `NotifierModule.forRoot`'s. */
export async function startNotifier(
  stores: Pick<FreshStores, 'db' | 'redisUrl'>, sim: NotifySandbox, port: number, env: Record<string, string> = {}, opts: { clock?: Clock; sweep?: Partial<SmsSweepTiming> } = {},
): Promise<INestApplication> {
  const config = loadConfig(NotifierConfig, {
    PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: stores.db.url, REDIS_URL: stores.redisUrl, LOG_LEVEL: 'silent', QUIET_HOURS: '', NOTIFY_BASE_URL: sim.url, ...env,
  });
  return bootstrapApp(NotifierModule.forRoot(config, opts), { config });
}
