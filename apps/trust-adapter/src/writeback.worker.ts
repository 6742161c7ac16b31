/**
 * This trust's write-back jobs: book or cancel in the PAS, then report to the exchange.
 *
 * A refusal that will not change (a 4xx) is reported as permanent at once, so that the patient is
 * told the truth and a person is asked to look. Anything that leaves the answer unknown (a
 * timeout, a cut connection, a 5xx) is retried on the job's own schedule (capped exponential
 * back-off) until PAS_WRITEBACK_GIVE_UP_MINUTES after the write-back was ordered, not for the
 * queues' usual minute: a PAS restart or failover takes minutes, and every booking accepted in it
 * would otherwise fail for good. Even then the PAS may have made the appointment and lost only its
 * answer, so it is asked (by the booking id the conditional create is keyed by) before anything is
 * reported as failed: reporting a failure for an appointment that exists sends the slot back to
 * matching, and the next winner's booking (another id) makes a second appointment in it. When the
 * PAS cannot be asked either (still down, the usual case) and a try of the booking went unanswered
 * in a way the PAS may have acted on (a timeout or a cut connection after the request went out, a
 * 500, 502 or 504; unlike a connection never made, which never reached it, or a 503, which says
 * it was not handled: `answerMayHold`, `noAnswer`), the failure is reported with `pasMayHold`: the
 * booking fails, but its slot is closed and listed for a person to check the PAS, not offered again.
 *
 * A success the exchange no longer accepts (it recorded the booking as failed meanwhile) would
 * leave a patient holding an appointment they were told does not exist: that appointment is
 * cancelled in the PAS, and the same is done whenever a job finds its booking write-back failed
 * (after telling the exchange the appointment's id, so that the cancellation's SIU^S15 is known
 * as our own).
 */
import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { JobOutcome, JobPayloads, QueueName, WritebackOrder } from '@app/contracts';
import { storableText } from '@app/domain';
import { MetricsService, QueueService, cappedBackoffMs } from '@app/platform';
import { DelayedError, Job } from 'bullmq';
import { AdapterConfig } from './config';
import { ExchangeClient } from './exchange.client';
import { PasWritebackDriver, WritebackResult, noAnswer } from './fhir-writeback.driver';

@Injectable()
export class WritebackWorker implements OnApplicationBootstrap {
  private readonly logger = new Logger('writeback');

  constructor(
    private readonly config: AdapterConfig,
    private readonly exchange: ExchangeClient,
    private readonly driver: PasWritebackDriver,
    private readonly queues: QueueService,
    private readonly metrics: MetricsService,
  ) {}

  onApplicationBootstrap(): void {
    this.queues.worker(QueueName.trustWriteback(this.config.TRUST_ODS), (job: Job, token?: string) => this.process(job, token));
  }

  async process(job: Job, token?: string): Promise<JobOutcome> {
    const data = job.data as JobPayloads['write-back'];
    const { writebackId } = data;
    const order = await this.exchange.call<WritebackOrder>('GET', `/writebacks/${writebackId}`);
    if (order.kind === 'book' && order.status === 'failed') return this.withdraw(order, job, token, order.appointment.pasAppointmentId);
    if (order.status !== 'pending') return { status: 'skipped', reason: `write-back already ${order.status}` };
    let result = await this.ask(() => (order.kind === 'book' ? this.driver.book(order) : this.driver.cancel(order)));
    this.count(order.kind, result.ok ? 'ok' : result.permanent ? 'refused' : 'retry');
    // The failures page shows the PAS's answer; logs and the job's error carry only our reason.
    const recorded = (r: { reason: string; detail?: string }) => storableText(r.detail ? `${r.reason}: ${r.detail}` : r.reason);
    // Whether any try of this booking went unanswered in a way the PAS may have acted on: kept in
    // the job across tries, and told to the exchange, so that giving up never reopens a slot the
    // PAS may have given this patient.
    const mayHold = order.kind === 'book' && (data.pasMayHold === true || (!result.ok && result.pasMayHold === true));
    if (mayHold && !data.pasMayHold) await job.updateData({ ...data, pasMayHold: true });
    let pasMayHold: boolean | undefined = mayHold || undefined;
    if (!result.ok && !result.permanent) {
      if (!this.outOfTime(job)) {
        await this.exchange.call('POST', `/writebacks/${writebackId}/outcome`, { outcome: 'failed', permanent: false, reason: recorded(result), pasMayHold }).catch(() => undefined);
        return this.retryLater(job, token, result.reason);
      }
      // Out of time, and the answer still unknown: the PAS may hold it all the same.
      const held = await this.ask(() => this.driver.check(order));
      if (held.ok) {
        this.logger.warn(`write-back ${writebackId} (${order.kind}): no answer from the PAS in time, but the PAS holds it`);
        result = held;
      } else if (held.absent) {
        pasMayHold = order.kind === 'book' ? false : undefined;
      }
    }
    if (result.ok) {
      const answer = await this.exchange.call<{ status?: string } | undefined>('POST', `/writebacks/${writebackId}/outcome`, { outcome: 'succeeded', pasAppointmentId: result.pasAppointmentId });
      if (answer?.status === 'succeeded') return { status: 'done' };
      this.logger.error(`write-back ${writebackId} (${order.kind}) succeeded in the PAS, but the exchange has it as ${answer?.status ?? 'unknown'}`);
      // The exchange has just recorded the appointment's id (answering "failed"), which makes the
      // cancellation's SIU^S15 known as our own.
      if (order.kind === 'book') return this.withdraw(order, job, token, result.pasAppointmentId);
      return { status: 'done', reason: `succeeded, but the exchange has it as ${answer?.status ?? 'unknown'}` };
    }
    await this.exchange.call('POST', `/writebacks/${writebackId}/outcome`, { outcome: 'failed', permanent: true, reason: recorded(result), pasMayHold });
    if (pasMayHold) {
      this.logger.error(`write-back ${writebackId} (${order.kind}) given up: ${result.reason}; a try went unanswered and the PAS could not be asked since, so it may hold the appointment: its slot is not offered again`);
    } else {
      this.logger.error(`write-back ${writebackId} (${order.kind}) failed for good: ${result.reason}`);
    }
    return { status: 'done', reason: 'failed' };
  }

