/**
 * Nothing restarts a matching job by itself once BullMQ has given up on it: a job retries for
 * about a minute (JOB_DEFAULTS) and then fails for good, and a Redis that comes back empty is
 * rebuilt only from the outbox rows still kept. Without this sweep a managed-Postgres failover of
 * a minute or two left every `expire-wave` due meanwhile failed for good: its wave stayed live
 * until the cut-off, days away, its patients (past their offer's end, so unable to accept) still
 * counted as holding a live offer and were kept out of every other slot, and the slot was never
 * offered again; a lost `close-slot` left a slot open for ever (DESIGN: every freed slot is
 * offered, or closed with a recorded reason).
 *
 * So on worker processes, at start-up and every MATCHING_SWEEP_MS, Postgres says what is overdue
 * and BullMQ whether a job for it is still coming; what has none is ordered again through the
 * outbox (`redriveJob`, shared with the adapter's forwarding re-drive):
 * - `expire-wave`: a live wave past its expiry by more than the grace (MATCHING_SWEEP_GRACE_MS,
 *   two minutes by default; a job on time wins);
 * - `close-slot`: a slot still open or offering past its cut-off by more than the grace, unless a
 *   job for it is coming under either of its ids (`redriveClose`);
 * - `match-slot`: a slot open or offering with no live wave and no job for its next round (none
 *   waiting in the outbox, none due later such as a look after nobody was eligible or the end of
 *   quiet hours, none waiting or retrying in BullMQ). Not while a match would only defer itself
 *   to the end of quiet hours, nor in the last NO_CANDIDATE_RETRY_MINUTES before the cut-off,
 *   where a match that finds nobody writes no next job and would be ordered again on every pass:
 *   `close-slot` ends those.
 * Each is re-checked under its row lock before it is ordered, and every handler re-reads state,
 * so a sweep that races the job it thought lost does nothing twice.
 *
 * For on-call: `matching_redrives_total{kind}` counts the jobs ordered again (each one a job that
 * had failed for good or was lost: look for a Postgres or Redis incident), and
 * `matching_overdue{kind}` (read from Postgres) the live waves past expiry and open slots past
 * cut-off beyond the grace. It should be 0; alert when it stays above 0 for two sweeps.
 */
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown, OnModuleInit, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { QueueName, closeSlotSuffix, jobId } from '@app/contracts';
import { Clock, MatchingPolicy, noCandidateRetryAt, planMatch, policyForTfc } from '@app/domain';
import { anyJobLive, currentPolicy, hasLiveJob, redriveJob, redrivePass } from '@app/persistence';
import { CLOCK, MetricsService, Periodic, QueueService } from '@app/platform';
import { DataSource, EntityManager } from 'typeorm';
import { ExchangeConfig } from './config';
import { POLICY } from './tokens';

export interface MatchingSweepTiming {
  /** How often the sweep looks (MATCHING_SWEEP_MS). */
  everyMs: number;
  /** Work overdue by less than this is left to its own job (MATCHING_SWEEP_GRACE_MS). */
  graceMs: number;
}

export const MATCHING_SWEEP_TIMING = Symbol('MATCHING_SWEEP_TIMING');

export type SweepKind = 'expire-wave' | 'close-slot' | 'match-slot';
export type SweepReport = Record<SweepKind, number>;

/** The gauge reads Postgres at most this often, whatever the number of scrapers. */
const GAUGE_FRESH_MS = 15_000;

interface WaitingSlot { id: string; at: Date; match_round: number; start_at: Date; tfc: string; next_jobs: Array<{ job_id: string; due: boolean }> }

