/**
 * Whether an error is the database (or the way to it) being away for a while, rather than
 * something about the work itself: a failover, a restart, a cut or refused connection, a pool that
 * could not connect in time, a server out of connections, a primary not yet writable, a deadlock.
 * Work that failed so goes well once the database is back, so a job should wait for it rather
 * than spend the retries meant for its own failures (apps/notifier/src/sms-sender.worker.ts).
 */

/** SQLSTATE classes and codes that say nothing about the statement: it may well succeed later. */
const TRANSIENT_SQLSTATE = [
  /^08/, // connection exception
  /^53/, // insufficient resources (too many connections, out of memory or disk)
  /^57/, // operator intervention: shutdown, crash, cannot connect now, statement cancelled
  /^58/, // system error (I/O)
  /^40001$/, // serialization failure
  /^40P01$/, // deadlock detected
  /^25006$/, // read-only transaction: a failover's new primary not yet promoted, or the old one demoted
];

/** Node's socket errors: no database to talk to. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);

/** node-postgres's own words for a connection that went or never came (these errors have no code). */
const LOST_CONNECTION = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly|Client was closed and is not queryable/i;

export function isDatabaseUnavailable(e: unknown, depth = 0): boolean {
  if (!e || typeof e !== 'object' || depth > 4) return false;
  const err = e as { code?: unknown; message?: unknown; driverError?: unknown; cause?: unknown; errors?: unknown };
  if (typeof err.code === 'string' && (SOCKET_CODES.has(err.code) || TRANSIENT_SQLSTATE.some((r) => r.test(err.code as string)))) return true;
  if (typeof err.message === 'string' && LOST_CONNECTION.test(err.message)) return true;
  // TypeORM's QueryFailedError keeps pg's error as `driverError`; Node's AggregateError (a refused
  // connection to each of a host's addresses) its parts as `errors`.
  if (isDatabaseUnavailable(err.driverError, depth + 1) || isDatabaseUnavailable(err.cause, depth + 1)) return true;
  return Array.isArray(err.errors) && err.errors.some((x) => isDatabaseUnavailable(x, depth + 1));
}
