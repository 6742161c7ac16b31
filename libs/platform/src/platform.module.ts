/**
 * What every process has: validated config, JSON logs, `/health/*`, `/metrics`, a clock, and
 * (when it uses Redis) the queue service.
 */
import { DynamicModule, Global, Module, Provider } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { BaseConfig, DataConfig } from './config';
import { AppErrorFilter } from './errors';
import { HealthController, HealthRegistry } from './health';
import { APP_LOGGER, createLogger } from './logger';
import { MetricsController, MetricsService } from './metrics';
import { QueueService } from './queues';
import { QueueMetrics } from './queue-metrics';
import { TelemetryShutdown } from './telemetry';
import { CLOCK, SystemClock } from './clock';

export interface PlatformOptions {
  config: BaseConfig;
  /** The config class the app declared, so services can inject it by type. */
  configClass: new () => BaseConfig;
  redis?: boolean;
}

@Global()
@Module({})
export class PlatformModule {
  static forRoot(opts: PlatformOptions): DynamicModule {
    const providers: Provider[] = [
      { provide: opts.configClass, useValue: opts.config },
      { provide: BaseConfig, useValue: opts.config },
      { provide: APP_LOGGER, useValue: createLogger(opts.config.SERVICE_NAME, opts.config.LOG_LEVEL) },
      { provide: MetricsService, useValue: new MetricsService(opts.config.SERVICE_NAME) },
      { provide: CLOCK, useClass: SystemClock },
      { provide: APP_FILTER, useClass: AppErrorFilter },
      HealthRegistry,
      TelemetryShutdown,
    ];
    if (opts.redis) {
      providers.push({
        provide: QueueService,
        inject: [HealthRegistry],
        useFactory: (health: HealthRegistry) => {
          const q = new QueueService((opts.config as DataConfig).REDIS_URL, {
            requireNoEviction: opts.config.NODE_ENV === 'production',
            requireAppendOnly: opts.config.NODE_ENV === 'production',
            runWorkers: opts.config.PROCESS_ROLE !== 'api',
          });
          health.register('redis', () => q.ping());
          return q;
        },
      });
      providers.push(QueueMetrics);
    }
    if (opts.configClass !== DataConfig && opts.config instanceof DataConfig) {
      providers.push({ provide: DataConfig, useValue: opts.config });
    }
    return {
      module: PlatformModule,
      imports: [TerminusModule.forRoot({ logger: false })],
      controllers: [HealthController, MetricsController],
      providers,
      exports: providers.filter((p): p is Exclude<Provider, Function> => typeof p === 'object' && (p as { provide: unknown }).provide !== APP_FILTER).map((p) => (p as { provide: unknown }).provide as string | symbol | Function).concat([HealthRegistry]),
    };
  }
}