@Injectable()
export class MatchingSweep implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('matching-sweep');
  private readonly periodic = new Periodic(this.logger, 'matching sweep', () => this.sweep());
  private overdue?: { at: number; read: Promise<Record<string, number>> };
  /** Read on every pass (tests shorten the grace period). */
  timing: MatchingSweepTiming;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(POLICY) private readonly policy: MatchingPolicy,
    private readonly queues: QueueService,
    private readonly metrics: MetricsService,
    private readonly config: ExchangeConfig,
    @Optional() @Inject(MATCHING_SWEEP_TIMING) timing?: Partial<MatchingSweepTiming>,
  ) {
    this.timing = { everyMs: config.MATCHING_SWEEP_MS, graceMs: config.MATCHING_SWEEP_GRACE_MS, ...timing };
  }

  onModuleInit(): void {
    const read = () => this.readOverdue();
    this.metrics.gauge('matching_overdue', 'Live waves past their expiry, and open slots past their cut-off, by more than the matching sweep\'s grace (should be 0)', ['kind'], async function collect() {
      const n = await read();
      for (const kind of ['expire-wave', 'close-slot']) this.set({ kind }, n[kind] ?? 0);
    });
  }

  onApplicationBootstrap(): void {
    // Matching is queue work: an API-only pod leaves it, and its sweep, to the worker pods.
    if (this.config.PROCESS_ROLE === 'api') return;
    this.periodic.start(this.timing.everyMs);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.periodic.stop();
  }

  /** One pass; returns how many jobs of each kind were ordered again. */
  async sweep(): Promise<SweepReport> {
    const now = this.clock.now();
    const overdueBefore = new Date(now.getTime() - this.timing.graceMs);
    const report: SweepReport = {
      'expire-wave': await redrivePass(
        (after: { id: string; at: Date } | null, limit) => this.ds.query(
          `SELECT id, expires_at AS at FROM offer_wave
            WHERE status = 'live' AND expires_at < $1 AND ($2::timestamptz IS NULL OR (expires_at, id) > ($2::timestamptz, $3::uuid))
            ORDER BY expires_at, id LIMIT ${limit}`,
          [overdueBefore, after?.at ?? null, after?.id ?? null],
        ),
        (w) => redriveJob(this.ds, this.queues, 'expire-wave', { waveId: w.id }, {
          stillStuck: async (tx) => (await tx.query(`SELECT 1 FROM offer_wave WHERE id = $1 AND status = 'live' FOR UPDATE`, [w.id])).length > 0,
        }),
      ),
      'close-slot': await redrivePass(
        (after: { id: string; at: Date } | null, limit) => this.ds.query(
          `SELECT id, cutoff_at AS at FROM slot
            WHERE status IN ('open', 'offering') AND cutoff_at < $1 AND ($2::timestamptz IS NULL OR (cutoff_at, id) > ($2::timestamptz, $3::uuid))
            ORDER BY cutoff_at, id LIMIT ${limit}`,
          [overdueBefore, after?.at ?? null, after?.id ?? null],
        ),
        (s) => this.redriveClose(s),
      ),
      'match-slot': await this.sweepWaitingSlots(now),
    };
    const counter = this.metrics.counter('matching_redrives_total', 'Matching jobs the sweep ordered again (the job had failed for good or was lost)', ['kind']);
    for (const [kind, n] of Object.entries(report)) {
      if (n === 0) continue;
      counter.inc({ kind }, n);
      this.logger.warn(`ordered ${n} ${kind} job(s) again: their job had failed for good or was lost`);
    }
    return report;
  }

  /**
   * Slots open or offering, not past their cut-off, with no live wave, released before the grace:
   * each should have a job for its next round (the first match, the next wave, a later look).
   */
  private async sweepWaitingSlots(now: Date): Promise<number> {
    const recorded = (await currentPolicy(this.ds))?.policy ?? this.policy;
    const graceBefore = new Date(now.getTime() - this.timing.graceMs);
    return redrivePass(
      async (after: WaitingSlot | null, limit) => {
        const slots: WaitingSlot[] = await this.ds.query(
          `SELECT s.id, s.cutoff_at AS at, s.match_round, s.start_at, s.tfc FROM slot s
            WHERE s.status IN ('open', 'offering') AND s.cutoff_at > $1 AND s.released_at < $2
              AND NOT EXISTS (SELECT 1 FROM offer_wave w WHERE w.slot_id = s.id AND w.status = 'live')
              AND ($3::timestamptz IS NULL OR (s.cutoff_at, s.id) > ($3::timestamptz, $4::uuid))
            ORDER BY s.cutoff_at, s.id LIMIT ${limit}`,
          [now, graceBefore, after?.at ?? null, after?.id ?? null],
        );
        if (slots.length === 0) return slots;
        // Each slot's next-round jobs the outbox holds (the relay keeps them until a day after they
        // were due), under any id (a look after quiet hours has its own): one pass over the outbox
        // per page, as booking's reconciler finds reply batches.
        const rows: Array<{ slot_id: string; round: number; job_id: string; due: boolean }> = await this.ds.query(
          `SELECT payload->>'slotId' AS slot_id, (payload->>'round')::int AS round, job_id, published_at IS NOT NULL AND run_at < $3 AS due
             FROM outbox WHERE queue = $1 AND job_name = 'match-slot' AND payload->>'slotId' = ANY ($2::text[])`,
          [QueueName.slotMatching, slots.map((s) => s.id), graceBefore],
        );
        for (const s of slots) s.next_jobs = rows.filter((r) => r.slot_id === s.id && r.round === s.match_round + 1);
        return slots;
      },
      async (s) => {
        // A job not yet published, or not yet due (or just due): on its way, no need to ask Redis.
        if (s.next_jobs.some((j) => !j.due)) return false;
        const policy = policyForTfc(recorded, s.tfc);
        const start = new Date(s.start_at);
        // In quiet hours a match would only defer itself; a match that finds nobody in the last
        // stretch before the cut-off writes no next job, so it would be ordered on every pass.
        // (A match whose step is "close", quiet hours lasting until the cut-off, closes the slot.)
        const step = planMatch(start, now, policy);
        if (step.kind === 'defer' || (step.kind === 'offer' && !noCandidateRetryAt(start, now, policy))) return false;
        const round = s.match_round + 1;
        if (await anyJobLive(this.queues, QueueName.slotMatching, [jobId('match-slot', { slotId: s.id, round }), ...s.next_jobs.map((j) => j.job_id)])) return false;
        return redriveJob(this.ds, this.queues, 'match-slot', { slotId: s.id, round }, {
          stillStuck: async (tx) => (await tx.query(
            `SELECT 1 FROM slot s WHERE s.id = $1 AND s.status IN ('open', 'offering') AND s.match_round = $2
                AND NOT EXISTS (SELECT 1 FROM offer_wave w WHERE w.slot_id = s.id AND w.status = 'live') FOR UPDATE OF s`,
            [s.id, s.match_round],
          )).length > 0,
        });
      },
    );
  }

  /**
   * A slot's close-slot runs under `close-<slot>`, or, once its cut-off moved (a close-slot that
   * came before a lengthened one, a failed booking reopening it under a shortened notice), under
   * `close-<slot>-at-<cut-off>` for the cut-off the slot records: a job for either that is still
   * waiting or retrying closes it, so neither is ordered again meanwhile.
   */
  private async redriveClose(s: { id: string; at: Date }): Promise<boolean> {
    const moved = `${jobId('close-slot', { slotId: s.id })}-${closeSlotSuffix(new Date(s.at))}`;
    if (await hasLiveJob(this.ds, this.queues, QueueName.slotMatching, moved, { suffixed: false })) return false;
    return redriveJob(this.ds, this.queues, 'close-slot', { slotId: s.id }, { stillStuck: (tx) => this.stillOpen(tx, s.id) });
  }

  private async stillOpen(tx: Pick<EntityManager, 'query'>, slotId: string): Promise<boolean> {
    return (await tx.query(`SELECT 1 FROM slot WHERE id = $1 AND status IN ('open', 'offering') FOR UPDATE`, [slotId])).length > 0;
  }

  private readOverdue(): Promise<Record<string, number>> {
    if (this.overdue && Date.now() - this.overdue.at < GAUGE_FRESH_MS) return this.overdue.read;
    const read = this.ds
      .query(
        `SELECT (SELECT count(*)::int FROM offer_wave WHERE status = 'live' AND expires_at < now() - make_interval(secs => $1)) AS "expire-wave",
                (SELECT count(*)::int FROM slot WHERE status IN ('open', 'offering') AND cutoff_at < now() - make_interval(secs => $1)) AS "close-slot"`,
        [this.timing.graceMs / 1000],
      )
      .then((r: Array<Record<string, number>>) => r[0]);
    this.overdue = { at: Date.now(), read };
    read.catch(() => (this.overdue = undefined));
    return read;
  }
}
