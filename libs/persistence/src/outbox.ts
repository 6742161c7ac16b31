/**
 * Transactional outbox (STYLE.md §6). A state change and the jobs it causes are written in the
 * same database transaction with `enqueue`; `OutboxRelay` later moves committed rows to BullMQ.
 * If the process dies between commit and relay, the rows are still there; if it dies after adding
 * to BullMQ but before marking the row published, the repeat add has the same job id and is a
 * no-op (and handlers are idempotent anyway).
 */
import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { JobName, JobPayloads, jobId, queueFor } from '@app/contracts';
import { QueueService, MetricsService, currentTraceparent, errorMessage } from '@app/platform';
import { Client } from 'pg';
import { DataSource, EntityManager } from 'typeorm';
import { republishIfQueuesLost } from './queue-rebuild';

export interface EnqueueOptions {
  /** For trust-scoped queues (write-back, inbound forwarding). */
  ods?: string;
  /** Run no earlier than this (delayed job: wave expiry, cut-off, end of quiet hours). */
  runAt?: Date;
  /** Override the deterministic id (rarely needed: e.g. a re-drive with a new attempt number). */
  jobIdSuffix?: string;
  /** BullMQ priority, 1 first (e.g. offer SMS by their slot's cut-off); none means ahead of every prioritised job. */
  priority?: number;
}

type Queryable = Pick<EntityManager, 'query'>;

/** The job carries the trace of the work that caused it (TraceCarrier), unless it names one itself. */
function withTraceContext<P extends { traceparent?: string }>(payload: P): P {
  if (payload.traceparent) return payload;
  const traceparent = currentTraceparent();
  return traceparent ? { ...payload, traceparent } : payload;
}

/** One outbox row's values, in `enqueue`'s column order (queue, job_name, job_id, payload, run_at, priority). */
export function outboxValues<N extends JobName>(name: N, payload: JobPayloads[N], opts: EnqueueOptions = {}): [string, string, string, string, Date | null, number | null] {
  const id = jobId(name, payload) + (opts.jobIdSuffix ? `-${opts.jobIdSuffix}` : '');
  return [queueFor(name, opts.ods), name, id, JSON.stringify(withTraceContext(payload)), opts.runAt ?? null, opts.priority ?? null];
}

/** The outbox insert of `outboxValues` with parameters from $`first`, for a caller that folds it into a larger statement. */
export function outboxInsertSql(first = 1): string {
  const p = (k: number) => `$${first + k}`;
  return `INSERT INTO outbox (queue, job_name, job_id, payload, run_at, priority) VALUES (${p(0)}, ${p(1)}, ${p(2)}, ${p(3)}, COALESCE(${p(4)}::timestamptz, now()), ${p(5)}::int)`;
}

export async function enqueue<N extends JobName>(tx: Queryable, name: N, payload: JobPayloads[N], opts: EnqueueOptions = {}): Promise<void> {
  // The insert wakes the relays at commit (trigger `outbox_notify`, one NOTIFY per statement
  // naming the queues, folded by Postgres when repeated in one transaction).
  await tx.query(outboxInsertSql(), outboxValues(name, payload, opts));
}

/**
 * Many jobs in one statement (same rows, job ids and trace context as `enqueue` one by one, and
 * one wake-up for the relays).
 */
export type OutboxJob = { [N in JobName]: { name: N; payload: JobPayloads[N]; opts?: EnqueueOptions } }[JobName];

export async function enqueueMany(tx: Queryable, jobs: OutboxJob[]): Promise<void> {
  if (jobs.length === 0) return;
  await tx.query(outboxManySql(), outboxManyValues(jobs));
}

/**
 * `enqueueMany`'s insert, with its six array parameters from `$first`, for a statement that does
 * more in the same round trip (a CTE before it); `outboxManyValues` gives the parameters.
 */
