/**
 * Patients' answers (`offer-replies`): the first valid YES wins the slot. The claim is one
 * transaction that locks the slot, and the database's unique index on active bookings per slot
 * is what finally guarantees a slot is booked at most once. Every other answer gets the truth:
 * "no longer available", a repeat of the confirmation, or a short help text — never a second
 * booking.
 */
import { Inject, Injectable, Logger, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { JobOutcome, JobPayloads, QueueName, queueFor } from '@app/contracts';
import { AcceptanceDecision, Clock, MatchingPolicy, answerToBareReply, answerToEndedOfferReply, answerToUnclearReply, BARE_REPLY_TO_GONE_SLOT_HOURS, decideAcceptance, localDateIn, NumberOffer, policyForTfc } from '@app/domain';
import { ClaimRequest, OutboxRelay, claimQueues, quietOutboxSql, claimSlot, claimSlots, endWave, inSlotTrace, inSlotTraces, queueSms, SlotForWording, SmsRequest, queueSmsMany, wordingFor, rows, POLICY_IN_FORCE_SQL, PolicyRow, policyFromRow, policyInForce } from '@app/persistence';
import { CLOCK, IcsDirectory, MetricsService, QueueService, errorMessage } from '@app/platform';
import { Job } from 'bullmq';
import { DataSource, EntityManager } from 'typeorm';
import { BookingConfig } from './config';
import { POLICY } from './tokens';

/**
 * The patients a reply speaks for (`uuid[]`, of the reply row `r`). A text is its number's: every
 * patient with that number (siblings on a parent's phone share one), as CONTRACT.md has it — a code
 * names a live offer "of that number", a bare YES / NO acts when "the number holds exactly one live
 * offer" (or answers the offer whose slot just went: answerBare), STOP means no more offers to it. A reply from the offer page names the one patient whose
 * offer its token is. First comes the patient a text to the number is addressed to: one whose
 * number is not marked invalid (a permanent failure is recorded on one patient), then by id, so the
 * choice (and the "no offer" text's daily dedupe key) is stable.
 */
const REPLY_PATIENTS = `CASE WHEN r.mobile IS NOT NULL
       THEN ARRAY(SELECT p.id FROM patient p WHERE p.mobile = r.mobile ORDER BY p.mobile_status = 'valid' DESC, p.id)
       ELSE array_remove(ARRAY[r.patient_id], NULL) END`;

/**
 * `FROM patient_reply r` with the reply's patients (`rp.ids`, REPLY_PATIENTS) and the offer its code
 * names (`o`, LATERAL, with `columns` of it; null without a code, for another intent, or when no
 * offer of those patients has the code). The batch and the lone path read a reply through this
 * one join, so they cannot name different offers. Of the offers with the code, the live one; else
 * the latest (a YES for it is answered "no longer available", or with the confirmation again).
 * Codes are four random digits, unique nowhere (not even per patient), so two patients of one
 * number can hold live offers with the same code: `live_named` counts them, and more than one is
 * ambiguous — answered with the help text, as a code that matches nothing is, since acting on
 * either would be a guess about whose appointment to move.
 */
function replyWithNamedOffer(columns: string, intents: string): string {
  return `patient_reply r
       CROSS JOIN LATERAL (SELECT ${REPLY_PATIENTS} AS ids) rp
       LEFT JOIN LATERAL (
         SELECT ${columns}, (count(*) FILTER (WHERE o.status = 'live') OVER ())::int AS live_named FROM offer o
          WHERE r.intent IN (${intents}) AND r.code IS NOT NULL AND o.patient_id = ANY(rp.ids) AND o.code = r.code
          ORDER BY o.status = 'live' DESC, o.created_at DESC LIMIT 1
       ) o ON true`;
}

interface ReplyRecord {
  id: string;
  /** `sms`, or `web`: a click on the offer page, which its page answered. */
  channel: string;
  /** REPLY_PATIENTS, addressee first. */
  patient_ids: string[];
  intent: string;
  code: string | null;
  processed_at: Date | null;
  /** For a YES / NO with a code: the offer of the reply's patients it names (read with the reply, one round trip). */
  offer_id: string | null;
  offer_slot_id: string | null;
  offer_wave_id: string | null;
  offer_entry_id: string | null;
  offer_patient_id: string | null;
  offer_status: string | null;
  offer_expires_at: Date | null;
  /** How many live offers of the reply's patients carry its code (more than one: ambiguous). */
  live_named: number | null;
}
/** A YES with its code, read (and its reply row locked) in a batch with the committed state of its offer and slot. */
interface BatchedYes {
  id: string;
  intent: string;
  code: string | null;
  processed_at: Date | null;
  offer_id: string | null;
  live_named: number | null;
  offer_status: string | null;
  expires_at: Date | null;
  entry_id: string | null;
  wave_id: string | null;
  offer_patient_id: string | null;
  slot_id: string | null;
  slot_status: string | null;
  start_at: Date | null;
  trust_ods: string | null;
  site_ods: string | null;
  tfc: string | null;
  booking_status: string | null;
  /** For an offer no longer live: OFFER_TEXTS_SQL. */
  offer_text_sent: boolean | null;
  ended_text: string | null;
}
/** A slot and one of its offers, as they stand under both row locks. */
interface LockedOffer { offer_id: string; status: string; expires_at: Date; slot_id: string; slot_status: string; start_at: Date; trace_context: string | null }
interface Waiting { replyId: string; done: (o: JobOutcome) => void; fail: (e: unknown) => void }

/** How a reply decided on its own is written (see `handle`). */
interface LoneOpts { forceTaken?: boolean; quiet?: boolean; wrote?: Set<string> }

/**
 * Longest a waiting batch (`decideBatch` with `waitForSlots`) waits for a slot's lock before its
 * replies go one by one (its replies' own locks, taken first, are those its first batch just let
 * go, so it waits on them only for a second delivery being decided elsewhere). A claim holds its
 * slot for milliseconds; a second is far past that.
 */
export const WAIT_BATCH_LOCK_MS = 1000;

interface OfferRecord { id: string; slot_id: string; wave_id: string; entry_id: string; patient_id: string; status: string; expires_at: Date }

/**
 * The dedupe key prefix of the one text that tells a patient their offer ended (`ended-<offer id>`,
 * as claimSlots and endWave write it): "no longer available" is said once per offer.
 */
const ENDED_TEXT_KEY = 'ended-';

/**
 * Of an offer `o` no longer live (null for a live one, at no cost): whether its own text reached
 * Notify, and the status of the text that told its patient it ended (NumberOffer).
 */
const OFFER_TEXTS_SQL = `CASE WHEN o.status <> 'live' THEN EXISTS (SELECT 1 FROM sms_message m WHERE m.offer_id = o.id AND m.kind = 'offer' AND m.status IN ('sent', 'delivered')) END AS offer_text_sent,
       CASE WHEN o.status <> 'live' THEN (SELECT m.status FROM sms_message m WHERE m.dedupe_key = '${ENDED_TEXT_KEY}' || o.id) END AS ended_text`;

/**
 * What a YES that does not claim is answered with, for the batch and the lone path alike: the
 * winner repeating itself hears the confirmation again once the PAS has confirmed (else nothing
 * new), anyone else "no longer available" (once per offer: the dedupe key).
 */
function answerYes(
  decision: Exclude<AcceptanceDecision, { kind: 'claim' }>, ref: { patientId: string; offerId: string; replyId: string }, words: SmsRequest['personalisation'],
): { outcome: 'repeat-yes' | 'too-late'; text?: SmsRequest } {
  if (decision.kind === 'repeat') {
    return {
      outcome: 'repeat-yes',
      text: decision.resendConfirmation ? { patientId: ref.patientId, offerId: ref.offerId, kind: 'confirmed', personalisation: { ...words, previous: '' }, dedupeKey: `confirmed-again-${ref.replyId}` } : undefined,
    };
  }
  return { outcome: 'too-late', text: { patientId: ref.patientId, offerId: ref.offerId, kind: 'taken', personalisation: words, dedupeKey: `${ENDED_TEXT_KEY}${ref.offerId}` } };
}

/**
 * A YES decided on the lone path: its outcome, and `help` when nothing has told the patient what
 * became of the offer (answerToEndedOfferReply): the caller answers it with the help text or the
 * polite answer.
 */
interface YesAnswer { outcome: string; help?: true }

/** An offer no longer live, as answerToEndedOfferReply reads it (a row with OFFER_TEXTS_SQL). */
function endedOffer(r: { offer_id: string | null; offer_status: string | null; offer_text_sent: boolean | null; ended_text: string | null; booking_status: string | null }): NumberOffer {
  return { id: r.offer_id!, status: r.offer_status!, endedAt: null, offerTextSent: r.offer_text_sent === true, endedText: r.ended_text, bookingStatus: r.booking_status };
}

/** The offer a reply's code names, as read with the reply (`replyWithNamedOffer`). */
function namedOffer(r: ReplyRecord): OfferRecord {
  return { id: r.offer_id!, slot_id: r.offer_slot_id!, wave_id: r.offer_wave_id!, entry_id: r.offer_entry_id!, patient_id: r.offer_patient_id!, status: r.offer_status!, expires_at: r.offer_expires_at! };
}

@Injectable()
export class RepliesWorker implements OnApplicationBootstrap {
  private readonly logger = new Logger('replies');

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(POLICY) private readonly policy: MatchingPolicy,
    private readonly ics: IcsDirectory,
    private readonly queues: QueueService,
    private readonly metrics: MetricsService,
    @Optional() private readonly config?: BookingConfig,
    @Optional() private readonly relay?: OutboxRelay,
  ) {}

  onApplicationBootstrap(): void {
    this.queues.worker(
      QueueName.offerReplies,
      (job: Job) => (job.name === 'process-replies' ? this.processMany(job.data as JobPayloads['process-replies']) : this.process(job.data as JobPayloads['process-reply'])),
      { concurrency: this.config?.REPLIES_CONCURRENCY ?? new BookingConfig().REPLIES_CONCURRENCY },
    );
  }

  /**
   * The received texts of one notifier batch (`process-replies`), decided as `process` decides
   * each: they join the batches in their order of arrival, so a slot's simultaneous YES are
   * usually decided together. The job fails if any of its replies failed, once all have settled:
   * its retry skips the replies already decided.
   */
  async processMany({ replyIds }: JobPayloads['process-replies']): Promise<JobOutcome> {
    // All of them wait before a batch is cut, so they go together (up to REPLIES_BATCH_MAX) and
    // the first-received YES of a slot among them wins; one by one, each could start a batch of
    // its own while a writer is free, and those batches race for the slot.
    const pending = replyIds.map((replyId) => this.enqueue(replyId));
    this.pump();
    const settled = await Promise.allSettled(pending);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    const done = settled.filter((s) => s.status === 'fulfilled' && s.value.status === 'done').length;
    return { status: done > 0 ? 'done' : 'skipped', reason: `${done} of ${replyIds.length} repl(ies) decided` };
  }

  /**
   * One reply job. Replies that arrive together are decided together (`decideBatch`): while a
   * batch is in flight the next replies wait and go in the next one, at most REPLIES_WRITERS
   * batches at a time. In a storm most replies are a slot's simultaneous YES, which one at a time
   * would queue on the winner's slot lock, each with its own commit; a batch decides them all in a
   * handful of statements and one commit.
   */
  process({ replyId }: JobPayloads['process-reply']): Promise<JobOutcome> {
    const outcome = this.enqueue(replyId);
    this.pump();
    return outcome;
  }

  private enqueue(replyId: string): Promise<JobOutcome> {
    return new Promise((done, fail) => this.waiting.push({ replyId, done, fail }));
  }

  private waiting: Waiting[] = [];
  private writing = 0;

  private pump(): void {
    const cfg = this.config ?? new BookingConfig();
    while (this.writing < cfg.REPLIES_WRITERS && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, cfg.REPLIES_BATCH_MAX);
      this.writing++;
      void this.runBatch(batch).finally(() => {
        this.writing--;
        this.pump();
      });
    }
  }

  private async runBatch(batch: Waiting[]): Promise<void> {
    const decided = new Map<string, JobOutcome>();
    /** Answers the jobs of the replies decided so far (their outcomes are committed). */
    const settle = (outcomes: Map<string, JobOutcome>) => {
      for (const [id, outcome] of outcomes) decided.set(id, outcome);
      for (const w of batch) if (outcomes.has(w.replyId)) w.done(outcomes.get(w.replyId)!);
    };
    try {
      const lockSkipped: Array<{ replyId: string; slotId: string }> = [];
      settle(await this.decideBatch([...new Set(batch.map((w) => w.replyId))], { lockSkipped }));
      // YES whose slot another transaction held (mostly another batch claiming it: a crowd's YES
      // for one slot, split between batches): one more batch that waits for those locks answers
      // them together once they go, where one transaction each queued behind this writer's
      // REPLIES_WRITERS lone slots (128 of a 200-YES crowd took ~0.7 s that way).
      if (lockSkipped.length > 0) {
        settle(await this.decideBatch(lockSkipped.map((x) => x.replyId), { waitForSlots: [...new Set(lockSkipped.map((x) => x.slotId))] }));
      }
    } catch (e) {
      // Nothing of the failed transaction was written: the replies it held are decided one by one
      // (a lost race, 23505, is answered there as a late YES).
      this.logger.warn(`a batch transaction failed; ${new Set(batch.map((w) => w.replyId)).size - decided.size} repl(ies) are decided one by one (${errorMessage(e)})`);
    }
    // Replies the batch does not decide (STOP, NO, a YES without its code …), or all after a failure.
    const alone = new Map<string, Promise<JobOutcome>>();
    for (const w of batch) {
      if (decided.has(w.replyId)) continue;
      let p = alone.get(w.replyId);
      if (!p) alone.set(w.replyId, (p = this.alone(() => this.processOne(w.replyId))));
      p.then(w.done, w.fail);
    }
    await Promise.allSettled([...alone.values()]);
  }

  private lone = 0;
  private loneWaiting: Array<() => void> = [];

  /** At most REPLIES_WRITERS replies decided alone at once too: the replies path never holds more than twice that many connections. */
  private async alone<T>(fn: () => Promise<T>): Promise<T> {
    if (this.lone >= (this.config ?? new BookingConfig()).REPLIES_WRITERS) await new Promise<void>((r) => this.loneWaiting.push(r));
    else this.lone++;
    try {
      return await fn();
    } finally {
      // Handed straight to the next waiter (which does not count itself again), or freed.
      const next = this.loneWaiting.shift();
      if (next) next();
      else this.lone--;
    }
  }

  /**
   * One reply in its own transaction. As in a batch, with a relay in this process its outbox rows
   * notify nobody (a NOTIFY serialises commits cluster-wide, and a STOP / NO / skipped YES in a
   * storm commits next to the batches): the queues it wrote to are noted as it goes and this
   * process's relay is woken for them after the commit; the relays' sweep covers a crash.
   */
  async processOne(replyId: string): Promise<JobOutcome> {
    const wrote = new Set<string>();
    const quiet = this.relay !== undefined;
    try {
      const outcome = await this.ds.transaction((tx) => this.handle(tx, replyId, { quiet, wrote }));
      this.wakeFor(wrote);
      return outcome;
    } catch (e) {
      // The unique index refused a second active booking for the slot: this YES lost a race that
      // the slot lock should already have settled. Answer it as a late YES.
      if ((e as { code?: string }).code === '23505') {
        wrote.clear();
        const outcome = await this.ds.transaction(async (tx) => this.handle(tx, replyId, { forceTaken: true, quiet, wrote }));
        this.wakeFor(wrote);
        return outcome;
      }
      throw e;
    }
  }

  private wakeFor(wrote: Set<string>): void {
    if (wrote.size > 0) this.relay?.wake([...wrote]);
  }

  /**
   * YES replies with their code, many in one transaction, with the outcome each would have had
   * alone: the first valid YES for a slot claims it, every other gets "no longer available" (once),
   * a repeat YES of the winner a repeat of the confirmation once the PAS has confirmed.
   * - The replies, their offers and slots are read in one statement (reply rows locked, in order of arrival: `received_at, id`).
   * - A YES whose outcome the committed state already decides (its offer no longer live, its slot
   *   booked) is answered without taking the slot's lock: neither ever becomes live again. Nothing
   *   new when the patient was told (answerToEndedOfferReply: the "no longer available" went or is
   *   queued, the booking is pending); left to `processOne` (the help text or polite answer) when
   *   nothing told them.
   * - The others lock their slots and offers in one statement (slot id order, each slot before its
   *   offers: the lock order everywhere), and are decided on what the locks show; of several YES
   *   for one slot the first claims, and the others were superseded (and texted) by that claim.
   *   An offer that ended between the read and its lock (another transaction's claim, decline,
   *   undeliverable text or wave's end committed) has its reply read again, and is answered as
   *   above from what that commit left.
   *   A slot another transaction holds is skipped (SKIP LOCKED; its YES is added to
   *   `opts.lockSkipped` and left undecided): whichever locks a slot first claims it either way,
   *   and the batch does not wait for that transaction's commit (two batches sharing a slot's YES
   *   used to queue whole). `runBatch` gives those to a second batch with `opts.waitForSlots`,
   *   which first waits for their replies' and then those slots' locks (and keeps them), so it
   *   reads the offers as the holder left them: after a claim, its losers are answered from that
   *   committed state without locking their offers.
   * - All claims in one statement (`claimSlots`), all texts in one (`queueSmsMany`), all replies
   *   marked in one. Outbox rows notify nobody: this process's relay is woken after the commit.
   * Returns the outcome of each reply it decided; the rest are left to `processOne`.
   */
  async decideBatch(replyIds: string[], opts: { waitForSlots?: string[]; lockSkipped?: Array<{ replyId: string; slotId: string }> } = {}): Promise<Map<string, JobOutcome>> {
    const quiet = this.relay !== undefined;
    const queues = new Set<string>();
    const result = await this.ds.transaction(async (tx) => {
      const decided = new Map<string, JobOutcome>();
      if (opts.waitForSlots?.length) {
        // The lock order everywhere: the replies (in the order the read below takes them), then
        // slots in id order, each before its offers.
        await tx.query(`SELECT id FROM patient_reply WHERE id = ANY($1::uuid[]) ORDER BY received_at, id FOR UPDATE`, [replyIds]);
        // One statement locks every slot, so a slot held long would hold up the others' YES too:
        // past WAIT_BATCH_LOCK_MS on any lock the batch fails (55P03) and its replies are decided
        // one by one, each waiting for its own slot only. (Set for this transaction only.)
        await tx.query(`SELECT set_config('lock_timeout', $1, true)`, [`${WAIT_BATCH_LOCK_MS}ms`]);
        await tx.query(`SELECT id FROM slot WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`, [opts.waitForSlots]);
      }
      // Read again, by the same statement, for a YES whose offer ended between this read and its
      // lock (below): the reply rows are this transaction's already, so it waits for nothing.
      const readReplies = (ids: string[]): Promise<BatchedYes[]> => tx.query(
        `SELECT r.id, r.intent, r.code, r.processed_at, o.id AS offer_id, o.live_named, o.status AS offer_status, o.expires_at, o.entry_id, o.wave_id,
                o.patient_id AS offer_patient_id, s.id AS slot_id, s.status AS slot_status, s.start_at, s.trust_ods, s.site_ods, s.tfc, b.status AS booking_status,
                ${OFFER_TEXTS_SQL}
           FROM ${replyWithNamedOffer('o.id, o.slot_id, o.status, o.expires_at, o.entry_id, o.wave_id, o.patient_id', `'yes'`)}
           LEFT JOIN slot s ON s.id = o.slot_id
           LEFT JOIN LATERAL (SELECT status FROM booking WHERE offer_id = o.id AND o.status = 'accepted' ORDER BY created_at DESC LIMIT 1) b ON true
          WHERE r.id = ANY($1::uuid[]) ORDER BY r.received_at, r.id FOR UPDATE OF r`,
        [ids],
      );
      const replies = await readReplies(replyIds);
      const now = this.clock.now();
      // The notice a YES is judged by is the recorded policy's (the dashboard may have changed it).
      const policy = await policyInForce(tx, this.policy);
      const outcomes: Array<{ reply: BatchedYes; outcome: string }> = [];
      const texts: Parameters<typeof queueSmsMany>[1] = [];
      /** Its offer no longer live, or its slot booked: neither ever becomes live again, so the committed state decides it. */
      const decidedByCommitted = (r: BatchedYes) => r.offer_status !== 'live' || r.slot_status === 'booked';
      /** The answer to such a YES, from the committed state it was read with; or left to processOne. */
      const answerCommitted = (r: BatchedYes): void => {
        if (r.offer_status === 'accepted' && !r.booking_status) return; // accepted without a booking read: processOne
        if (r.offer_status !== 'live') {
          const answer = answerToEndedOfferReply({ intent: 'yes', named: true, offer: endedOffer(r) });
          // Nothing told the patient what became of it: the help text or the polite answer, which processOne writes.
          if (answer.kind === 'help') return;
          if (answer.kind === 'told') {
            outcomes.push({ reply: r, outcome: answer.outcome });
            return;
          }
        }
        outcomes.push({ reply: r, outcome: this.answer(r, { status: r.offer_status!, expires_at: r.expires_at!, slot_status: r.slot_status!, start_at: r.start_at! }, r.booking_status, now, policy, texts) });
      };
      // In order of arrival (the replies are read by received_at): the first YES for a slot wins it.
      const toLock: BatchedYes[] = [];
      for (const id of replyIds) if (!replies.some((r) => r.id === id)) decided.set(id, { status: 'skipped', reason: 'no such reply' });
      for (const r of replies) {
        if (r.processed_at) decided.set(r.id, { status: 'skipped', reason: 'already processed' });
        else if (!r.offer_id || r.live_named! > 1) continue; // not a YES naming one offer of its number: processOne
        else if (decidedByCommitted(r)) answerCommitted(r);
        else toLock.push(r);
      }

      const claims: Array<ClaimRequest & { traceContext: string | null }> = [];
      /** YES whose offer was live when read but had ended by the time it was locked: reply id → that offer's id. */
      const endedMeanwhile = new Map<string, string>();
      if (toLock.length > 0) {
        const locked: LockedOffer[] = await tx.query(
          `SELECT o.id AS offer_id, o.status, o.expires_at, s.id AS slot_id, s.status AS slot_status, s.start_at, s.trace_context
             FROM slot s JOIN offer o ON o.slot_id = s.id
            WHERE o.id = ANY($1::uuid[]) ORDER BY s.id, o.id FOR UPDATE OF s SKIP LOCKED FOR UPDATE OF o`,
          [[...new Set(toLock.map((r) => r.offer_id!))]],
        );
        const byOffer = new Map(locked.map((l) => [l.offer_id, l]));
        /** Slot id → the offer this batch claims it for. */
        const claimed = new Map<string, string>();
        // Only a held slot is skipped; an offer whose slot this batch holds is waited for. A
        // claim holds the slot, so what holds only an offer is brief (a row naming it being
        // written: its foreign key's KEY SHARE lock); skipping that offer's row would hand the
        // slot to a later YES of this batch for another of its offers.
        for (const r of toLock) {
          const l = byOffer.get(r.offer_id!);
          const winner = l && claimed.get(l.slot_id);
          // The slot went to an earlier YES of this batch: a repeat of that same offer says nothing
          // new yet (the booking is pending); another live offer was superseded and sent "no
          // longer available" by the claim.
          if (winner === r.offer_id || (winner && l?.status === 'live')) {
            outcomes.push({ reply: r, outcome: winner === r.offer_id ? 'repeat-yes' : 'too-late' });
            continue;
          }
          // Locked by another transaction (SKIP LOCKED: another batch that holds one of the slot's
          // YES, or a claim in flight): left for the caller's second batch, which waits for that
          // lock rather than holding up every reply of this one behind it. Ended meanwhile (by a
          // claim, a decline, an undeliverable text or a wave's end that committed since the read;
          // mostly another process's batch claiming the slot): read again below, for what its
          // patient was told.
          if (!l) {
            opts.lockSkipped?.push({ replyId: r.id, slotId: r.slot_id! });
            continue;
          }
          if (l.status !== 'live') {
            endedMeanwhile.set(r.id, l.offer_id);
            continue;
          }
          const outcome = this.answer(r, l, null, now, policy, texts);
          if (outcome === 'claim') {
            claimed.set(l.slot_id, r.offer_id!);
            claims.push({
              slotId: l.slot_id, offerId: r.offer_id!, entryId: r.entry_id!, patientId: r.offer_patient_id!, waveId: r.wave_id!,
              owningTrustOds: r.trust_ods!, takenWording: wordingFor(this.ics, r as SlotForWording), traceContext: l.trace_context,
            });
            outcomes.push({ reply: r, outcome: 'claimed' });
          } else outcomes.push({ reply: r, outcome });
        }
      }

      // Answered as if read after that commit: one statement, not a transaction each. Its own
      // statement, with a snapshot taken now: the offer's lock only shows an ended version once
      // what ended it has committed, with the texts it wrote in the same transaction (the lock
      // statement's own subqueries would read an older snapshot). A reply whose code now names
      // another offer (two offers of the number share it), or that this read does not settle, is
      // left to processOne. None of these offers is live, so this batch's claims below touch none.
      if (endedMeanwhile.size > 0) {
        for (const r of await readReplies([...endedMeanwhile.keys()])) {
          if (!r.processed_at && r.offer_id === endedMeanwhile.get(r.id) && !(r.live_named! > 1) && decidedByCommitted(r)) answerCommitted(r);
        }
      }

      if (claims.length > 0) {
        await inSlotTraces('booking accept', claims.map((c) => ({ key: c.offerId, slotId: c.slotId, traceContext: c.traceContext })), async (traceparents) => {
          const bookings = await claimSlots(tx, claims, { quiet, traceparents });
          for (const c of claims) this.logger.log(`slot ${c.slotId} claimed by booking ${bookings.get(c.offerId)}`);
        });
        for (const q of claimQueues(claims)) queues.add(q);
      }
      if (texts.length > 0 && (await queueSmsMany(tx, texts, { quiet })) > 0) queues.add(queueFor('send-sms'));
      if (outcomes.length > 0) {
        // clock_timestamp(): the moment of the decision (see `handle`).
        await tx.query(
          `UPDATE patient_reply r SET processed_at = clock_timestamp(), outcome = u.outcome FROM unnest($1::uuid[], $2::text[]) AS u(id, outcome) WHERE r.id = u.id`,
          [outcomes.map((o) => o.reply.id), outcomes.map((o) => o.outcome)],
        );
      }
      for (const { reply, outcome } of outcomes) decided.set(reply.id, { status: 'done', reason: outcome });
      return { decided, outcomes };
    });
    if (queues.size > 0) this.relay?.wake([...queues]);
    for (const { reply, outcome } of result.outcomes) {
      this.metrics.counter('patient_replies_total', 'Patient replies by intent and outcome', ['intent', 'outcome']).inc({ intent: reply.intent, outcome });
    }
    return result.decided;
  }

  /**
   * The outcome of a YES on these facts (decideAcceptance): `claim` for the caller to make, or the
   * answer, with its text added to `texts`.
   */
  private answer(
    r: BatchedYes, facts: { status: string; expires_at: Date; slot_status: string; start_at: Date }, bookingStatus: string | null, now: Date,
    policy: MatchingPolicy, texts: Parameters<typeof queueSmsMany>[1],
  ): 'claim' | string {
    const decision = decideAcceptance(
      { offer: { status: facts.status, expiresAt: new Date(facts.expires_at) }, slot: { status: facts.slot_status, start: new Date(facts.start_at) }, booking: bookingStatus ? { status: bookingStatus } : undefined },
      now, policyForTfc(policy, r.tfc ?? ''),
    );
    if (decision.kind === 'claim') return 'claim';
    const { outcome, text } = answerYes(decision, { patientId: r.offer_patient_id!, offerId: r.offer_id!, replyId: r.id }, wordingFor(this.ics, r as SlotForWording));
    if (text) texts.push(text);
    return outcome;
  }

  /** An offer that cannot reach its patient ends now, so the wave can move on without waiting for expiry. */
  async undeliverable({ offerId }: JobPayloads['offer-undeliverable']): Promise<JobOutcome> {
    return this.ds.transaction(async (tx) => {
      const [offer]: OfferRecord[] = await tx.query(`SELECT id, slot_id, wave_id, entry_id, patient_id, status, expires_at FROM offer WHERE id = $1`, [offerId]);
      if (!offer) return { status: 'skipped', reason: 'no such offer' };
      if (offer.status !== 'live') return { status: 'skipped', reason: `offer is ${offer.status}` };
      await this.decline(tx, offer, 'undeliverable');
      return { status: 'done' };
    });
  }

  /**
   * `quiet`: the transaction's outbox rows notify nobody (set by its first statement, no extra round
   * trip); the queues they go to are added to `wrote` for the caller's wake-up.
   */
  private async handle(tx: EntityManager, replyId: string, opts: LoneOpts): Promise<JobOutcome> {
    const [reply]: ReplyRecord[] = await tx.query(
      `SELECT r.id, r.channel, rp.ids::text[] AS patient_ids, r.intent, r.code, r.processed_at, o.live_named,
              o.id AS offer_id, o.slot_id AS offer_slot_id, o.wave_id AS offer_wave_id, o.entry_id AS offer_entry_id,
              o.patient_id AS offer_patient_id, o.status AS offer_status, o.expires_at AS offer_expires_at${opts.quiet ? `, ${quietOutboxSql} AS quiet` : ''}
         FROM ${replyWithNamedOffer('o.id, o.slot_id, o.wave_id, o.entry_id, o.patient_id, o.status, o.expires_at', `'yes', 'no'`)}
        WHERE r.id = $1 FOR UPDATE OF r`,
      [replyId],
    );
    if (!reply) return { status: 'skipped', reason: 'no such reply' };
    if (reply.processed_at) return { status: 'skipped', reason: 'already processed' };
    const outcome = reply.patient_ids.length > 0 ? await this.act(tx, reply, reply.patient_ids, opts) : 'unknown-number';
    // clock_timestamp(), not now(): the moment of the decision, not the start of a transaction that
    // may have waited on the slot's lock (the reply → outcome time is read from it).
    await tx.query(`UPDATE patient_reply SET processed_at = clock_timestamp(), outcome = $2 WHERE id = $1`, [replyId, outcome]);
    this.metrics.counter('patient_replies_total', 'Patient replies by intent and outcome', ['intent', 'outcome']).inc({ intent: reply.intent, outcome });
    return { status: 'done', reason: outcome };
  }

  /**
   * `patientIds`: every patient the reply speaks for (REPLY_PATIENTS), the one its texts go to
   * first. STOP and START are the number's: they apply to each of them, answered by one text.
   */
  private async act(tx: EntityManager, reply: ReplyRecord, patientIds: string[], opts: LoneOpts): Promise<string> {
    const { wrote } = opts;
    const [addressee] = patientIds;
    switch (reply.intent) {
      case 'stop': {
        await tx.query(`UPDATE patient SET sms_stopped = true, updated_at = now() WHERE id = ANY($1::uuid[])`, [patientIds]);
        for (const o of await this.liveOffers(tx, patientIds)) await this.decline(tx, o, 'declined', wrote);
        if (await queueSms(tx, { patientId: addressee, kind: 'stopped', personalisation: {}, dedupeKey: `stopped-${reply.id}` })) wrote?.add(queueFor('send-sms'));
        return 'stopped';
      }
      case 'start': {
        await tx.query(`UPDATE patient SET sms_stopped = false, updated_at = now() WHERE id = ANY($1::uuid[])`, [patientIds]);
        if (await queueSms(tx, { patientId: addressee, kind: 'started', personalisation: {}, dedupeKey: `started-${reply.id}` })) wrote?.add(queueFor('send-sms'));
        return 'started';
      }
      case 'yes':
      case 'no': {
        if (!reply.code) return this.answerBare(tx, reply, patientIds, opts);
        // A code that names no offer of the number, or two live ones.
        if (!reply.offer_id || reply.live_named! > 1) return this.helpOrNothing(tx, patientIds, wrote);
        if (reply.intent === 'yes') {
          // The storm's case goes straight to the claim: the offer is re-read there under the slot's lock.
          const { outcome, help } = await this.accept(tx, { id: reply.offer_id, slotId: reply.offer_slot_id! }, reply.id, opts.forceTaken === true, wrote);
          return help ? this.answerUntold(tx, reply, patientIds, outcome, wrote) : outcome;
        }
        const offer = namedOffer(reply);
        if (offer.status === 'live' && (await this.decline(tx, offer, 'declined', wrote))) return 'declined';
        // Ended before it was read, or since (a claim or the wave's end committed before the
        // decline's slot lock): answered on what is committed now, never recorded as a decline.
        const [ended] = await this.offersRead(tx, `o.id = $1`, [offer.id]);
        const answer = answerToEndedOfferReply({ intent: 'no', named: true, offer: ended });
        return answer.kind === 'help' ? this.answerUntold(tx, reply, patientIds, 'decline-of-ended-offer', wrote) : 'decline-of-ended-offer';
      }
      default:
        return this.helpOrNothing(tx, patientIds, wrote);
    }
  }

  /**
   * A bare YES / NO (answerToBareReply): the number's one live offer is answered as a reply with its
   * code is; with none live, a YES is read against the number's offer that ended last: nothing new
   * when the patient has just been told "no longer available" (or their booking's outcome is on its
   * way), else the confirmation again, or the polite answer; a NO gets nothing new while the
   * number's booking is pending, else the polite answer. Whatever it is, the reply gets one answer
   * unless `told`:
   * - a NO whose live offer ended between the read here and the decline's slot lock (a claim
   *   committed, the wave expired) declined nothing: it is answered again on what is committed now
   *   (`reread`; a second such loss, which needs a new offer made and ended meanwhile, gets the
   *   polite answer rather than a third look);
   * - a YES is decided again under the slot's lock as the YES with the code is (`claim`): one whose
   *   "no longer available" was written meanwhile by a reply that answered the same offer (its
   *   dedupe key: two bare YES of one number decided side by side) was told: nothing new, never
   *   "no open offer" on top of it; one the claim finds nothing told of (the offer changed since it
   *   was read) gets the polite answer.
   */
  private async answerBare(tx: EntityManager, reply: ReplyRecord, patientIds: string[], opts: LoneOpts, reread = false): Promise<string> {
    const { wrote } = opts;
    const offers = await this.numberOffers(tx, patientIds);
    const answer = answerToBareReply(
      { intent: reply.intent === 'no' ? 'no' : 'yes', live: offers.filter((o) => o.status === 'live'), ended: offers.filter((o) => o.status !== 'live') },
      this.clock.now(),
    );
    if (answer.kind === 'help') return this.helpOrNothing(tx, patientIds, wrote);
    if (answer.kind === 'told') return answer.outcome;
    const offer = offers.find((o) => o.id === answer.offerId)!.record;
    if (reply.intent === 'no') {
      if (await this.decline(tx, offer, 'declined', wrote)) return 'declined';
      return reread ? this.helpOrNothing(tx, patientIds, wrote) : this.answerBare(tx, reply, patientIds, opts, true);
    }
    const { outcome, help } = await this.accept(tx, { id: offer.id, slotId: offer.slot_id }, reply.id, opts.forceTaken === true, wrote);
    return help ? this.helpOrNothing(tx, patientIds, wrote) : outcome;
  }

  /**
   * A YES / NO naming an offer that ended, whose patient nothing has told what became of it
   * (answerToEndedOfferReply): a text gets the help text or the polite answer (helpOrNothing); a
   * click on the offer page was answered by its page, and gets no text for it (`outcome`).
   */
  private answerUntold(tx: EntityManager, reply: ReplyRecord, patientIds: string[], outcome: string, wrote?: Set<string>): Promise<string> {
    return reply.channel === 'web' ? Promise.resolve(outcome) : this.helpOrNothing(tx, patientIds, wrote);
  }

  /**
   * The number's live offers and those that ended within BARE_REPLY_TO_GONE_SLOT_HOURS, with what a
   * bare reply needs of each: whether its own text went, the state of the text that told its
   * patient it ended, and its booking's status.
   */
  private numberOffers(tx: EntityManager, patientIds: string[]): Promise<Array<NumberOffer & { record: OfferRecord }>> {
    return this.offersRead(tx, `o.patient_id = ANY($1::uuid[]) AND (o.status = 'live' OR o.ended_at > $2)`, [
      patientIds, new Date(this.clock.now().getTime() - BARE_REPLY_TO_GONE_SLOT_HOURS * 3_600_000),
    ]);
  }

  /** Offers (`where`, of offer `o`) with what an answer to a reply needs of each (NumberOffer), in slot id order. */
  private async offersRead(tx: EntityManager, where: string, params: unknown[]): Promise<Array<NumberOffer & { record: OfferRecord }>> {
    const found: Array<OfferRecord & { ended_at: Date | null; offer_text_sent: boolean | null; ended_text: string | null; booking_status: string | null }> = await tx.query(
      `SELECT o.id, o.slot_id, o.wave_id, o.entry_id, o.patient_id, o.status, o.expires_at, o.ended_at, ${OFFER_TEXTS_SQL},
              (SELECT b.status FROM booking b WHERE b.offer_id = o.id ORDER BY b.created_at DESC LIMIT 1) AS booking_status
         FROM offer o
        WHERE ${where}
        ORDER BY o.slot_id, o.id`,
      params,
    );
    return found.map(({ ended_at, offer_text_sent, ended_text, booking_status, ...record }) => ({
      ...endedOffer({ offer_id: record.id, offer_status: record.status, offer_text_sent, ended_text, booking_status }), endedAt: ended_at && new Date(ended_at), record,
    }));
  }

  /** In slot id order: ending several takes their slots' locks in the order every other path does. */
  private liveOffers(tx: EntityManager, patientIds: string[]): Promise<OfferRecord[]> {
    return tx.query(
      `SELECT id, slot_id, wave_id, entry_id, patient_id, status, expires_at FROM offer WHERE patient_id = ANY($1::uuid[]) AND status = 'live' ORDER BY slot_id, id`,
      [patientIds],
    );
  }

  /** The claim joins the slot's own trace (the reply arrived without one). */
  private accept(tx: EntityManager, offerRef: { id: string; slotId: string }, replyId: string, forceTaken: boolean, wrote?: Set<string>): Promise<YesAnswer> {
    return inSlotTrace(tx, offerRef.slotId, 'booking accept', () => this.claim(tx, offerRef, replyId, forceTaken, wrote));
  }

  /**
   * Three round trips for a live offer: the slot and the offer locked (with the booking the offer
   * may already have earned) in one statement, then either the claim (one statement: claimSlot) or
   * the answer. For one that had ended, one more reads what its patient was told of that
   * (answerToEndedOfferReply): nothing new, the answer, or `help` for the caller to write.
   */
  private async claim(tx: EntityManager, offerRef: { id: string; slotId: string }, replyId: string, forceTaken: boolean, wrote?: Set<string>): Promise<YesAnswer> {
    const now = this.clock.now();
    // Lock order everywhere: slot, then offer (the slot comes first in FROM, so its row mark is
    // taken first). The slot lock serialises every YES for one slot.
    const [row]: Array<OfferRecord & { trust_ods: string; site_ods: string; tfc: string; start_at: Date; slot_status: string; booking_id: string | null; booking_status: string | null; policy_row: PolicyRow }> = await tx.query(
      `SELECT s.trust_ods, s.site_ods, s.tfc, s.start_at, s.status AS slot_status, ${POLICY_IN_FORCE_SQL} AS policy_row,
              o.id, o.slot_id, o.wave_id, o.entry_id, o.patient_id, o.status, o.expires_at, b.id AS booking_id, b.status AS booking_status
         FROM slot s JOIN offer o ON o.slot_id = s.id
         LEFT JOIN LATERAL (SELECT id, status FROM booking WHERE offer_id = o.id AND o.status = 'accepted' ORDER BY created_at DESC LIMIT 1) b ON true
        WHERE o.id = $1 AND s.id = $2 FOR UPDATE OF s, o`,
      [offerRef.id, offerRef.slotId],
    );
    const offer = row;
    const slot = { id: row.slot_id, trust_ods: row.trust_ods, site_ods: row.site_ods, tfc: row.tfc, start_at: row.start_at, status: row.slot_status };
    const words = wordingFor(this.ics, slot);
    const previous = offer.booking_id ? { id: offer.booking_id, status: offer.booking_status! } : undefined;
    const decision = decideAcceptance(
      { offer: { status: offer.status, expiresAt: new Date(offer.expires_at) }, slot: { status: slot.status, start: new Date(slot.start_at) }, booking: previous, lostRace: forceTaken },
      now, policyFromRow(row.policy_row, this.policy, slot.tfc),
    );
    if (decision.kind !== 'claim') {
      const { outcome, text } = answerYes(decision, { patientId: offer.patient_id, offerId: offer.id, replyId }, words);
      if (offer.status !== 'live') {
        // Read under the lock, so whatever ended the offer has committed its text.
        const [ended] = await this.offersRead(tx, `o.id = $1`, [offer.id]);
        const answer = answerToEndedOfferReply({ intent: 'yes', named: true, offer: ended });
        if (answer.kind === 'help') return { outcome, help: true };
        if (answer.kind === 'told') return { outcome: answer.outcome };
      }
      // A dedupe key already taken (a reply decided beside this one wrote the same "no longer available") writes nothing twice.
      if (text !== undefined && (await queueSms(tx, text))) wrote?.add(queueFor('send-sms'));
      return { outcome };
    }
    const bookingId = await claimSlot(tx, {
      slotId: slot.id, offerId: offer.id, entryId: offer.entry_id, patientId: offer.patient_id, waveId: offer.wave_id,
      owningTrustOds: slot.trust_ods, takenWording: words,
    });
    for (const q of claimQueues([{ owningTrustOds: slot.trust_ods }])) wrote?.add(q);
    this.logger.log(`slot ${slot.id} claimed by booking ${bookingId}`);
    return { outcome: 'claimed' };
  }

  /**
   * Ends a live offer under its slot's lock. False when it was no longer live by then (a claim
   * committed or its wave ended since the caller read it): nothing was declined.
   */
  private async decline(tx: EntityManager, offer: OfferRecord, status: 'declined' | 'undeliverable', wrote?: Set<string>): Promise<boolean> {
    await tx.query(`SELECT id FROM slot WHERE id = $1 FOR UPDATE`, [offer.slot_id]);
    const changed = await rows(tx,`UPDATE offer SET status = $2, responded_at = now(), ended_at = now() WHERE id = $1 AND status = 'live' RETURNING id`, [offer.id, status]);
    if (changed.length === 0) return false;
    // When nobody in the wave can still say yes, the next wave goes out now rather than at expiry.
    const stillLive = await tx.query(`SELECT 1 FROM offer WHERE wave_id = $1 AND status = 'live' LIMIT 1`, [offer.wave_id]);
    if (stillLive.length === 0 && (await endWave(tx, this.ics, offer.wave_id, 'every offer declined or undeliverable', { rematch: true }))) {
      // Its lapsed offers' texts (if any) and the next round's match job.
      wrote?.add(queueFor('send-sms')).add(queueFor('match-slot'));
    }
    return true;
  }

  /** One help text per live offer, one polite "no open offer" a day: never a loop (answerToUnclearReply). */
  /** The number's live offers count, whichever of its patients holds them; the text goes to its addressee. */
  private async helpOrNothing(tx: EntityManager, patientIds: string[], wrote?: Set<string>): Promise<string> {
    const live = await this.liveOffers(tx, patientIds);
    const now = this.clock.now();
    const [patientId] = patientIds;
    const answer = answerToUnclearReply({ patientId, liveOfferIds: live.map((o) => o.id), today: localDateIn(now, this.ics.timeZone) });
    const queued = await queueSms(tx, { patientId, kind: answer.kind, personalisation: {}, dedupeKey: answer.dedupeKey });
    if (!queued) return 'help-suppressed';
    wrote?.add(queueFor('send-sms'));
    await tx.query(`UPDATE patient SET help_sent_at = $2 WHERE id = ANY($1::uuid[])`, [patientIds, now]);
    return answer.kind === 'help' ? 'help' : 'no-offer';
  }
}
