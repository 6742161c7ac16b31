/**
 * Re-drives work left in an intermediate state by a crash or a lost queue (Redis restarted empty,
 * a job failed for good before it could report). Postgres is the source of truth, so everything
 * here is decided from rows, and every re-drive goes through the outbox like any other job:
 * - outbox rows committed but still unpublished after a minute: the relay is woken (its LISTEN
 *   connection may have been lost and its sweep stopped with a dead process);
 * - a patient's reply still unprocessed after a few minutes with no job for it (its job failed for
 *   good, e.g. through a long Postgres outage): it is processed again, so no acceptance is lost;
 * - a write-back still pending after a few minutes (a booking awaiting its PAS, or the cancel of a
 *   confirmed booking's old appointment), with no job for it waiting or running in the trust's
 *   queue: the write-back is ordered again (a new job id, since the old one may still sit in
 *   BullMQ as completed or failed and would be a no-op);
 * - a booking still waiting for its PAS when its slot reaches the cut-off (the notice in force; e.g.
 *   the owning trust's adapter is down and its job sits waiting, which no re-drive can cure): the
 *   write-back is failed and the booking undone at once, so nobody is booked, or told "confirmed",
 *   inside the notice or after the slot, and the patient and the booking team hear now;
 * - a write-back with a terminal outcome whose booking is still pending, or a failed cancel of an
 *   old appointment not yet listed as double-held: the outcome job is ordered again, so the patient
 *   hears the truth and a person is asked to look.
 * Every handler re-reads state, so a re-drive that races the original job does nothing twice.
 */
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { QueueName, jobId } from '@app/contracts';
import { Clock, MS_PER_HOUR, MatchingPolicy, isInsideMinimumNotice } from '@app/domain';
import { OutboxRelay, enqueue, hasLiveJob, lockSlotOfWriteback, policyInForce } from '@app/persistence';
import { CLOCK, IcsDirectory, MetricsService, Periodic, QueueService } from '@app/platform';
import { DataSource } from 'typeorm';
import { failBooking } from './booking-failure';
import { POLICY } from './tokens';

export interface ReconcilerThresholds {
  /** An unpublished outbox row older than this is stuck. */
  outboxStuckMs: number;
  /** An unprocessed patient reply older than this with no live job is stuck. */
  replyStuckMs: number;
  /** A pending write-back older than this with no live job is stuck. */
  writebackStuckMs: number;
  /** A terminal write-back older than this whose booking is still pending is stuck. */
  outcomeStuckMs: number;
}

export const RECONCILE_EVERY_MS = 30_000;
export const DEFAULT_THRESHOLDS: ReconcilerThresholds = { outboxStuckMs: 60_000, replyStuckMs: 2 * 60_000, writebackStuckMs: 5 * 60_000, outcomeStuckMs: 60_000 };

export interface ReconcileReport {
  outboxStuck: number;
  repliesRedriven: number;
  /** Bookings failed because their PAS had not answered by the slot's cut-off. */
  unansweredFailed: number;
  writebacksRedriven: number;
  outcomesRedriven: number;
}

/**
 * The reconciler's three passes over write-backs, every RECONCILE_EVERY_MS, each read only through
 * partial indexes that hold the rows it can act on rather than every write-back (or booking) ever
 * made; reconciler-plan.int-spec checks their plans at size, so a change to a WHERE must keep the
 * condition of the index it reads:
 * - the two over pending write-backs read `writeback_pending` (status = 'pending', by created_at:
 *   migration 1764501300000): their WHERE keeps `w.status = 'pending'`;
 * - the one over outcomes not yet acted on reads `booking_pending` (b.status = 'pending'),
 *   migration 1764502200000, and `writeback_cancel_unlisted` (kind = 'cancel' AND status =
 *   'failed' AND listed_at IS NULL), migration 1764502400000: only the failed cancels not yet
 *   listed, not every one ever made (each checked against booking_failure every pass, as it was).
 */
