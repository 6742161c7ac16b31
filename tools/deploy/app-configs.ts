/**
 * Each production app's configuration class (what its process reads from the environment, and
 * the defaults), for the manifests: the generator sizes each Deployment's Postgres pool from it,
 * and the tests check the Secrets k8s/README.md lists against it.
 */
import { BookingConfig } from '../../apps/booking/src/config';
import { DashboardConfig } from '../../apps/dashboard/src/config';
import { NotifierConfig } from '../../apps/notifier/src/config';
import { ExchangeConfig } from '../../apps/slot-exchange/src/config';
import { AdapterConfig } from '../../apps/trust-adapter/src/config';

export const APP_CONFIGS = {
  'slot-exchange': ExchangeConfig,
  booking: BookingConfig,
  notifier: NotifierConfig,
  'trust-adapter': AdapterConfig,
  dashboard: DashboardConfig,
} as const;

export type ProductionApp = keyof typeof APP_CONFIGS;

export const isProductionApp = (app: string): app is ProductionApp => app in APP_CONFIGS;