export function outboxManySql(first = 1): string {
  const p = (k: number) => `$${first + k}`;
  return `INSERT INTO outbox (queue, job_name, job_id, payload, run_at, priority)
     SELECT q, n, i, p::jsonb, COALESCE(r, now()), pr
       FROM unnest(${p(0)}::text[], ${p(1)}::text[], ${p(2)}::text[], ${p(3)}::text[], ${p(4)}::timestamptz[], ${p(5)}::int[]) AS x(q, n, i, p, r, pr)`;
}

export function outboxManyValues(jobs: OutboxJob[]): unknown[][] {
  const cols: [string[], string[], string[], string[], Array<Date | null>, Array<number | null>] = [[], [], [], [], [], []];
  for (const j of jobs) outboxValues(j.name, j.payload as never, j.opts).forEach((v, k) => (cols[k] as unknown[]).push(v));
  return cols;
}

/**
 * An expression that, evaluated in a transaction (`SELECT ${quietOutboxSql}`, or in a CTE of a
 * single-statement transaction), makes that transaction's outbox inserts notify nobody
 * (migration 1764500000000): for a hot path whose own process relays its rows, which then calls
 * `OutboxRelay.wake` after the commit. Never for rows only another process could relay promptly.
 */
export const quietOutboxSql = `set_config('sx.outbox_notify', 'off', true)`;

/** The trace context to put in a payload written by SQL (bulk inserts), as `enqueue` would. */
export function outboxTraceparent(): string | null {
  return currentTraceparent() ?? null;
}

interface OutboxRecord {
  id: string;
  queue: string;
  job_name: string;
  job_id: string;
  payload: Record<string, unknown>;
  run_at: Date;
  priority: number | null;
}

const BATCH = 500;
const SWEEP_MS = 2000;
/** A wake-up waits this long for the commits right behind it, so one drain moves them all. */
const DEBOUNCE_MS = 5;
/**
 * How long an in-process wake-up (`wake`) gathers the commits behind it: one relay pass for a busy
 * moment's rows. Each pass is a transaction (four round trips, a WAL flush) plus a Redis pipeline,
 * taken from the same cores as the intake it follows; at 50 ms a busy adapter makes 20 passes a
 * second rather than 50, for at most 30 ms more before a message is forwarded.
 */
const WAKE_MS = 50;
const RETENTION_HOURS = 24;

