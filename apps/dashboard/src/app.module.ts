import { DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { PersistenceModule } from '@app/persistence';
import { IcsDirectory, PlatformModule, loadIcsDirectory } from '@app/platform';
import { AuditController } from './audit.controller';
import { AuditService } from './audit.service';
import { AccountsService } from './auth/accounts.service';
import { AuthController } from './auth/auth.controller';
import { OidcService } from './auth/oidc.service';
import { SessionGuard } from './auth/session.guard';
import { SessionsService } from './auth/sessions.service';
import { UsersController } from './auth/users.controller';
import { DashboardConfig } from './config';
import { FailuresController } from './failures.controller';
import { FailuresService } from './failures.service';
import { FlowsController } from './flows.controller';
import { InputGuard } from './input.guard';
import { SlotFactsJob } from './slot-facts';
import { LiveService } from './live.service';
import { OverviewController } from './overview.controller';
import { DashboardErrorFilter, Pages } from './pages';
import { PolicyController } from './policy.controller';
import { PtlImportsController } from './ptl-imports.controller';
import { SlotsController } from './slots.controller';

/**
 * The ICS operations dashboard: sign-in and roles, the live overview, slots, flows, failures,
 * waiting list imports, policy, accounts and the audit log. It reads the exchange's tables
 * directly (read-mostly, same trust boundary); its own writes are accounts, sessions, the audit log, failure actions and policy
 * versions. Redis only for the admins' view of the queues (Bull Board) and re-driving failures.
 */
@Module({})
export class DashboardModule {
  static forRoot(config: DashboardConfig): DynamicModule {
    return {
      module: DashboardModule,
      imports: [PlatformModule.forRoot({ config, configClass: DashboardConfig, redis: true }), PersistenceModule.forRoot({ relay: false })],
      controllers: [AuthController, OverviewController, SlotsController, FlowsController, FailuresController, PtlImportsController, PolicyController, AuditController, UsersController],
      providers: [
        { provide: IcsDirectory, useValue: loadIcsDirectory(config.ICS_CONFIG_DIR) },
        // In this order: input no route can take is refused before the session is looked up.
        { provide: APP_GUARD, useClass: InputGuard },
        { provide: APP_GUARD, useClass: SessionGuard },
        AccountsService, SessionsService, AuditService, OidcService, LiveService, Pages, DashboardErrorFilter, FailuresService, SlotFactsJob,
      ],
    };
  }
}
