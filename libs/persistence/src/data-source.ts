/** How every process connects to Postgres, and how migrations are applied (once, under a lock). */
import { Client, types } from 'pg';

// DATE columns stay 'YYYY-MM-DD' strings: turning them into JS Dates at local midnight would shift
// RTT clock starts and birth dates by the machine's time zone.
types.setTypeParser(1082, (v: string) => v);
import { DataSource, DataSourceOptions, EntityManager } from 'typeorm';
import { ENTITIES } from './entities';
import { InitialSchema1732300000000 } from './migrations/1732300000000-initial-schema';
import { TrustAdapterEdge1764400003000 } from './migrations/1764400003000-trust-adapter-edge';
import { MatchingPolicy1764400004000 } from './migrations/1764400004000-matching-policy';
import { BookingFailuresAndTransfers1764400005000 } from './migrations/1764400005000-booking-failures-and-transfers';
import { Dashboard1764400007000 } from './migrations/1764400007000-dashboard';
import { SlotTraceContext1764400009000 } from './migrations/1764400009000-slot-trace-context';
import { PatientStatedPreferences1764400010000 } from './migrations/1764400010000-patient-stated-preferences';
import { OutboxNotifyTrigger1764400012000 } from './migrations/1764400012000-outbox-notify-trigger';
import { ClaimIndexes1764400013000 } from './migrations/1764400013000-claim-indexes';
import { DashboardSlotFacts1764400014000 } from './migrations/1764400014000-dashboard-slot-facts';
import { DashboardOidc1764400014100 } from './migrations/1764400014100-dashboard-oidc';
import { CandidateIndexSkipsHeld1764400021000 } from './migrations/1764400021000-candidate-index-skips-held';
import { OutboxQuietInserts1764500000000 } from './migrations/1764500000000-outbox-quiet-inserts';
import { OfferHoldsEntriesPerStatement1764500001000 } from './migrations/1764500001000-offer-holds-entries-per-statement';
import { Hl7AwaitingForward1764500100000 } from './migrations/1764500100000-hl7-awaiting-forward';
import { Hl7OversizedKept1764500100100 } from './migrations/1764500100100-hl7-oversized-kept';
import { PtlImportRejections1764500300000 } from './migrations/1764500300000-ptl-import-rejections';
import { ReplyFromNumber1764500400000 } from './migrations/1764500400000-reply-from-number';
import { SitesStatedApart1764500400100 } from './migrations/1764500400100-sites-stated-apart';
import { TransferDeliveryCursor1764500600000 } from './migrations/1764500600000-transfer-delivery-cursor';
import { OfferWaveLiveByExpiry1764500800000 } from './migrations/1764500800000-offer-wave-live-by-expiry';
import { BookingFailuresLateAndDeleted1764500950000 } from './migrations/1764500950000-booking-failures-late-and-deleted';
import { WritebackByPasAppointment1764501000000 } from './migrations/1764501000000-writeback-by-pas-appointment';
import { WritebackPasMayHold1764501200000 } from './migrations/1764501200000-writeback-pas-may-hold';
import { WritebackPending1764501300000 } from './migrations/1764501300000-writeback-pending';
import { SmsSendStarted1764501700000 } from './migrations/1764501700000-sms-send-started';
import { SmsQueuedByAge1764501700100 } from './migrations/1764501700100-sms-queued-by-age';
import { SmsMessageResends1764501600000 } from './migrations/1764501600000-sms-message-resends';
import { PtlImportOneRunningSnapshot1764502000000 } from './migrations/1764502000000-ptl-import-one-running-snapshot';
import { ReconcilerOutcomeIndexes1764502200000 } from './migrations/1764502200000-reconciler-outcome-indexes';
import { SmsMessagePriority1764502300000 } from './migrations/1764502300000-sms-message-priority';
import { WritebackCancelListed1764502400000 } from './migrations/1764502400000-writeback-cancel-listed';
import { SettlePendingClosePlan1764502500000 } from './migrations/1764502500000-settle-pending-close-plan';

export const MIGRATIONS = [
  InitialSchema1732300000000, TrustAdapterEdge1764400003000, MatchingPolicy1764400004000, BookingFailuresAndTransfers1764400005000, Dashboard1764400007000,
  SlotTraceContext1764400009000, PatientStatedPreferences1764400010000, OutboxNotifyTrigger1764400012000, ClaimIndexes1764400013000,
  DashboardSlotFacts1764400014000, DashboardOidc1764400014100, CandidateIndexSkipsHeld1764400021000, OutboxQuietInserts1764500000000, OfferHoldsEntriesPerStatement1764500001000,
  Hl7AwaitingForward1764500100000, Hl7OversizedKept1764500100100, PtlImportRejections1764500300000,
  ReplyFromNumber1764500400000, SitesStatedApart1764500400100, TransferDeliveryCursor1764500600000, OfferWaveLiveByExpiry1764500800000,
  BookingFailuresLateAndDeleted1764500950000, WritebackByPasAppointment1764501000000, WritebackPasMayHold1764501200000, WritebackPending1764501300000,
  SmsMessageResends1764501600000, SmsSendStarted1764501700000, SmsQueuedByAge1764501700100, PtlImportOneRunningSnapshot1764502000000,
  ReconcilerOutcomeIndexes1764502200000, SmsMessagePriority1764502300000, WritebackCancelListed1764502400000,
  SettlePendingClosePlan1764502500000,
];