  /**
   * The exchange holds this booking as failed (the patient was told "could not", the slot may be
   * someone else's now), so an appointment the PAS made for it must not stand: it is cancelled.
   * `knownId` is the appointment already known to the exchange (recorded on the write-back); without
   * one the PAS is searched by booking id, and what it finds is told to the exchange before it is
   * cancelled, so that the cancellation's SIU^S15 is known as our own and frees no phantom slot.
   */
  private async withdraw(order: WritebackOrder, job: Job, token: string | undefined, knownId: string | null): Promise<JobOutcome> {
    let result: WritebackResult;
    if (knownId) {
      result = await this.cancelHeld(order, knownId);
    } else {
      const held = await this.ask(() => this.driver.check(order));
      if (!held.ok && held.absent) return { status: 'skipped', reason: 'write-back already failed; the PAS holds nothing for it' };
      if (!held.ok && held.permanent) {
        // A refused search (no permission to search, a request it will not take) says nothing
        // about what the PAS holds: the job fails, to be retried and seen, rather than skipped.
        this.count('withdraw', 'refused');
        this.logger.error(`write-back ${order.id}: the PAS refused the search for a failed booking's appointment (${held.reason}); it may still hold one`);
        throw new Error(`the PAS refused the search for the booking's appointment (${held.reason})`);
      }
      if (held.ok) await this.exchange.call('POST', `/writebacks/${order.id}/outcome`, { outcome: 'succeeded', pasAppointmentId: held.pasAppointmentId });
      result = held.ok ? await this.cancelHeld(order, held.pasAppointmentId) : held;
    }
    if (result.ok) {
      this.count('withdraw', 'ok');
      this.logger.error(`write-back ${order.id}: the PAS made appointment ${result.pasAppointmentId} for a failed booking; cancelled it`);
      return { status: 'done', reason: 'withdrawn' };
    }
    this.count('withdraw', result.permanent ? 'refused' : 'retry');
    if (!result.permanent && !this.outOfTime(job)) return this.retryLater(job, token, result.reason);
    this.logger.error(`write-back ${order.id}: the PAS may hold an appointment for a failed booking and it could not be cancelled (${result.reason}); a person must check`);
    return { status: 'done', reason: 'withdraw failed' };
  }

  private cancelHeld(order: WritebackOrder, pasAppointmentId: string): Promise<WritebackResult> {
    return this.ask(() => this.driver.cancel({ ...order, kind: 'cancel', appointment: { ...order.appointment, pasAppointmentId } }));
  }

  /** A PAS that could not be reached is a transient failure like a 5xx. */
  private async ask(call: () => Promise<WritebackResult>): Promise<WritebackResult> {
    try {
      return await call();
    } catch (e) {
      return noAnswer(e);
    }
  }

  /** Judged from when the job was ordered (job.timestamp), so every try counts, however many. */
  private outOfTime(job: Job): boolean {
    return Date.now() - job.timestamp >= this.config.PAS_WRITEBACK_GIVE_UP_MINUTES * 60_000;
  }

  /**
   * Back into the delayed set without spending one of BullMQ's attempts (those are left for the
   * exchange being unreachable); the DelayedError tells the worker the job is not failed.
   */
  private async retryLater(job: Job, token: string | undefined, reason: string): Promise<never> {
    const remaining = job.timestamp + this.config.PAS_WRITEBACK_GIVE_UP_MINUTES * 60_000 - Date.now();
    await job.moveToDelayed(Date.now() + cappedBackoffMs(job.attemptsStarted, remaining), token);
    throw new DelayedError(reason);
  }

  private count(kind: string, outcome: 'ok' | 'refused' | 'retry'): void {
    this.metrics.counter('pas_writebacks_total', 'PAS write-back attempts', ['trust', 'kind', 'outcome']).inc({ trust: this.config.TRUST_ODS, kind, outcome });
  }
}
