import { DynamicModule, Module, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost, ModuleRef } from '@nestjs/core';
import type { Server } from 'node:http';
import { PersistenceModule } from '@app/persistence';
import { IcsDirectory, PlatformModule, loadIcsDirectory } from '@app/platform';
import { CallbacksController } from './callbacks.controller';
import { serveCallbacksFirst } from './callback-server';
import { NotifierConfig } from './config';
import { NotifyGateway, SmsGateway } from './notify.gateway';
import { OfferPageController } from './offer-page.controller';
import { OfferPageRenderer } from './offer-page.renderer';
import { SmsSenderWorker } from './sms-sender.worker';

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

  static forRoot(config: NotifierConfig): DynamicModule {
    return {
      module: NotifierModule,
      imports: [PlatformModule.forRoot({ config, configClass: NotifierConfig, redis: true }), PersistenceModule.forRoot()],
      controllers: [CallbacksController, OfferPageController],
      providers: [
        { provide: IcsDirectory, useValue: loadIcsDirectory(config.ICS_CONFIG_DIR) },
        { provide: SmsGateway, useClass: NotifyGateway },
        SmsSenderWorker,
        OfferPageRenderer,
      ],
    };
  }
}
