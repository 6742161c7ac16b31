/**
 * A stack on a fresh database and an empty Redis database, for the end-to-end tests, the fault
 * harness and the benchmarks. Each of them must start from an ICS with nobody waiting yet and
 * must never share state with another suite, so each names its own database prefix and Redis db.
 */
import { createTestDatabase, TestDatabase } from '@app/persistence';
import IORedis from 'ioredis';
import { Stack, StackOptions, startStack } from './processes';

/** REDIS_URL (or the local default) pointed at database `db`. */
export function redisUrlForDb(db: number, base = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'): string {
  return `${base.replace(/\/\d+$/, '')}/${db}`;
}

/** Empties one Redis database (queues, limiter state and locks of an earlier run). */
export async function emptyRedis(url: string): Promise<void> {
  const r = new IORedis(url, { lazyConnect: true, maxRetriesPerRequest: 3 });
  try {
    await r.connect();
    await r.flushdb();
  } finally {
    r.disconnect();
  }
}

export interface FreshStackOptions extends Omit<StackOptions, 'databaseUrl' | 'redisUrl'> {
  /** Prefix of the database's name, so a leftover database tells which suite made it. */
  dbPrefix: string;
  redisDb: number;
  /** Runs on the migrated, empty database before any process starts (seeding, say). */
  beforeStart?: (databaseUrl: string) => Promise<void>;
}

export interface FreshStack {
  stack: Stack;
  db: TestDatabase;
  redisUrl: string;
  /** Stops every process, then drops the database. */
  stop(): Promise<void>;
}

export async function startFreshStack({ dbPrefix, redisDb, beforeStart, ...stackOptions }: FreshStackOptions): Promise<FreshStack> {
  const db = await createTestDatabase(dbPrefix);
  const redisUrl = redisUrlForDb(redisDb);
  try {
    await emptyRedis(redisUrl);
    if (beforeStart) await beforeStart(db.url);
    const stack = await startStack({ ...stackOptions, databaseUrl: db.url, redisUrl });
    return {
      stack, db, redisUrl,
      async stop() {
        try {
          await stack.stop();
        } finally {
          await db.drop();
        }
      },
    };
  } catch (e) {
    // A stack that never came up must not leave its database behind.
    await db.drop().catch(() => undefined);
    throw e;
  }
}

/** Runs `fn` against a fresh stack and always cleans up. */
export async function withFreshStack<T>(options: FreshStackOptions, fn: (fresh: FreshStack) => Promise<T>): Promise<T> {
  const fresh = await startFreshStack(options);
  try {
    return await fn(fresh);
  } finally {
    await fresh.stop();
  }
}
