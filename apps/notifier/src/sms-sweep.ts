/**
 * Nothing else sends a message again once BullMQ has given up on its job: a job that failed for
 * good (a database outage longer than its waits for it, sms-sender.worker.ts), or one Redis lost
 * whose outbox row was already cleaned up, left its message `queued` for ever: a confirmation or
 * an offer never sent, and nobody told.
 *
 * So on worker processes, at start-up and every SMS_SWEEP_MS, Postgres says which messages are
 * still queued (older than a grace period, in which the relay publishes a new message's job), and
 * BullMQ whether a job for each will still run; what has none is ordered again through the outbox
 * (`redriveJob`, as the exchange's matching sweep), oldest first, at most REDRIVE_PASS_LIMITS a
 * pass, with the priority the message's job was first ordered with (an offer's, by its slot's
 * cut-off), which the message keeps (`sms_message.priority`, read with the page). The job it
 * orders is a send like any other: it re-reads the message, keeps to quiet hours and the rate
 * limit, and asks Notify first for a message whose send had begun (so it is never sent twice). A
 * message whose job is still waiting, retrying or held (quiet hours, a paused queue, a wait for
 * the database) is left to it.
 *
 * For on-call: `sms_redrives_total` counts the jobs ordered again (each one a job that had failed
 * for good or was lost: look for a Postgres or Redis incident).
 */
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { redriveJob, redrivePass } from '@app/persistence';
import { MetricsService, Periodic, QueueService } from '@app/platform';
import { smsResendJobSuffix } from '@app/contracts';
import { DataSource } from 'typeorm';
import { NotifierConfig } from './config';

export interface SmsSweepTiming {
  /** How often the sweep looks (SMS_SWEEP_MS). */
  everyMs: number;
  /** A message younger than this is left to its first job and to the relay that publishes it. */
  graceMs: number;
}

export const SMS_SWEEP_TIMING = Symbol('SMS_SWEEP_TIMING');
export const DEFAULT_SMS_SWEEP_GRACE_MS = 2 * 60_000;

@Injectable()
export class SmsSweep implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('sms-sweep');
  private readonly periodic = new Periodic(this.logger, 'sms sweep', () => this.sweep());
  /** Read on every pass (tests shorten the grace period). */
  timing: SmsSweepTiming;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly queues: QueueService,
    private readonly metrics: MetricsService,
    private readonly config: NotifierConfig,
    @Optional() @Inject(SMS_SWEEP_TIMING) timing?: Partial<SmsSweepTiming>,
  ) {
    this.timing = { everyMs: config.SMS_SWEEP_MS, graceMs: DEFAULT_SMS_SWEEP_GRACE_MS, ...timing };
  }

  onApplicationBootstrap(): void {
    // Sending is queue work: an API-only pod leaves it, and its sweep, to the worker pods.
    if (this.config.PROCESS_ROLE === 'api') return;
    this.periodic.start(this.timing.everyMs);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.periodic.stop();
  }

  /** One pass; returns how many messages had their send ordered again. */
  async sweep(): Promise<number> {
    const ordered = await redrivePass(
      (after: QueuedMessage | null, limit) => this.ds.query(
        `SELECT id, created_at, resends, priority FROM sms_message
          WHERE status = 'queued' AND created_at < now() - make_interval(secs => $1)
            AND ($2::timestamptz IS NULL OR (created_at, id) > ($2::timestamptz, $3::uuid))
          ORDER BY created_at, id LIMIT ${limit}`,
        [this.timing.graceMs / 1000, after?.created_at ?? null, after?.id ?? null],
      ),
      (m) => this.redriveOne(m),
    );
    if (ordered > 0) {
      this.metrics.counter('sms_redrives_total', 'SMS whose send job the sweep ordered again (it had failed for good or was lost)').inc(ordered);
      this.logger.warn(`ordered the send of ${ordered} queued message(s) again: their job had failed for good or was lost`);
    }
    return ordered;
  }

  /**
   * Orders the send of one message as the pass read it, unless its job will still run. A text sent
   * again after a technical-failure is in the hands of that resend's job (`-resend-<n>`). The row
   * may have moved on since the page was read: its job sent it, then a technical-failure receipt
   * put it back to `queued` with the next resend's job. So it is ordered only while it is still
   * queued with the resends the pass read, the ones whose job was found not to be live; else the
   * job asked about is not the message's job any more, and ordering it would text the patient
   * twice (beside the resend's own job).
   */
  async redriveOne(m: QueuedMessage): Promise<boolean> {
    return redriveJob(this.ds, this.queues, 'send-sms', { smsId: m.id }, {
      jobIdSuffix: m.resends > 0 ? smsResendJobSuffix(m.resends) : undefined,
      priority: m.priority ?? undefined,
      stillStuck: async (tx) => (await tx.query(
        `SELECT 1 FROM sms_message WHERE id = $1 AND status = 'queued' AND resends = $2 FOR UPDATE`,
        [m.id, m.resends],
      )).length > 0,
    });
  }
}

/** A queued message as a sweep pass reads it. */
export interface QueuedMessage { id: string; created_at: Date; resends: number; priority: number | null }