export function dataSourceOptions(url: string, poolSize = 10): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    synchronize: false,
    migrationsRun: false,
    logging: false,
    extra: { max: poolSize, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30000 },
  };
}

/** Any fixed number shared by every migrator; one release's migrations run once at a time. */
const MIGRATION_LOCK = 7_242_024;

/** How often a migrator waiting for another's lock asks again. */
const MIGRATION_LOCK_POLL_MS = 250;

/**
 * Runs `fn` with a migrator of `databaseUrl` (`migrations`: this release's, or a prefix of them in
 * tests), holding the advisory lock every migrator takes. The lock is asked for again and again,
 * never waited for in one statement: a statement waiting in `pg_advisory_lock` holds a snapshot,
 * and the holder's `CREATE INDEX CONCURRENTLY` waits for every older snapshot to end, while the
 * waiter waits for the holder's lock, which is released only after that index: a deadlock that
 * Postgres cannot see (one side of it is this Node process), and a rollout's init containers
 * hanging for ever.
 */
async function withMigrator<T>(databaseUrl: string, fn: (ds: DataSource) => Promise<T>, migrations = MIGRATIONS): Promise<T> {
  const lock = new Client({ connectionString: databaseUrl });
  await lock.connect();
  try {
    while (!(await lock.query('SELECT pg_try_advisory_lock($1) AS got', [MIGRATION_LOCK])).rows[0].got) {
      await new Promise((r) => setTimeout(r, MIGRATION_LOCK_POLL_MS));
    }
    const ds = new DataSource({ ...dataSourceOptions(databaseUrl, 2), migrations });
    await ds.initialize();
    try {
      return await fn(ds);
    } finally {
      await ds.destroy();
    }
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await lock.end();
  }
}

/** Applies the pending migrations (`migrations`: this release's; a prefix of them in tests) and returns their names. */
export async function runMigrations(databaseUrl: string, migrations = MIGRATIONS): Promise<string[]> {
  return withMigrator(databaseUrl, async (ds) => (await ds.runMigrations({ transaction: 'each' })).map((m) => m.name), migrations);
}

/**
 * Undoes the newest `count` applied migrations, newest first, for rolling a release back (its
 * `down`s drop what its `up`s added, data in those columns and tables too). Each runs as it was
 * applied: in a transaction of its own, or, for a migration with `transaction = false` (indexes
 * built CONCURRENTLY, short-lock ALTERs), outside one. TypeORM's own `undoLastMigration` wraps
 * every `down` in a transaction unless told 'none' for all, so those could not be undone with it.
 * Returns the names undone; stops early when none is left.
 */
export async function revertMigrations(databaseUrl: string, count: number): Promise<string[]> {
  if (!Number.isInteger(count) || count < 1) throw new Error(`the number of migrations to revert must be a whole number of at least 1 (got ${count})`);
  return withMigrator(databaseUrl, async (ds) => {
    const undone: string[] = [];
    // A database never migrated has nothing to undo (and no table to say so).
    if (!(await ds.query(`SELECT to_regclass('migrations') IS NOT NULL AS found`))[0].found) return undone;
    for (let i = 0; i < count; i++) {
      // The one TypeORM undoes next: the last applied (its id).
      const [last] = (await ds.query(`SELECT name FROM migrations ORDER BY id DESC LIMIT 1`)) as Array<{ name: string }>;
      if (!last) break;
      const migration = ds.migrations.find((m) => m.name === last.name || m.constructor.name === last.name);
      if (!migration) throw new Error(`the newest applied migration, ${last.name}, is not one this release knows: revert it with the release that added it`);
      await ds.undoLastMigration({ transaction: migration.transaction === false ? 'none' : 'each' });
      undone.push(last.name);
    }
    return undone;
  });
}

/** Creates the database named in `url` when it does not exist yet (connecting to `postgres`). */
export async function ensureDatabase(url: string): Promise<void> {
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!name) return;
  u.pathname = '/postgres';
  const admin = new Client({ connectionString: u.toString() });
  await admin.connect();
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) await admin.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`).catch((e: { code?: string }) => {
      if (e.code !== '42P04') throw e; // created meanwhile by another process
    });
  } finally {
    await admin.end();
  }
}

/** The part of a `pg` client that named statements need. */
export interface NamedStatementClient {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: Array<Record<string, unknown>> }>;
  query(text: string): Promise<unknown>;
}

/** The `pg` client under a TypeORM transaction's entity manager (its query runner is connected for the transaction). */
export function pgClientOf(tx: EntityManager): NamedStatementClient {
  const client = (tx.queryRunner as unknown as { databaseConnection?: NamedStatementClient } | undefined)?.databaseConnection;
  if (!client) throw new Error('no connection: call this inside a transaction');
  return client;
}
