/**
 * The queue wire contract (STYLE.md §3–4): every queue name, job name, payload and job id lives
 * here and nowhere else. Payloads carry ids only — never an NHS number, name or phone number —
 * plus an optional W3C trace context. Renaming anything here is a migration: jobs already in
 * Redis keep their old names.
 */

/** W3C `traceparent`, so one freed slot can be followed across processes. */
export interface TraceCarrier {
  traceparent?: string;
}

export const QueueName = Object.freeze({
  /** Adapter → its own worker: forward a stored, accepted HL7 message to the exchange. */
  trustInbound: (ods: string) => `trust-inbound-${ods}`,
  /** Exchange: match a slot, expire a wave, close a slot at its cut-off. */
  slotMatching: 'slot-matching',
  /** Notifier: send one stored SMS through GOV.UK Notify. */
  smsOutbound: 'sms-outbound',
  /** Booking: act on one stored inbound SMS reply or offer-page action. */
  offerReplies: 'offer-replies',
  /** Booking: act on the outcome of a PAS write-back. */
  bookingEvents: 'booking-events',
  /** Adapter of one trust: write a booking or a cancellation to its PAS. */
  trustWriteback: (ods: string) => `trust-writeback-${ods}`,
});

export interface JobPayloads {
  'forward-hl7': { hl7MessageId: string } & TraceCarrier;
  'match-slot': { slotId: string; round: number } & TraceCarrier;
  'expire-wave': { waveId: string } & TraceCarrier;
  'close-slot': { slotId: string } & TraceCarrier;
  'send-sms': { smsId: string } & TraceCarrier;
  'process-reply': { replyId: string } & TraceCarrier;
  /**
   * The received texts the notifier stored in one transaction (in order of arrival), as one job:
   * in a storm a job per text cost a relay row, a Redis add and a worker round per text, and
   * split a slot's simultaneous YES across the booking service's batches.
   */
  'process-replies': { replyIds: string[] } & TraceCarrier;
  /**
   * `pasMayHold` is written by the adapter into its own job, never by who orders it: an earlier try
   * of this job got no answer to a write the PAS may have done (kept across tries, for the give-up).
   */
  'write-back': { writebackId: string; pasMayHold?: boolean } & TraceCarrier;
  'writeback-outcome': { writebackId: string } & TraceCarrier;
  /** An offer's SMS could not be delivered (Notify refused the number, or a permanent-failure receipt). */
  'offer-undeliverable': { offerId: string } & TraceCarrier;
}
export type JobName = keyof JobPayloads;

/** Which queue each job goes to; a trust-scoped queue needs the trust's ODS code. */
export const JOB_QUEUE: Record<JobName, string | ((ods: string) => string)> = {
  'forward-hl7': QueueName.trustInbound,
  'match-slot': QueueName.slotMatching,
  'expire-wave': QueueName.slotMatching,
  'close-slot': QueueName.slotMatching,
  'send-sms': QueueName.smsOutbound,
  'process-reply': QueueName.offerReplies,
  'process-replies': QueueName.offerReplies,
  'write-back': QueueName.trustWriteback,
  'writeback-outcome': QueueName.bookingEvents,
  'offer-undeliverable': QueueName.bookingEvents,
};

/**
 * Deterministic job ids: enqueueing the same work twice is a no-op in BullMQ. Ids are built from
 * database ids only, and never contain `:` (BullMQ reserves it).
 */
/**
 * The job-id suffix of a `close-slot` ordered for a cut-off other than the one at the slot's
 * release (a notice changed since): one job per slot and cut-off, whoever orders it.
 */
export function closeSlotSuffix(cutoff: Date): string {
  return `at-${cutoff.getTime()}`;
}

export function jobId<N extends JobName>(name: N, p: JobPayloads[N]): string {
  switch (name) {
    case 'forward-hl7': return `hl7-${(p as JobPayloads['forward-hl7']).hl7MessageId}`;
    case 'match-slot': { const m = p as JobPayloads['match-slot']; return `match-${m.slotId}-${m.round}`; }
    case 'expire-wave': return `expire-${(p as JobPayloads['expire-wave']).waveId}`;
    case 'close-slot': return `close-${(p as JobPayloads['close-slot']).slotId}`;
    case 'send-sms': return `sms-${(p as JobPayloads['send-sms']).smsId}`;
    case 'process-reply': return `reply-${(p as JobPayloads['process-reply']).replyId}`;
    // A reply is stored once, in one batch: its first reply names the batch.
    case 'process-replies': return `replies-${(p as JobPayloads['process-replies']).replyIds[0]}`;
    case 'write-back': return `writeback-${(p as JobPayloads['write-back']).writebackId}`;
    case 'writeback-outcome': return `wb-outcome-${(p as JobPayloads['writeback-outcome']).writebackId}`;
    case 'offer-undeliverable': return `undeliverable-${(p as JobPayloads['offer-undeliverable']).offerId}`;
    default: {
      const never: never = name;
      throw new Error(`unknown job ${String(never)}`);
    }
  }
}

const SMS_RESEND = 'resend-';

/**
 * The job id suffix (`enqueue`'s `jobIdSuffix`) of the `n`th resend of a text after Notify's
 * `technical-failure`: `sms-<id>-resend-<n>`, a new job for each, so none is taken for a repeat.
 */
export function smsResendJobSuffix(n: number): string {
  return `${SMS_RESEND}${n}`;
}

/**
 * Which send of its text a `send-sms` job is for, from its id: `n` for `sms-<id>-resend-<n>`
 * (`smsResendJobSuffix`), 0 for the first send's `sms-<id>`. The sender acts only on the job whose
 * number is the message's `resends`: an older one (rebuilt from the outbox after Redis lost its
 * data, or delivered again) must not send the text beside the current send's job.
 */
export function smsResendOfJobId(id: string): number {
  const m = new RegExp(`-${SMS_RESEND}(\\d+)$`).exec(id);
  return m ? Number(m[1]) : 0;
}

export function queueFor(name: JobName, ods?: string): string {
  const q = JOB_QUEUE[name];
  if (typeof q === 'string') return q;
  if (!ods) throw new Error(`job ${name} needs a trust ODS code to pick its queue`);
  return q(ods);
}

/**
 * Handlers report what they did; `skipped` means the work was already done or is moot; `retry`
 * means another job holds what this one needs (the worker delivers it again shortly, same job id).
 */
export type JobOutcome = { status: 'done' | 'skipped' | 'retry'; reason?: string };
