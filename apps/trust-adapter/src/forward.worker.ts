/**
 * Forwards each accepted HL7 message, as its canonical event, to the exchange. At-least-once:
 * the exchange de-duplicates by event id. A refusal by the exchange (4xx) is recorded on the
 * archived message for an operator instead of being retried forever.
 *
 * Jobs that are in flight together are forwarded together (a group commit, as the intake's):
 * their messages are read by one query, posted as one `POST /events/batch` (one transaction at
 * the exchange) and marked forwarded by one statement. An idle adapter still forwards a lone
 * message at once; a busy one pays one round trip to the exchange for many. Each event carries
 * its own job's trace context, so one freed slot stays one trace.
 */
import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { JobOutcome, JobPayloads, QueueName, SLOT_EVENT_BATCH_MAX, SlotEventBatchResult, SlotEventDto } from '@app/contracts';
import { GroupCommit, QueueService, currentTraceparent } from '@app/platform';
import { Job } from 'bullmq';
import { DataSource } from 'typeorm';
import { AdapterConfig } from './config';
import { ExchangeClient, ExchangeHttpError } from './exchange.client';

/** Jobs taken from the queue at once: while one batch is at the exchange, the next gathers. */
const FORWARD_CONCURRENCY = 64;
/** Batches at the exchange at once, per adapter. */
const BATCHES_IN_FLIGHT = 2;

interface Item {
  hl7MessageId: string;
  traceparent?: string;
}

@Injectable()
export class ForwardWorker implements OnApplicationBootstrap {
  private readonly logger = new Logger('forward');
  private readonly batches = new GroupCommit<Item, JobOutcome>({
    store: (items) => this.forward(items),
    concurrency: BATCHES_IN_FLIGHT,
    maxItems: SLOT_EVENT_BATCH_MAX,
    maxBytes: Number.MAX_SAFE_INTEGER,
    size: () => 1,
  });

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly config: AdapterConfig,
    private readonly exchange: ExchangeClient,
    private readonly queues: QueueService,
  ) {}

  onApplicationBootstrap(): void {
    this.queues.worker(
      QueueName.trustInbound(this.config.TRUST_ODS),
      (job: Job) => this.process(job.data as JobPayloads['forward-hl7']),
      { concurrency: FORWARD_CONCURRENCY },
    );
  }

  /** One job: resolves when its message's batch has been applied by the exchange (or refused) and recorded. */
  process({ hl7MessageId }: JobPayloads['forward-hl7']): Promise<JobOutcome> {
    // The job's span (runJobInTrace) is current here, not inside the batch that carries it.
    return this.batches.submit({ hl7MessageId, traceparent: currentTraceparent() });
  }

  /**
   * One batch. A batch the exchange refuses as a whole (4xx) throws, so the group commit sends its
   * messages one by one and only the message at fault is recorded as refused; a transient failure
   * throws and BullMQ retries the jobs.
   */
  private async forward(items: Item[]): Promise<JobOutcome[]> {
    const ids = items.map((i) => i.hl7MessageId);
    const found: Array<{ id: string; event: SlotEventDto; forwarded_at: Date | null }> = await this.ds.query(
      `SELECT id, event, forwarded_at FROM hl7_message WHERE id = ANY($1::uuid[]) AND trust_ods = $2`,
      [ids, this.config.TRUST_ODS],
    );
    const byId = new Map(found.map((m) => [m.id, m]));
    const outcomes = new Map<string, JobOutcome>();
    const send: Array<{ id: string; event: SlotEventDto & { traceparent?: string } }> = [];
    for (const item of items) {
      const msg = byId.get(item.hl7MessageId);
      if (!msg) outcomes.set(item.hl7MessageId, { status: 'skipped', reason: 'no such message' });
      else if (msg.forwarded_at) outcomes.set(item.hl7MessageId, { status: 'skipped', reason: 'already forwarded' });
      else if (!outcomes.has(msg.id) && !send.some((s) => s.id === msg.id)) {
        send.push({ id: msg.id, event: { ...msg.event, ...(item.traceparent ? { traceparent: item.traceparent } : {}) } });
      }
    }
    if (send.length > 0) {
      let answers: string[];
      try {
        const res = await this.exchange.call<SlotEventBatchResult>('POST', '/events/batch', { events: send.map((s) => s.event) });
        answers = res.results.map((r) => ('refused' in r ? `refused by exchange: exchange answered ${r.refused.status}: ${r.refused.message}` : r.outcome));
      } catch (e) {
        if (!(e instanceof ExchangeHttpError) || !e.permanent || send.length > 1) throw e;
        answers = [`refused by exchange: ${e.message}`];
      }
      answers.forEach((a, k) => {
        if (a.startsWith('refused')) this.logger.error(`message ${send[k].id} ${a}`);
      });
      await this.ds.query(
        `UPDATE hl7_message m SET forwarded_at = now(), forward_outcome = x.outcome
           FROM unnest($1::uuid[], $2::text[]) AS x(id, outcome) WHERE m.id = x.id`,
        [send.map((s) => s.id), answers],
      );
      send.forEach((s, k) => outcomes.set(s.id, { status: 'done', reason: answers[k] }));
    }
    return items.map((i) => outcomes.get(i.hl7MessageId) ?? { status: 'skipped', reason: 'already forwarded' });
  }
}
