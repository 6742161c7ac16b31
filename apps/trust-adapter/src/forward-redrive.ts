/**
 * No accepted HL7 message is left unforwarded. A message is ACKed AA once it is stored with its
 * forwarding job; that job retries a transient failure (the exchange down, a network fault) for
 * about a minute (JOB_DEFAULTS) and then BullMQ fails it for good, which by itself would leave the
 * message with `forwarded_at` NULL for ever: a freed slot nobody is offered (DESIGN: every accepted
 * inbound message is offered or closed with a recorded reason).
 *
 * So, at start-up and every 30 s, this finds the trust's accepted messages not yet forwarded, older
 * than a short grace period, whose forwarding job will not run again (failed, or gone from Redis;
 * not waiting, delayed or active), and orders their forwarding again under the same job id
 * (`redriveJob`, shared with `adapter:replay`). During a long outage each message is tried again
 * about every 1.5 minutes (its job's own retries, then the next pass; up to 500 a pass:
 * `REDRIVE_PASS_LIMITS`), with one failed job per message kept in Redis. Re-driving is safe: the worker skips a message
 * already forwarded and the exchange acts on each event id once.
 *
 * For on-call: `hl7_awaiting_forward{trust}` and `hl7_oldest_awaiting_forward_seconds{trust}`
 * (read from Postgres, so true whatever Redis holds); alert when the oldest is over 5 minutes.
 */
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown, OnModuleInit, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { redriveJob, redrivePass } from '@app/persistence';
import { MetricsService, Periodic, QueueService } from '@app/platform';
import { DataSource } from 'typeorm';
import { AdapterConfig } from './config';

export interface ForwardRedriveTiming {
  /** How often the re-drive looks. */
  everyMs: number;
  /** A message younger than this is left to its first job (and to the relay that publishes it). */
  graceMs: number;
}

export const FORWARD_REDRIVE_TIMING = Symbol('FORWARD_REDRIVE_TIMING');
export const DEFAULT_FORWARD_REDRIVE: ForwardRedriveTiming = { everyMs: 30_000, graceMs: 60_000 };

/** The gauges read Postgres at most this often, whatever the number of scrapers. */
const GAUGE_FRESH_MS = 15_000;

@Injectable()
export class ForwardRedriver implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('forward-redrive');
  private readonly periodic = new Periodic(this.logger, 'forwarding re-drive', () => this.redrive());
  private awaiting?: { at: number; read: Promise<{ n: number; oldest_s: number }> };
  /** Read on every pass (tests shorten the grace period of a running adapter). */
  timing: ForwardRedriveTiming;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly config: AdapterConfig,
    private readonly queues: QueueService,
    private readonly metrics: MetricsService,
    @Optional() @Inject(FORWARD_REDRIVE_TIMING) timing?: Partial<ForwardRedriveTiming>,
  ) {
    this.timing = { ...DEFAULT_FORWARD_REDRIVE, ...timing };
  }

  onModuleInit(): void {
    const trust = this.config.TRUST_ODS;
    const read = () => this.readAwaiting();
    this.metrics.gauge('hl7_awaiting_forward', 'Accepted HL7 messages not yet forwarded to the exchange', ['trust'], async function collect() {
      this.set({ trust }, (await read()).n);
    });
    this.metrics.gauge('hl7_oldest_awaiting_forward_seconds', 'Age of the oldest accepted HL7 message not yet forwarded (0 when none)', ['trust'], async function collect() {
      this.set({ trust }, (await read()).oldest_s);
    });
  }

  onApplicationBootstrap(): void {
    // Forwarding is queue work: an API-only pod leaves it, and its re-drive, to the worker pods.
    if (this.config.PROCESS_ROLE === 'api') return;
    this.periodic.start(this.timing.everyMs);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.periodic.stop();
  }

  /** One pass; returns how many messages had their forwarding ordered again. */
  async redrive(): Promise<number> {
    // Keyset pages, oldest first (`redrivePass`): each page starts after the last message looked at.
    const ordered = await redrivePass(
      (after: { received_at: Date; id: string } | null, limit) => this.ds.query(
        `SELECT id, received_at FROM hl7_message
          WHERE trust_ods = $1 AND status = 'accepted' AND forwarded_at IS NULL AND received_at < now() - make_interval(secs => $2)
            AND ($3::timestamptz IS NULL OR (received_at, id) > ($3::timestamptz, $4::uuid))
          ORDER BY received_at, id LIMIT ${limit}`,
        [this.config.TRUST_ODS, this.timing.graceMs / 1000, after?.received_at ?? null, after?.id ?? null],
      ),
      (m) => forwardAgain(this.ds, this.queues, this.config.TRUST_ODS, m.id),
    );
    if (ordered > 0) {
      this.metrics.counter('hl7_forward_redrives_total', 'Accepted HL7 messages whose forwarding was ordered again (its job had failed for good or was lost)', ['trust'])
        .inc({ trust: this.config.TRUST_ODS }, ordered);
      this.logger.warn(`ordered forwarding again for ${ordered} accepted message(s) whose job had failed for good or was lost`);
    }
    return ordered;
  }

  private readAwaiting(): Promise<{ n: number; oldest_s: number }> {
    if (this.awaiting && Date.now() - this.awaiting.at < GAUGE_FRESH_MS) return this.awaiting.read;
    const read = this.ds
      .query(
        `SELECT count(*)::int AS n, COALESCE(extract(epoch FROM now() - min(received_at)), 0)::float8 AS oldest_s
           FROM hl7_message WHERE trust_ods = $1 AND status = 'accepted' AND forwarded_at IS NULL`,
        [this.config.TRUST_ODS],
      )
      .then((r: Array<{ n: number; oldest_s: number }>) => r[0]);
    this.awaiting = { at: Date.now(), read };
    read.catch(() => (this.awaiting = undefined));
    return read;
  }
}

/**
 * The one way an accepted message's forwarding is ordered again (the re-drive, and
 * `adapter:replay`): unless a job for it will still run; whether one was ordered.
 */
export function forwardAgain(ds: DataSource, queues: QueueService, ods: string, hl7MessageId: string): Promise<boolean> {
  return redriveJob(ds, queues, 'forward-hl7', { hl7MessageId }, { ods });
}
