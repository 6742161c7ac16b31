/**
 * BullMQ producers and workers for one process, on connections built from the validated config.
 *
 * We use bullmq directly rather than @nestjs/bullmq's decorators because several queue names are
 * only known at run time (one write-back queue per trust, chosen by TRUST_ODS).
 *
 * Worker settings favour quick recovery after a crash (a `kill -9`, a lost node):
 * - `lockDuration` 15 s (BullMQ default 30 s): an active job holds a lock that its worker renews
 *   every lockDuration/2 while it runs. A worker that died stops renewing, so its job's lock lapses
 *   within 15 s. Kept well above our slowest handler step (PAS_TIMEOUT_MS defaults to 10 s, and
 *   renewal is independent of the handler) so a busy but live worker never loses its job.
 * - `stalledInterval` 5 s (default 30 s): how often every worker looks for active jobs whose lock
 *   has lapsed and puts them back in the wait list. A job of a dead worker is therefore running
 *   again within lockDuration + stalledInterval, about 20 s, instead of about a minute.
 * - `maxStalledCount` 3 (default 1): a job may stall three times (three crashed workers) before
 *   it is failed; handlers are idempotent, so running a job again is always safe.
 * - Retries: `attempts` 8 with exponential back-off from 0.5 s (0.5, 1, 2 … 32 s, about a minute in
 *   all) and 50% jitter, so that jobs that failed together (a PAS outage) do not all come back in
 *   the same instant. A PAS write-back does not spend these on the PAS's own failures: a PAS
 *   restart outlasts a minute, so it reschedules itself (`cappedBackoffMs`) until its time limit
 *   (PAS_WRITEBACK_GIVE_UP_MINUTES, apps/trust-adapter/src/writeback.worker.ts).
 * - Graceful shutdown: on SIGTERM Nest calls beforeApplicationShutdown on every provider before
 *   any onApplicationShutdown; the workers are closed in the first phase (`Worker.close()` stops
 *   taking jobs and waits for the ones in flight to finish), so a job in flight still has its
 *   database connections (TypeORM closes its pool in the second phase) and nothing is left stalled.
 * Redis must run with `maxmemory-policy noeviction`: an evicted job key is a lost job. Start-up
 * refuses any other policy in production and warns elsewhere (`checkEvictionPolicy`). In
 * production it must also keep an append-only file (`appendonly yes`), or a Redis restart loses
 * every job queued since its last snapshot (`checkAppendOnly`).
 */
import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Job, JobsOptions, Processor, Queue, Worker, WorkerOptions } from 'bullmq';
import IORedis, { Redis, RedisOptions } from 'ioredis';
import { runJobInTrace } from './tracing';

export const WORKER_DEFAULTS: Partial<WorkerOptions> = {
  concurrency: 8,
  lockDuration: 15_000,
  stalledInterval: 5_000,
  maxStalledCount: 3,
};

/** Tests may shorten the back-off (JOB_BACKOFF_MS) to spend every retry in seconds; production keeps 500 ms. */
export const BACKOFF_MS = Number(process.env.JOB_BACKOFF_MS) > 0 ? Number(process.env.JOB_BACKOFF_MS) : 500;

/**
 * The wait before try number `tries + 1` of a job that keeps its own schedule rather than spending
 * `attempts` (a PAS write-back retries for as long as its give-up limit allows): exponential from
 * BACKOFF_MS, capped at 120 × BACKOFF_MS (a minute in production; scaled with it so tests stay
 * fast), with the same 50% jitter, and never past `remainingMs` so one last try falls on the limit.
 */
export function cappedBackoffMs(tries: number, remainingMs: number, random: () => number = Math.random): number {
  const exponential = Math.min(BACKOFF_MS * 2 ** Math.max(0, tries - 1), 120 * BACKOFF_MS);
  const jittered = Math.round(exponential * (1 - 0.5 * random()));
  return Math.max(0, Math.min(jittered, remainingMs));
}

export const JOB_DEFAULTS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: BACKOFF_MS, jitter: 0.5 },
  // Keep finished job ids for a while so that a repeated enqueue with the same id is a no-op.
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

export function redisOptions(url: string): { url: string; options: RedisOptions } {
  // BullMQ workers block on Redis; they must retry forever rather than fail commands.
  return { url, options: { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false } };
}

/**
 * Refuses (production) or warns about (elsewhere) a Redis that may evict keys: BullMQ keeps jobs
 * as keys, and an eviction silently loses a job. A Redis that hides CONFIG (some managed services)
 * cannot be checked; that is said, not refused.
 */
export function checkEvictionPolicy(policy: string | null, production: boolean, warn: (m: string) => void): void {
  if (policy === null) {
    warn('could not read Redis maxmemory-policy (CONFIG GET refused); make sure it is noeviction');
    return;
  }
  if (policy === 'noeviction') return;
  const message = `Redis maxmemory-policy is ${policy}; BullMQ needs noeviction or jobs can be lost`;
  if (production) throw new Error(`${message}. Refusing to start (NODE_ENV=production).`);
  warn(message);
}

/**
 * Refuses (production) a Redis without its append-only file: a restart would bring back at best
 * the last snapshot, losing the jobs queued since (the outbox republishes them only when the
 * whole queue state is gone). Elsewhere (the sandbox, tests) a Redis without persistence is
 * usual and says nothing. A Redis that hides CONFIG cannot be checked; that is said, not refused.
 */
