import { DynamicModule, Module } from '@nestjs/common';
import { PersistenceModule } from '@app/persistence';
import { IcsDirectory, PlatformModule, loadIcsDirectory } from '@app/platform';
import { CallbacksController } from './callbacks.controller';
import { NotifierConfig } from './config';
import { NotifyGateway, SmsGateway } from './notify.gateway';
import { OfferPageController } from './offer-page.controller';
import { OfferPageRenderer } from './offer-page.renderer';
import { SmsSenderWorker } from './sms-sender.worker';

/** The notifier: SMS out through GOV.UK Notify, replies and receipts in. */
@Module({})
export class NotifierModule {
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
