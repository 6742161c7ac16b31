/**
 * BullMQ producers and workers for one process, on connections built from the validated config.
 *
 * We use bullmq directly rather than @nestjs/bullmq's decorators because several queue names are
 * only known at run time (one write-back queue per trust, chosen by TRUST_ODS).
 *
 * Worker settings favour quick recovery after a crash: a job whose worker died is noticed as
 * stalled within `stalledInterval` and retried, instead of waiting for the default 30 s lock.
 */
import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { Job, JobsOptions, Processor, Queue, Worker, WorkerOptions } from 'bullmq';
import IORedis, { Redis, RedisOptions } from 'ioredis';

export const WORKER_DEFAULTS: Partial<WorkerOptions> = {
  concurrency: 8,
  lockDuration: 15_000,
  stalledInterval: 5_000,
  maxStalledCount: 3,
};

export const JOB_DEFAULTS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 500 },
  // Keep finished job ids for a while so that a repeated enqueue with the same id is a no-op.
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

export function redisOptions(url: string): { url: string; options: RedisOptions } {
  // BullMQ workers block on Redis; they must retry forever rather than fail commands.
  return { url, options: { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false } };
}

@Injectable()
export class QueueService implements OnApplicationShutdown {
  private readonly logger = new Logger('queues');
  private readonly queues = new Map<string, Queue>();
  private readonly workers: Worker[] = [];
  private readonly connection: Redis;

  constructor(private readonly url: string) {
    const { options } = redisOptions(url);
    this.connection = new IORedis(url, options);
    this.connection.on('error', (e) => this.logger.warn(`redis: ${e.message}`));
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

  /** Starts a worker; each worker gets its own blocking connection as BullMQ requires. */
  worker<T = unknown, R = unknown>(queue: string, processor: Processor<T, R>, opts: Partial<WorkerOptions> = {}): Worker<T, R> {
    const { options } = redisOptions(this.url);
    const w = new Worker<T, R>(queue, processor, { ...WORKER_DEFAULTS, ...opts, connection: new IORedis(this.url, options) });
    w.on('error', (e) => this.logger.warn(`worker ${queue}: ${e.message}`));
    w.on('failed', (job, e) => this.logger.warn(`job ${queue}/${job?.id} failed (attempt ${job?.attemptsMade}): ${e.message}`));
    this.workers.push(w as unknown as Worker);
    return w;
  }

  async ping(): Promise<void> {
    const pong = await this.connection.ping();
    if (pong !== 'PONG') throw new Error(`unexpected PING reply ${pong}`);
  }

  async evictionPolicy(): Promise<string | null> {
    const res = (await this.connection.config('GET', 'maxmemory-policy').catch(() => null)) as string[] | null;
    return res?.[1] ?? null;
  }

  /** Graceful: workers finish their in-flight jobs before the connection goes. */
  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled(this.workers.map((w) => w.close()));
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
    await this.connection.quit().catch(() => this.connection.disconnect());
  }
}