export function checkAppendOnly(appendonly: string | null, production: boolean, warn: (m: string) => void): void {
  if (!production) return;
  if (appendonly === null) {
    warn('could not read Redis appendonly (CONFIG GET refused); make sure the Redis keeps an append-only file (appendonly yes)');
    return;
  }
  if (appendonly === 'yes') return;
  throw new Error(`Redis appendonly is ${appendonly}; a Redis restart would lose the jobs queued since its last snapshot. Set appendonly yes. Refusing to start (NODE_ENV=production).`);
}

export interface QueueServiceOptions {
  /** Refuse to start on a Redis whose maxmemory-policy is not noeviction (production). */
  requireNoEviction?: boolean;
  /** Refuse to start on a Redis without an append-only file (production). */
  requireAppendOnly?: boolean;
  /** False in an API-only process (PROCESS_ROLE=api): producers work, `worker()` starts nothing. */
  runWorkers?: boolean;
}

@Injectable()
export class QueueService implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('queues');
  private readonly queues = new Map<string, Queue>();
  private readonly workers: Worker[] = [];
  private readonly connection: Redis;

  constructor(private readonly url: string, private readonly opts: QueueServiceOptions = {}) {
    const { options } = redisOptions(url);
    this.connection = new IORedis(url, options);
    this.connection.on('error', (e) => this.logger.warn(`redis: ${e.message}`));
  }

  /** Before any worker starts (workers start in onApplicationBootstrap). */
  async onModuleInit(): Promise<void> {
    // Bounded: commands queue while Redis is unreachable, and readiness already reports that.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((r) => (timer = setTimeout(() => r(null), 5000)));
    const settings = await Promise.race([Promise.all([this.evictionPolicy(), this.opts.requireAppendOnly ? this.appendOnly() : null]), timeout]).finally(() => clearTimeout(timer));
    const [policy, appendonly] = settings ?? [null, null];
    checkEvictionPolicy(policy, this.opts.requireNoEviction === true, (m) => this.logger.warn(m));
    checkAppendOnly(appendonly, this.opts.requireAppendOnly === true, (m) => this.logger.warn(m));
  }

  get redis(): Redis {
    return this.connection;
  }

  queue(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.connection, defaultJobOptions: JOB_DEFAULTS });
      q.on('error', (e) => this.logger.warn(`queue ${name}: ${e.message}`));
      this.queues.set(name, q);
    }
    return q;
  }

  async add(queue: string, name: string, data: unknown, opts: JobsOptions = {}): Promise<Job> {
    return this.queue(queue).add(name, data, { ...JOB_DEFAULTS, ...opts });
  }

  /**
   * Starts a worker; each worker gets its own blocking connection as BullMQ requires. Each job runs
   * in a span that continues the trace carried in its data. In an API-only process nothing starts
   * (undefined).
   */
  worker<T = unknown, R = unknown>(queue: string, processor: Processor<T, R>, opts: Partial<WorkerOptions> = {}): Worker<T, R> | undefined {
    if (this.opts.runWorkers === false) {
      this.logger.log(`not consuming ${queue}: PROCESS_ROLE=api`);
      return undefined;
    }
    const { options } = redisOptions(this.url);
    const traced: Processor<T, R> = (job, token) => runJobInTrace(queue, job, () => processor(job, token));
    const w = new Worker<T, R>(queue, traced, { ...WORKER_DEFAULTS, ...opts, connection: new IORedis(this.url, options) });
    w.on('error', (e) => this.logger.warn(`worker ${queue}: ${e.message}`));
    w.on('failed', (job, e) => this.logger.warn(`job ${queue}/${job?.id} failed (attempt ${job?.attemptsMade}): ${e.message}`));
    this.workers.push(w as unknown as Worker);
    return w;
  }

  /** The queues this process consumes (its outbox relay is woken for these). */
  consumedQueues(): string[] {
    return this.workers.map((w) => w.name);
  }

  /** Every queue this process has produced to or consumes (for the depth and age metrics). */
  names(): string[] {
    return [...new Set([...this.queues.keys(), ...this.workers.map((w) => w.name)])].sort();
  }

  /** Idempotent: BullMQ hands back the same closing promise on a second call. */
  private async closeWorkers(): Promise<void> {
    await Promise.allSettled(this.workers.map((w) => w.close()));
  }

  async ping(): Promise<void> {
    const pong = await this.connection.ping();
    if (pong !== 'PONG') throw new Error(`unexpected PING reply ${pong}`);
  }

  async evictionPolicy(): Promise<string | null> {
    const res = (await this.connection.config('GET', 'maxmemory-policy').catch(() => null)) as string[] | null;
    return res?.[1] ?? null;
  }

  /** `yes` or `no`, or null when CONFIG is refused. */
  async appendOnly(): Promise<string | null> {
    const res = (await this.connection.config('GET', 'appendonly').catch(() => null)) as string[] | null;
    return res?.[1] ?? null;
  }

  /** First phase of shutdown: in-flight jobs finish while the database pool is still open. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.closeWorkers();
  }

  /** Graceful: workers finish their in-flight jobs before the connection goes. */
  async onApplicationShutdown(): Promise<void> {
    await this.closeWorkers();
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
    await this.connection.quit().catch(() => this.connection.disconnect());
  }
}
