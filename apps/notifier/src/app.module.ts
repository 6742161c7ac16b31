import { DynamicModule, Module, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost, ModuleRef } from '@nestjs/core';
import type { Server } from 'node:http';
import { PersistenceModule } from '@app/persistence';
import type { Clock } from '@app/domain';
import { CLOCK, ConfigError, IcsDirectory, PlatformModule, loadIcsDirectory, policyFromConfig } from '@app/platform';
import { CallbacksController } from './callbacks.controller';
import { serveCallbacksFirst } from './callback-server';
import { NotifierConfig } from './config';
import { NotifyGateway, SmsGateway } from './notify.gateway';
import { OfferPageController } from './offer-page.controller';
import { OfferPageRenderer } from './offer-page.renderer';
import { SmsSenderWorker } from './sms-sender.worker';
import { SMS_SWEEP_TIMING, SmsSweep, SmsSweepTiming } from './sms-sweep';
import { POLICY } from './tokens';

/** The notifier: SMS out through GOV.UK Notify, replies and receipts in. */
@Module({})
export class NotifierModule implements OnApplicationBootstrap {
  constructor(
    private readonly host: HttpAdapterHost,
    private readonly refs: ModuleRef,
    private readonly config: NotifierConfig,
  ) {}

  /** Notify's callbacks are answered ahead of Express and Nest (see callback-server.ts); not in a worker-only process, which serves no API. */
  onApplicationBootstrap(): void {
    const server = this.host.httpAdapter?.getHttpServer() as Server | undefined;
    if (!server || this.config.PROCESS_ROLE === 'worker') return;
    serveCallbacksFirst(server, this.refs.get(CallbacksController, { strict: false }), () => this.config.NOTIFY_CALLBACK_TOKEN);
  }

  /** `clock` replaces the system clock (tests that need it to be night, say); `sweep` the send sweep's timing (tests shorten it). */
  static forRoot(config: NotifierConfig, opts: { clock?: Clock; sweep?: Partial<SmsSweepTiming> } = {}): DynamicModule {
    return {
      module: NotifierModule,
      imports: [PlatformModule.forRoot({ config, configClass: NotifierConfig, redis: true }), PersistenceModule.forRoot()],
      controllers: [CallbacksController, OfferPageController],
      providers: [
        { provide: IcsDirectory, useValue: loadIcsDirectory(config.ICS_CONFIG_DIR) },
        { provide: SmsGateway, useClass: NotifyGateway },
        { provide: POLICY, useValue: configuredPolicy(config) },
        ...(opts.clock ? [{ provide: CLOCK, useValue: opts.clock }] : []),
        ...(opts.sweep ? [{ provide: SMS_SWEEP_TIMING, useValue: opts.sweep }] : []),
        SmsSenderWorker,
        SmsSweep,
        OfferPageRenderer,
      ],
    };
  }
}

/** QUIET_HOURS and the rest of the policy, checked at boot: a malformed window stops the process rather than text patients at night. */
function configuredPolicy(config: NotifierConfig) {
  try {
    return policyFromConfig(config);
  } catch (e) {
    throw new ConfigError([(e as Error).message]);
  }
}