@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('outbox');
  private listener?: Client;
  private timer?: NodeJS.Timeout;
  private running = false;
  /** What the next pass must cover: every queue (`all`), these queues, or nothing pending. */
  private pending: 'all' | Set<string> | null = null;
  /** The pass a wake-up scheduled (a NOTIFY heard, or `wake`). */
  private passTimer?: NodeJS.Timeout;
  private passDue = 0;
  private stopped = false;
  private lastCleanup = 0;
  private lastEpochCheck = 0;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly queues: QueueService,
    private readonly metrics: MetricsService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.listen();
    this.timer = setInterval(() => void this.drain(), SWEEP_MS);
    void this.drain();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.passTimer) clearTimeout(this.passTimer);
    this.passTimer = undefined;
    while (this.running) await new Promise((r) => setTimeout(r, 20));
    // Rows this process wrote quietly in its last moments (jobs finished during shutdown) go now,
    // rather than waiting for another process's sweep or this one's next start.
    if (this.pending) await this.drain([]);
    this.stopped = true;
    await this.listener?.end().catch(() => undefined);
  }

  private async listen(): Promise<void> {
    const opts = this.ds.options as { url?: string };
    const client = new Client({ connectionString: opts.url });
    client.on('notification', (n) => this.notified(n.payload ?? ''));
    client.on('error', (e) => {
      this.logger.warn(`listener lost (${e.message}); the sweep keeps rows moving until it is back`);
      this.listener = undefined;
      if (!this.stopped) setTimeout(() => void this.listen().catch(() => undefined), 1000).unref();
    });
    try {
      await client.connect();
      await client.query('LISTEN outbox');
      this.listener = client;
    } catch (e) {
      this.logger.warn(`cannot LISTEN yet (${errorMessage(e)}); retrying`);
      await client.end().catch(() => undefined);
      if (!this.stopped) setTimeout(() => void this.listen().catch(() => undefined), 1000).unref();
    }
  }

  /**
   * A commit wrote outbox rows for these queues (the trigger's payload). A process that consumes
   * queues relays only those on a wake-up (the consumer of each queue is woken too), so a commit
   * does not wake every process of the ICS into the same rows; the sweep still relays everything,
   * whatever its queue, every SWEEP_MS. A process without workers relays everything it hears of.
   */
  private notified(payload: string): void {
    // Every insert notifies through the trigger, naming its queues; an unnamed NOTIFY (an older
    // caller's explicit pg_notify) always comes with one of those, so it adds nothing.
    if (!payload) return;
    const consumed = this.queues.consumedQueues();
    const named = payload.split(',');
    if (consumed.length > 0) {
      const mine = named.filter((q) => consumed.includes(q));
      if (mine.length === 0) return;
      this.request(mine);
    } else {
      this.request('all');
    }
    this.passSoon(DEBOUNCE_MS);
  }

  /** One relay pass for what has been requested, in `ms` at the latest (a pass due sooner stands; one due later is brought forward). */
  private passSoon(ms: number): void {
    const due = Date.now() + ms;
    if (this.passTimer) {
      if (this.passDue <= due) return;
      clearTimeout(this.passTimer);
    }
    this.passDue = due;
    this.passTimer = setTimeout(() => {
      this.passTimer = undefined;
      void this.drain([]);
    }, ms);
  }

  private request(scope: 'all' | string[]): void {
    if (scope === 'all' || this.pending === 'all') this.pending = 'all';
    else this.pending = new Set([...(this.pending ?? []), ...scope]);
  }

  /**
   * This process committed outbox rows without a NOTIFY (`quietOutboxSql`): relay them soon. The
   * wake-ups of a busy moment fold into one pass every WAKE_MS, rather than a pass (and a
   * transaction) per commit. A caller whose commits already come in batches and whose rows
   * someone waits on (a patient's reply) may ask for a sooner pass (`withinMs`).
   */
  wake(queues: string[], withinMs = WAKE_MS): void {
    if (this.stopped) return;
    this.request(queues);
    this.passSoon(withinMs);
  }

  /**
   * Moves committed, unpublished rows to BullMQ: every row (no argument), or the rows of the
   * queues asked for so far. Safe to call concurrently and from many processes.
   */
  async drain(queues?: string[]): Promise<number> {
    if (this.stopped) return 0;
    if (queues === undefined) this.request('all');
    else if (queues.length > 0) this.request(queues);
    if (this.running) return 0;
    this.running = true;
    let moved = 0;
    let failed = false;
    try {
      if (await this.checkQueuesKept()) this.request('all');
      while (this.pending && !this.stopped) {
        const scope = this.pending === 'all' ? null : [...this.pending];
        this.pending = null;
        let n: number;
        do {
          n = await this.publishBatch(scope);
          moved += n;
        } while (n === BATCH && !this.stopped);
      }
      await this.cleanup();
    } catch (e) {
      failed = true;
      this.logger.warn(`relay paused: ${errorMessage(e)}`);
    } finally {
      this.running = false;
    }
    // A wake-up that came while this pass was past its loop (cleaning up) would otherwise wait for
    // the sweep; after a failure the sweep retries instead of a tight loop against a sick database.
    if (this.pending && !failed && !this.stopped) this.passSoon(DEBOUNCE_MS);
    return moved;
  }

  /**
   * One batch: the rows are claimed and marked published by one UPDATE (row locks, SKIP LOCKED
   * against other relays), added to BullMQ, and the mark commits only after that; if the add
   * fails the transaction rolls back and the rows stay unpublished. (Marking as it claims, rather
   * than SELECT … FOR UPDATE and then an UPDATE, writes each row once instead of locking it and
   * then updating it, and saves a statement per batch.)
   */
  private async publishBatch(queues: string[] | null): Promise<number> {
    return this.ds.transaction(async (tx) => {
      // The mark need not survive a crash, so this transaction commits without waiting for its WAL
      // flush (one less fsync per batch, on the disk the intake's durable commits wait for): a mark
      // lost with the last moments of WAL leaves the row unpublished, and publishing it again adds
      // a job with the same id, which BullMQ ignores. The rows' own durability is their insert's.
      await tx.query(`SET LOCAL synchronous_commit = off`);
      const claimed = await rows<OutboxRecord>(
        tx,
        `UPDATE outbox o SET published_at = now()
           FROM (SELECT id FROM outbox
                  WHERE published_at IS NULL AND ($1::text[] IS NULL OR queue = ANY($1::text[])) ORDER BY id LIMIT ${BATCH} FOR UPDATE SKIP LOCKED) AS next
          WHERE o.id = next.id
         RETURNING o.id, o.queue, o.job_name, o.job_id, o.payload, o.run_at, o.priority`,
        [queues],
      );
      if (claimed.length === 0) return 0;
      // RETURNING has no order: jobs go to BullMQ in the order they were written.
      const byId = claimed.map((r) => ({ r, id: BigInt(r.id) })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const byQueue = new Map<string, OutboxRecord[]>();
      for (const { r } of byId) {
        const list = byQueue.get(r.queue);
        if (list) list.push(r);
        else byQueue.set(r.queue, [r]);
      }
      const now = Date.now();
      for (const [queue, list] of byQueue) {
        await this.queues.queue(queue).addBulk(
          list.map((r) => ({
            name: r.job_name,
            data: r.payload,
            opts: { jobId: r.job_id, delay: Math.max(0, new Date(r.run_at).getTime() - now), ...(r.priority ? { priority: r.priority } : {}) },
          })),
        );
      }
      this.metrics.counter('outbox_published_total', 'Outbox rows moved to BullMQ', ['queue']);
      for (const [queue, list] of byQueue) this.metrics.counter('outbox_published_total', '', ['queue']).inc({ queue }, list.length);
      return claimed.length;
    });
  }

  /** At most once per sweep: if Redis came back empty, every kept row is published again (queue-rebuild.ts). */
  private async checkQueuesKept(): Promise<boolean> {
    if (Date.now() - this.lastEpochCheck < SWEEP_MS) return false;
    this.lastEpochCheck = Date.now();
    const n = await republishIfQueuesLost(this.ds, this.queues.redis);
    if (n > 0) this.logger.warn(`Redis had lost its queues: re-publishing ${n} outbox row(s) from Postgres`);
    return n > 0;
  }

  private async cleanup(): Promise<void> {
    if (Date.now() - this.lastCleanup < 10 * 60_000) return;
    this.lastCleanup = Date.now();
    // A row is kept for RETENTION_HOURS after it was published and after it was due: a delayed
    // job (a slot's cut-off days away, a wave's expiry) lives only in Redis once published, and
    // the rebuild after a Redis loss republishes only the rows still kept.
    await this.ds.query(
      `DELETE FROM outbox WHERE published_at < now() - interval '${RETENTION_HOURS} hours' AND run_at < now() - interval '${RETENTION_HOURS} hours'`,
    );
  }
}

/**
 * Runs SQL and returns its rows, whatever the statement. (TypeORM's `query()` answers
 * `[rows, count]` for UPDATE/DELETE … RETURNING, which is easy to misread as two rows.)
 */
export async function rows<T = Record<string, any>>(tx: Pick<EntityManager, 'query'>, text: string, params: unknown[] = []): Promise<T[]> {
  const result: unknown = await tx.query(text, params);
  // Rows are objects; `[rows, count]` is told apart by its first element being an array.
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[0] as T[];
  return (result as T[]) ?? [];
}
