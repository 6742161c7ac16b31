/**
 * notify-sim in the test's own process, on a free port, for the notifier's suites that want the
 * real Notify client against the real sandbox: what it was sent, per number, and its controls.
 */
import { INestApplication } from '@nestjs/common';
import { bootstrapApp, loadConfig } from '@app/platform';
import { AddressInfo } from 'node:net';
import { AppModule as NotifySimModule } from '../../apps/notify-sim/src/app.module';
import { NotifySimConfig } from '../../apps/notify-sim/src/config';
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
