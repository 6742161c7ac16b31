/** Postgres for a process: the TypeORM connection, its readiness probe, and the outbox relay. */
import { DynamicModule, Global, Module } from '@nestjs/common';
import { TypeOrmModule, getDataSourceToken } from '@nestjs/typeorm';
import { DataConfig, HealthRegistry } from '@app/platform';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from './data-source';
import { OutboxRelay } from './outbox';

@Global()
@Module({})
export class PersistenceModule {
  static forRoot(opts: { relay?: boolean } = {}): DynamicModule {
    return {
      module: PersistenceModule,
      imports: [
        TypeOrmModule.forRootAsync({
          inject: [DataConfig],
          useFactory: (c: DataConfig) => dataSourceOptions(c.DATABASE_URL, c.DATABASE_POOL_SIZE),
        }),
      ],
      providers: [
        {
          provide: 'POSTGRES_READINESS',
          inject: [HealthRegistry, getDataSourceToken()],
          useFactory: (health: HealthRegistry, ds: DataSource) => {
            health.register('postgres', async () => void (await ds.query('SELECT 1')));
            return true;
          },
        },
        ...(opts.relay === false ? [] : [OutboxRelay]),
      ],
      exports: opts.relay === false ? [] : [OutboxRelay],
    };
  }
}
