/**
 * A stack on a fresh database and an empty Redis database, for the end-to-end tests, the fault
 * harness and the benchmarks. Each of them must start from an ICS with nobody waiting yet and
 * must never share state with another suite, so each names its own database prefix and Redis db.
 */
import { createTestDatabase, TestDatabase } from '@app/persistence';
import IORedis from 'ioredis';
import { Client } from 'pg';
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

/** A fresh, migrated database with a connected client, and an empty Redis database. */
export interface FreshStores {
  db: TestDatabase;
  /** A client on `db`, for the suite's own reads and seeding. */
  pg: Client;
  redisUrl: string;
  /** Closes the client, then drops the database. */
  drop(): Promise<void>;
}

/**
 * A fresh database named by `dbPrefix` and Redis database `redisDb` emptied of an earlier run's
 * queues, handed to `use`; if `use` fails, the database is dropped again (nothing left behind).
 */
async function onFreshStores<T>(dbPrefix: string, redisDb: number, use: (db: TestDatabase, redisUrl: string) => Promise<T>): Promise<T> {
  const db = await createTestDatabase(dbPrefix);
  try {
    const redisUrl = redisUrlForDb(redisDb);
    await emptyRedis(redisUrl);
    return await use(db, redisUrl);
  } catch (e) {
    await db.drop().catch(() => undefined);
    throw e;
  }
}

/** Runs `first`, then `then` even if `first` failed (stop the users of a database, then drop it). */
async function inTurn(first: () => Promise<unknown>, then: () => Promise<unknown>): Promise<void> {
  try {
    await first();
  } finally {
    await then();
  }
}

/** The stores of a suite that runs apps in its own process (an integration test). */
export async function freshStores(dbPrefix: string, redisDb: number): Promise<FreshStores> {
  return onFreshStores(dbPrefix, redisDb, async (db, redisUrl) => {
    const pg = new Client({ connectionString: db.url });
    await pg.connect().catch(async (e: unknown) => {
      await pg.end().catch(() => undefined);
      throw e;
    });
    return { db, pg, redisUrl, drop: () => inTurn(() => pg.end(), () => db.drop()) };
  });
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
  return onFreshStores(dbPrefix, redisDb, async (db, redisUrl) => {
    if (beforeStart) await beforeStart(db.url);
    const stack = await startStack({ ...stackOptions, databaseUrl: db.url, redisUrl });
    return { stack, db, redisUrl, stop: () => inTurn(() => stack.stop(), () => db.drop()) };
  });
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