/** Pending write-backs with no outcome for over $1 seconds whose booking still waits on them. */
export const STUCK_WRITEBACKS_SQL = `SELECT w.id, w.trust_ods FROM writeback w JOIN booking b ON b.id = w.booking_id
        WHERE w.status = 'pending' AND b.status = CASE w.kind WHEN 'book' THEN 'pending' ELSE 'confirmed' END
          AND w.created_at < now() - make_interval(secs => $1)
        ORDER BY w.created_at LIMIT 200`;

/** Pending `book` write-backs whose slot starts by $1 (now plus the minimum notice: at its cut-off). */
export const UNANSWERED_AT_CUTOFF_SQL = `SELECT w.id FROM writeback w JOIN booking b ON b.id = w.booking_id JOIN slot s ON s.id = b.slot_id
        WHERE w.kind = 'book' AND w.status = 'pending' AND b.status = 'pending' AND s.start_at <= $1
        ORDER BY s.start_at LIMIT 200`;

/**
 * Write-backs with an outcome for over $1 seconds that was not acted on: a `book` one whose booking
 * is still pending, or a failed cancel of an old appointment not yet listed as double-held (a
 * failed cancel leaves the booking confirmed: what shows its outcome was handled is the listing,
 * marked on the write-back as `listed_at` by the outcome job that lists it; one listed but not
 * marked, by a release before the mark, is re-driven once and marked then).
 * Oldest outcome first. In two halves (UNION ALL: the kinds are apart, so no row is in both), each
 * reading its own partial index, then the oldest 200 of the two; one WHERE with an OR between them
 * would read every finished write-back.
 */
export const DECIDED_OUTCOMES_SQL = `SELECT id FROM (
          (SELECT w.id, w.completed_at FROM booking b JOIN writeback w ON w.booking_id = b.id AND w.kind = 'book'
            WHERE b.status = 'pending' AND w.status IN ('succeeded', 'failed') AND w.completed_at < now() - make_interval(secs => $1)
            ORDER BY w.completed_at LIMIT 200)
          UNION ALL
          (SELECT w.id, w.completed_at FROM writeback w JOIN booking b ON b.id = w.booking_id
            WHERE w.kind = 'cancel' AND w.status = 'failed' AND w.listed_at IS NULL AND w.completed_at < now() - make_interval(secs => $1)
            ORDER BY w.completed_at LIMIT 200)
        ) d
        ORDER BY completed_at LIMIT 200`;

@Injectable()
export class Reconciler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('reconciler');
  private readonly periodic = new Periodic(this.logger, 'reconcile', () => this.reconcile());
  thresholds: ReconcilerThresholds = DEFAULT_THRESHOLDS;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly relay: OutboxRelay,
    private readonly queues: QueueService,
    private readonly metrics: MetricsService,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(POLICY) private readonly policy: MatchingPolicy,
    private readonly ics: IcsDirectory,
  ) {}

  onApplicationBootstrap(): void {
    // Once at start (the usual moment to find a crash's leftovers), then every 30 s.
    this.periodic.start(RECONCILE_EVERY_MS);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.periodic.stop();
  }

  async reconcile(): Promise<ReconcileReport> {
    const report: ReconcileReport = { outboxStuck: 0, repliesRedriven: 0, unansweredFailed: 0, writebacksRedriven: 0, outcomesRedriven: 0 };
    const counter = this.metrics.counter('reconciler_redrives_total', 'Rows the reconciler found stuck and re-drove', ['kind']);

    const [{ n }] = await this.ds.query(
      `SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL AND created_at < now() - make_interval(secs => $1)`,
      [this.thresholds.outboxStuckMs / 1000],
    );
    report.outboxStuck = n;
    if (n > 0) {
      counter.inc({ kind: 'outbox' }, n);
      this.logger.warn(`${n} outbox row(s) unpublished for over ${this.thresholds.outboxStuckMs / 1000} s: draining`);
      await this.relay.drain();
    }

    const replies: Array<{ id: string }> = await this.ds.query(
      `SELECT id FROM patient_reply WHERE processed_at IS NULL AND received_at < now() - make_interval(secs => $1) ORDER BY received_at LIMIT 200`,
      [this.thresholds.replyStuckMs / 1000],
    );
    // The notifier names a batch of received texts in one job (`process-replies`): each stuck
    // reply's batch job, found by one pass over those outbox rows rather than one per reply.
    const batchOf = new Map<string, string>();
    if (replies.length > 0) {
      const found: Array<{ reply_id: string; job_id: string }> = await this.ds.query(
        `SELECT x.reply_id, o.job_id FROM outbox o CROSS JOIN LATERAL jsonb_array_elements_text(o.payload->'replyIds') AS x(reply_id)
          WHERE o.queue = $1 AND o.job_name = 'process-replies' AND x.reply_id = ANY ($2::text[])`,
        [QueueName.offerReplies, replies.map((r) => r.id)],
      );
      for (const f of found) batchOf.set(f.reply_id, f.job_id);
    }
    for (const r of replies) {
      if (await this.anyLive(QueueName.offerReplies, jobId('process-reply', { replyId: r.id }))) continue;
      const batch = batchOf.get(r.id);
      if (batch && (await this.anyLive(QueueName.offerReplies, batch))) continue;
      await this.ds.transaction((tx) => enqueue(tx, 'process-reply', { replyId: r.id }, { jobIdSuffix: `r${Date.now()}` }));
      report.repliesRedriven++;
    }
    if (report.repliesRedriven) {
      counter.inc({ kind: 'process-reply' }, report.repliesRedriven);
      this.logger.warn(`re-ordered ${report.repliesRedriven} patient repl(ies) that had no job left`);
    }

    // Before the re-order below: a write-back past its slot's cut-off is not to be written any more.
    report.unansweredFailed = await this.failUnansweredAtCutoff();
    if (report.unansweredFailed) {
      counter.inc({ kind: 'unanswered-at-cutoff' }, report.unansweredFailed);
      this.logger.warn(`failed ${report.unansweredFailed} booking(s) whose PAS had not answered by the slot's cut-off`);
    }

    const pending: Array<{ id: string; trust_ods: string }> = await this.ds.query(STUCK_WRITEBACKS_SQL, [this.thresholds.writebackStuckMs / 1000]);
    for (const wb of pending) {
      if (await this.hasLiveJob(wb.id, wb.trust_ods)) continue;
      await this.ds.transaction(async (tx) => {
        // Re-check under the booking's lock: the outcome may have arrived meanwhile.
        const [still] = await tx.query(
          `SELECT 1 FROM writeback w JOIN booking b ON b.id = w.booking_id
            WHERE w.id = $1 AND w.status = 'pending' AND b.status = CASE w.kind WHEN 'book' THEN 'pending' ELSE 'confirmed' END FOR UPDATE OF b`,
          [wb.id],
        );
        if (!still) return;
        await enqueue(tx, 'write-back', { writebackId: wb.id }, { ods: wb.trust_ods, jobIdSuffix: `r${Date.now()}` });
        report.writebacksRedriven++;
      });
    }
    if (report.writebacksRedriven) {
      counter.inc({ kind: 'write-back' }, report.writebacksRedriven);
      this.logger.warn(`re-ordered ${report.writebacksRedriven} write-back(s) that had no job left`);
    }

    const decided: Array<{ id: string }> = await this.ds.query(DECIDED_OUTCOMES_SQL, [this.thresholds.outcomeStuckMs / 1000]);
    for (const wb of decided) {
      if (await this.hasLiveOutcomeJob(wb.id)) continue;
      await this.ds.transaction((tx) => enqueue(tx, 'writeback-outcome', { writebackId: wb.id }, { jobIdSuffix: `r${Date.now()}` }));
      report.outcomesRedriven++;
    }
    if (report.outcomesRedriven) {
      counter.inc({ kind: 'writeback-outcome' }, report.outcomesRedriven);
      this.logger.warn(`re-ordered ${report.outcomesRedriven} write-back outcome(s) not yet acted on`);
    }
    return report;
  }

  /**
   * Fails each booking whose write-back is still pending when its slot has reached the cut-off of
   * the notice in force: the write-back is marked failed (the adapter skips an order that is not
   * pending, and a success it reports later is answered "failed") and the booking undone, the
   * patient told, the slot closed and the case listed, in one transaction per booking. Under the
   * slot's, the booking's and the write-back's row locks, taken in that order (lock-order.ts: an
   * S17 for the slot, or an outcome failing the booking, takes them so too), and only while the
   * write-back is still pending: an adapter's answer that got in first wins, and its outcome job
   * decides. Called by `reconcile`; public for the lock-order suite.
   */
  async failUnansweredAtCutoff(): Promise<number> {
    const now = this.clock.now();
    // Minimum notice is ICS-wide (a specialty cannot override it): one horizon for every slot.
    const horizon = new Date(now.getTime() + (await policyInForce(this.ds, this.policy)).minNoticeHours * MS_PER_HOUR);
    const late: Array<{ id: string }> = await this.ds.query(UNANSWERED_AT_CUTOFF_SQL, [horizon]);
    const ctx = { clock: this.clock, policy: this.policy, ics: this.ics, metrics: this.metrics };
    let failed = 0;
    for (const { id } of late) {
      await this.ds.transaction(async (tx) => {
        // In the one lock order (lock-order.ts): the slot (failing the booking changes it), the
        // booking, then the write-back; each re-read under its lock.
        if (!(await lockSlotOfWriteback(tx, id))) return;
        const [row] = await tx.query(
          `SELECT w.trust_ods, w.attempts, w.last_error, s.start_at, s.tfc, to_jsonb(b) AS booking
             FROM writeback w JOIN booking b ON b.id = w.booking_id JOIN slot s ON s.id = b.slot_id
            WHERE w.id = $1 AND w.status = 'pending' AND b.status = 'pending' FOR UPDATE OF b`,
          [id],
        );
        if (!row || !isInsideMinimumNotice(new Date(row.start_at), now, await policyInForce(tx, this.policy, row.tfc))) return;
        // An adapter's answer that got in first wins: its outcome job decides.
        if ((await tx.query(`SELECT 1 FROM writeback WHERE id = $1 AND status = 'pending' FOR UPDATE`, [id])).length === 0) return;
        const lastError = row.last_error ? `; last error: ${row.last_error}` : '';
        const reason = `no answer from the PAS at ${row.trust_ods} by the slot's cut-off (${row.attempts} attempt(s) reported${lastError}): check it holds no appointment for this booking`;
        await tx.query(`UPDATE writeback SET status = 'failed', last_error = $2, completed_at = now() WHERE id = $1`, [id, reason.slice(0, 500)]);
        await failBooking(tx, ctx, row.booking, { kind: 'no-pas-answer', reason, closedReason: 'no answer from the PAS before the cut-off' }, new Set());
        failed++;
      });
    }
    return failed;
  }

  /** Whether any job ordered for this write-back (the first, or an earlier re-drive) will still run. */
  private async hasLiveJob(writebackId: string, ods: string): Promise<boolean> {
    return this.anyLive(QueueName.trustWriteback(ods), jobId('write-back', { writebackId }));
  }

  private async hasLiveOutcomeJob(writebackId: string): Promise<boolean> {
    return this.anyLive(QueueName.bookingEvents, jobId('writeback-outcome', { writebackId }));
  }

  private anyLive(queue: string, baseId: string): Promise<boolean> {
    // An unpublished row is a job about to exist; the outbox check above takes care of it.
    return hasLiveJob(this.ds, this.queues, queue, baseId);
  }
}
