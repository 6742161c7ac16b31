/**
 * The matching engine's jobs on `slot-matching`: offer a slot to the next wave of the best
 * eligible patients ICS-wide, end waves that ran out of time, close slots at their cut-off.
 * Every handler locks the slot row, re-reads it and skips work that is done or moot, so a job
 * delivered twice (or raced by another worker) does nothing the second time.
 */
import { Inject, Injectable, Logger, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { JobOutcome, JobPayloads, QueueName, closeSlotSuffix, jobId, queueFor } from '@app/contracts';
import {
  BatchSlot, BatchWave, Candidate, Clock, FreedSlot, MS_PER_MINUTE, MatchingPolicy, RankedCandidate, effectiveWaveSize, generateOfferCode,
  noCandidateRetryAt, noticeCutoff, planBatchWaves, planMatch, PostcodeCentroids, rankCandidates, selectWave, waveExpiry,
} from '@app/domain';
import {
  OutboxJob, POLICY_IN_FORCE_SQL, PolicyRow, endWave, enqueue, outboxInsertSql, outboxManySql, outboxManyValues, outboxTraceparent, outboxValues, pgClientOf,
  policyFromRow, policyInForce, wordingFor,
} from '@app/persistence';
import { CLOCK, IcsDirectory, MetricsService, QueueService } from '@app/platform';
import { DelayedError, Job } from 'bullmq';
import { randomBytes, randomInt } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { CandidateKey, CandidateRow, readCandidatePages } from './candidate-query';
import { ExchangeConfig } from './config';
import { POLICY } from './tokens';
import { TravelDistances } from './travel-distance';

interface SlotRecord {
  id: string; trust_ods: string; site_ods: string; tfc: string; appointment_type: 'NEW' | 'FUP'; start_at: Date;
  duration_minutes: number; constraints: FreedSlot['constraints'] | null; status: string; match_round: number; cutoff_at: Date;
}

/** Rows per index page: a wave and its spares, plus room for the few rows the domain rejects after SQL (unavailable dates, travel). */
export const CANDIDATE_WINDOW = 16;
/** At most this many pages per wave (500 rows): a bounded walk, never a scan. */
const MAX_CANDIDATE_PAGES = 10;
/** Eligible patients gathered beyond the wave size, for those another slot's wave takes meanwhile. */
const SPARE_CANDIDATES = 5;
/** How often one wave looks for more candidates after concurrent waves took its spares. */
const MAX_REFETCHES = 3;
/** BullMQ's largest priority. */
const MAX_PRIORITY = 2_097_152;
/** First waves made together for one specialty: at most this many slots in one transaction. */
export const BATCH_MAX_SLOTS = 32;
/**
 * Rows per index page of a batch's walk. A batch of BATCH_MAX_SLOTS usually reads 150–250 rows:
 * in 16-row pages that was ten round trips, each one waiting for both Node and Postgres to get a
 * core when the machine is busy (a burst), so most of a batch's time. The plan stays the index
 * walk whatever the LIMIT (`CANDIDATE_PLANNER_SETTINGS`; candidate-plan.int-spec checks this size).
 */
export const BATCH_WINDOW = 64;
/** At most this many pages per batch (1,024 rows): still a bounded walk. */
const MAX_BATCH_PAGES = 16;
/**
 * A first-wave job whose specialty is being batched by another job waits this long for the lock
 * (a batch of BATCH_MAX_SLOTS takes well under it), then usually finds its slot done and skips,
 * or makes the next batch itself at once. Waiting holds a connection but nothing a batch needs.
 */
export const BUSY_WAIT_MS = 2_000;
/** A job that waited BUSY_WAIT_MS in vain (a stuck batch) looks again this much later, without holding a worker. */
export const BUSY_RETRY_MS = 100;
/** Batches of first waves one job goes on to make after its own (see `continueFirstWaves`). */
export const MAX_CONTINUED_BATCHES = 8;
/**
 * A `close-slot` that runs less than this before the cut-off in force closes the slot all the same:
 * BullMQ starts a delayed job by Redis's clock, which may be a little ahead of this process's.
 */
export const CLOSE_SLOT_EARLY_MS = 5_000;
/** First key of the specialty's advisory lock (the second is `hashtext('<tfc>/<type>')`): "first waves". */
export const FIRST_WAVE_LOCK = 0x5157;
const NIL_UUID = '00000000-0000-0000-0000-000000000000';

interface Specialty { tfc: string; appointmentType: 'NEW' | 'FUP' }

interface OfferRow {
  slot_id: string; wave_id: string; expires_at: Date; priority: number;
  entry_id: string; patient_id: string; rank: number; explanation: object; code: string; token: string; personalisation: Record<string, string>;
}

@Injectable()
export class MatchingWorker implements OnApplicationBootstrap {
  private readonly logger = new Logger('matching');

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(POLICY) private readonly policy: MatchingPolicy,
    private readonly ics: IcsDirectory,
    private readonly queues: QueueService,
    private readonly metrics: MetricsService,
    private readonly config: ExchangeConfig,
    @Optional() private readonly distances: TravelDistances = new TravelDistances(new PostcodeCentroids(), ics),
  ) {}

  onApplicationBootstrap(): void {
    this.queues.worker(QueueName.slotMatching, (job: Job, token?: string) => this.process(job, token));
  }

  async process(job: Job, token?: string): Promise<JobOutcome> {
    switch (job.name) {
      case 'match-slot': {
        const outcome = await this.match(job.data as JobPayloads['match-slot']);
        // Another job held the specialty's first waves for longer than BUSY_WAIT_MS: come back
        // shortly (same job id) rather than hold a worker and a connection any longer. Without a
        // BullMQ token (a direct caller) the job must still not complete as if its slot were done:
        // it fails, and BullMQ's retries (or the caller) try again.
        if (outcome.status === 'retry') {
          if (!token) throw new Error(`match-slot not done: ${outcome.reason}`);
          await job.moveToDelayed(Date.now() + BUSY_RETRY_MS, token);
          throw new DelayedError();
        }
        return outcome;
      }
      case 'expire-wave': return this.expireWave(job.data as JobPayloads['expire-wave']);
      case 'close-slot': {
        const outcome = await this.closeSlot(job.data as JobPayloads['close-slot'], job.id);
        // This very job, ordered for the cut-off in force, started early by this process's clock:
        // it waits for its time (ordering its own id again would be a no-op while it runs).
        if (outcome.retryAt) {
          if (!token) throw new Error(`close-slot not done: ${outcome.reason}`);
          await job.moveToDelayed(outcome.retryAt.getTime(), token);
          throw new DelayedError();
        }
        return outcome;
      }
      default: throw new Error(`no handler for ${job.name} on ${QueueName.slotMatching}`);
    }
  }

  /** The policy in force for one specialty: the newest recorded version (else the configured one) with its TFC overrides. */
  async policyFor(tx: Pick<EntityManager, 'query'>, tfc: string): Promise<MatchingPolicy> {
    return policyInForce(tx, this.policy, tfc);
  }

  async match({ slotId, round }: JobPayloads['match-slot']): Promise<JobOutcome> {
    const outcome = await this.matchOnce(slotId, round);
    // A job that made a batch of first waves goes on with the specialty's next batch while slots
    // of it still wait (a burst arrives over seconds): otherwise each batch waited for a job of
    // that specialty to reach the front of a queue full of jobs whose slots a batch already took.
    if (outcome.batch) await this.continueFirstWaves(outcome.batch);
    this.metrics.counter('matching_jobs_total', 'Match jobs by outcome', ['outcome']).inc({ outcome: outcome.status });
    return { status: outcome.status, reason: outcome.reason };
  }

  private async matchOnce(slotId: string, round: number): Promise<JobOutcome & { batch?: Specialty }> {
    const now = this.clock.now();
    // In a burst most first-wave jobs find their slot already in a batch: one statement, outside
    // any transaction, says so (a slot's round only grows and a closed slot stays closed).
    if (round === 1) {
      const [seen] = (await this.ds.query(
        `SELECT match_round >= 1 OR status NOT IN ('open', 'offering') AS done FROM slot WHERE id = $1`,
        [slotId],
      )) as Array<{ done: boolean }>;
      if (seen?.done) return { status: 'skipped', reason: 'round 1 already matched, or the slot is closed' };
    }
    return this.ds.transaction(async (tx): Promise<JobOutcome & { batch?: Specialty }> => {
      // First waves are made per specialty by one job at a time (`firstWaves`): its lock comes
      // before any slot row's, so a job that finds it taken holds nothing a batch would wait for.
      if (round === 1) {
        const turn = await this.firstWaveTurn(tx, slotId);
        if (turn === 'busy') return { status: 'retry', reason: 'first waves of this specialty are being made' };
        // Most first-wave jobs of a burst find their slot batched by another job: done, with no
        // row lock taken (a slot's round only grows, and a closed slot stays closed).
        if (turn === 'done') return { status: 'skipped', reason: 'round 1 already matched, or the slot is closed' };
      }
      const slot = await this.lockSlotForMatch(tx, slotId);
      if (!slot || !['open', 'offering'].includes(slot.status)) return { status: 'skipped', reason: `slot is ${slot?.status ?? 'missing'}` };
      if (slot.match_round >= round) return { status: 'skipped', reason: `round ${round} already matched` };
      if (slot.has_live_wave) return { status: 'skipped', reason: 'a wave is still live' };
      // The newest recorded version (else the configured one) with its TFC overrides, as `policyFor`.
      const policy = policyFromRow(slot.policy_row, this.policy, slot.tfc);
      // The decision itself is the domain's (shared with the outcome simulator); this does the I/O.
      const step = planMatch(slot.start_at, now, policy);
      if (step.kind === 'close') {
        const cutOff = step.reason === 'cut-off';
        await this.close(tx, slot, cutOff ? 'cut-off reached before anyone accepted' : 'quiet hours last until the cut-off');
        return { status: 'done', reason: cutOff ? 'closed at cut-off' : 'closed: quiet hours until cut-off' };
      }
      // In quiet hours the patients are chosen when the texts can go, not the night before: whoever
      // is best placed at 08:00 gets the offer, and nobody is held by an offer they cannot see.
      if (step.kind === 'defer') {
        await enqueue(tx, 'match-slot', { slotId, round }, { runAt: step.until, jobIdSuffix: `at-${step.until.getTime()}` });
        return { status: 'done', reason: 'quiet hours: matched when they end' };
      }
      if (round === 1) return this.firstWaves(tx, slot, policy, now, step.sendAt);
      return this.offerAndSchedule(tx, slot, policy, round, now, step.sendAt);
    });
  }

  /**
   * The specialty's next batches of first waves, each in its own transaction, for as long as
   * slots of it wait (at most MAX_CONTINUED_BATCHES, so one job stays short). Stops as soon as
   * another job holds the specialty's lock (it makes the batch) or no slot waits; a waiting slot
   * whose step is not "offer now" (quiet hours, cut-off) is left to its own job. Each batch is
   * exactly what that slot's own job would have made, so a failure here loses nothing: the slots'
   * own jobs are still queued.
   */
  private async continueFirstWaves(specialty: Specialty): Promise<void> {
    try {
      for (let i = 0; i < MAX_CONTINUED_BATCHES; i++) {
        const more = await this.ds.transaction(async (tx) => {
          const now = this.clock.now();
          const [lock] = (await tx.query(`SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS free`, [FIRST_WAVE_LOCK, `${specialty.tfc}/${specialty.appointmentType}`])) as Array<{ free: boolean }>;
          if (!lock.free) return false;
          const [next] = (await tx.query(
            `SELECT * FROM slot WHERE status = 'open' AND cutoff_at > $1 AND tfc = $2 AND appointment_type = $3 AND match_round = 0
              ORDER BY cutoff_at, id LIMIT 1 FOR UPDATE SKIP LOCKED`,
            [now, specialty.tfc, specialty.appointmentType],
          )) as SlotRecord[];
          if (!next) return false;
          const policy = await this.policyFor(tx, next.tfc);
          const step = planMatch(new Date(next.start_at), now, policy);
          if (step.kind !== 'offer') return false;
          const made = await this.firstWaves(tx, next, policy, now, step.sendAt);
          return made.batch !== undefined;
        });
        if (!more) return;
      }
    } catch (e) {
      // The job's own slot is done and committed; the slots left wait for their own jobs.
      this.logger.warn(`next batch of first waves for ${specialty.tfc}/${specialty.appointmentType} not made: ${(e as Error).message}`);
    }
  }

  /** One slot's wave (`offerWave`), then its new round and state and the job that follows, in one statement. */
  private async offerAndSchedule(tx: EntityManager, slot: SlotRecord, policy: MatchingPolicy, round: number, now: Date, sendAt: Date): Promise<JobOutcome> {
    const slotId = slot.id;
    const wave = await this.offerWave(tx, slot, policy, round, now, sendAt);
    // The slot's new round and state, and the job that follows (the wave's expiry, or a later
    // look when nobody was eligible), in one statement.
    const next = wave
      ? outboxValues('expire-wave', { waveId: wave.waveId }, { runAt: wave.expiresAt })
      : (() => {
          const retryAt = noCandidateRetryAt(slot.start_at, now, policy);
          return retryAt ? outboxValues('match-slot', { slotId, round: round + 1 }, { runAt: retryAt }) : null;
        })();
    const update = `UPDATE slot SET match_round = $2, status = $3 WHERE id = $1`;
    const params = [slotId, round, wave ? 'offering' : 'open'];
    if (next) await tx.query(`WITH updated AS (${update}) ${outboxInsertSql(4)}`, [...params, ...next]);
    else await tx.query(update, params);
    return { status: 'done', reason: wave ? `offered to ${wave.offered}` : 'no eligible patient yet' };
  }

  /**
   * Whether this first-wave job may go on: its slot needs no first wave any more, or this
   * transaction holds the specialty's first-wave lock. While another job's batch holds the lock
   * this waits for it (up to BUSY_WAIT_MS) rather than re-queueing with a fixed delay, which every
   * job that missed paid in full, more of them the more workers ran. It waits on the lock in share
   * mode inside a savepoint that is then rolled back: every waiter wakes when the batch commits,
   * at once rather than one after another, and holds nothing afterwards. Then it looks again: its
   * slot is usually done (the locked read that follows skips it), or one of the waiters takes the
   * lock and makes the next batch straight away. A waiter holds no row lock, so no batch waits on
   * one. `done` when the slot needs no first wave; `busy` when the wait ran out (a stuck batch):
   * the caller re-queues.
   */
  private async firstWaveTurn(tx: EntityManager, slotId: string): Promise<'done' | 'mine' | 'busy'> {
    const deadline = Date.now() + BUSY_WAIT_MS;
    for (;;) {
      const [k] = (await tx.query(
        `SELECT x.done, CASE WHEN x.done THEN true ELSE pg_try_advisory_xact_lock($2, hashtext(x.specialty)) END AS free, x.specialty
           FROM (SELECT s.match_round >= 1 OR s.status NOT IN ('open', 'offering') AS done, s.tfc || '/' || s.appointment_type AS specialty
                   FROM slot s WHERE s.id = $1 OFFSET 0) x`,
        [slotId, FIRST_WAVE_LOCK],
      )) as Array<{ done: boolean; free: boolean; specialty: string }>;
      // A missing slot is the locked read's to report.
      if (!k) return 'mine';
      if (k.done) return 'done';
      if (k.free) return 'mine';
      const left = deadline - Date.now();
      if (left <= 0) return 'busy';
      await tx.query(`SAVEPOINT first_wave_wait`);
      let ended = true;
      try {
        // lock_timeout is set for this wait only: the rollback below restores it.
        await tx.query(`SELECT set_config('lock_timeout', $1, true)`, [`${left}ms`]);
        await tx.query(`SELECT pg_advisory_xact_lock_shared($1, hashtext($2))`, [FIRST_WAVE_LOCK, k.specialty]);
      } catch (e) {
        if ((e as { code?: string }).code !== '55P03') throw e;
        ended = false;
      }
      await tx.query(`ROLLBACK TO SAVEPOINT first_wave_wait`);
      if (!ended) return 'busy';
    }
  }

  /**
   * Creates one wave in the caller's transaction (its expiry is the caller's to enqueue); returns
   * it, or null when nobody could be offered the slot. Each batch of patients is one statement:
   * their offers, offer SMS and the SMS jobs' outbox rows.
   */
  private async offerWave(
    tx: EntityManager, slot: SlotRecord, policy: MatchingPolicy, round: number, now: Date, sendAt: Date,
  ): Promise<{ waveId: string; offered: number; expiresAt: Date } | null> {
    const freed = toFreedSlot(slot);
    const size = effectiveWaveSize(policy);
    const expiresAt = waveExpiry(sendAt, freed.start, policy);
    let ranked = await this.rankedCandidates(tx, freed, policy, now, size + SPARE_CANDIDATES);
    if (ranked.length === 0) return null;
    const priority = smsPriority(freed, policy, now);
    const [wave] = await tx.query(
      `INSERT INTO offer_wave (slot_id, round, status, policy_version, send_at, expires_at) VALUES ($1, $2, 'live', $3, $4, $5) RETURNING id`,
      [slot.id, round, policy.version, sendAt, expiresAt],
    );
    let offered = 0;
    // Patients already offered in this wave, or refused by the one-live-offer index (another
    // slot's wave took them first, concurrently): either way, move down the list.
    const passedOver = new Set<string>();
    let refetches = 0;
    for (;;) {
      let next = selectWave(ranked, size - offered, passedOver);
      // Concurrent waves for the same specialty took the spares: look again (each statement sees
      // what they committed), a bounded number of times.
      if (next.length === 0 && refetches < MAX_REFETCHES && passedOver.size > offered) {
        refetches++;
        ranked = await this.rankedCandidates(tx, freed, policy, now, size + SPARE_CANDIDATES + passedOver.size);
        next = selectWave(ranked, size - offered, passedOver);
      }
      if (next.length === 0) break;
      for (const { candidate } of next) passedOver.add(candidate.patientId);
      offered += (await this.insertOffers(tx, policy.version, sendAt, this.offerRows(slot, wave.id, expiresAt, priority, policy.version, next))).length;
      if (offered >= size) break;
    }
    if (offered === 0) {
      await tx.query(`DELETE FROM offer_wave WHERE id = $1`, [wave.id]);
      return null;
    }
    this.metrics.counter('offers_created_total', 'Offers made', ['trust']).inc({ trust: slot.trust_ods }, offered);
    return { waveId: wave.id, offered, expiresAt };
  }

  /**
   * The first waves of every slot of this one's specialty that waits for its first wave (up to
   * `BATCH_MAX_SLOTS`, nearest cut-off first), made together under the specialty's lock: one walk
   * of the ranking index shared out by `planBatchWaves`, the waves and their offers in a few
   * statements. Each slot ends as its own match job would have left it (round 1, offering or
   * open with a later look), so that job finds its work done.
   */
  private async firstWaves(tx: EntityManager, own: SlotRecord, policy: MatchingPolicy, now: Date, sendAt: Date): Promise<JobOutcome & { batch?: Specialty }> {
    const size = effectiveWaveSize(policy);
    // Slots another transaction holds (a withdrawal, their own job) are left to their own jobs.
    const others = (await tx.query(
      `SELECT * FROM slot WHERE status = 'open' AND cutoff_at > $1 AND tfc = $2 AND appointment_type = $3 AND match_round = 0 AND id <> $4
        ORDER BY cutoff_at, id LIMIT $5 FOR UPDATE SKIP LOCKED`,
      [now, own.tfc, own.appointment_type, own.id, BATCH_MAX_SLOTS - 1],
    )) as SlotRecord[];
    // Same specialty, same policy; a slot whose step is not "offer now" is left to its own job.
    const records = [own, ...others.filter((o) => planMatch(new Date(o.start_at), now, policy).kind === 'offer')];
    // Alone (the steady case): the lone slot's own walk, its SQL narrowed to its trust, site and clinic.
    if (records.length === 1) return this.offerAndSchedule(tx, own, policy, 1, now, sendAt);
    const byId = new Map(records.map((r) => [r.id, r]));
    const slots: BatchSlot[] = records.map((r) => ({ slot: toFreedSlot(r), size }));
    const { plan, rows } = await this.planFirstWaves(tx, slots, policy, now);
    const made = new Map<string, { waveId: string; offered: Set<string> }>();
    // Waves only for slots with someone to offer; the rest look again later, as a lone job would.
    const withWaves = plan.filter((w) => w.wave.length > 0);
    if (withWaves.length > 0) {
      const waves = (await tx.query(
        `INSERT INTO offer_wave (slot_id, round, status, policy_version, send_at, expires_at)
         SELECT slot_id, 1, 'live', $2, $3, expires_at FROM jsonb_to_recordset($1::jsonb) AS x(slot_id uuid, expires_at timestamptz)
         RETURNING id, slot_id`,
        [JSON.stringify(withWaves.map((w) => ({ slot_id: w.slot.slotId, expires_at: waveExpiry(sendAt, w.slot.start, policy) }))), policy.version, sendAt],
      )) as Array<{ id: string; slot_id: string }>;
      for (const w of waves) made.set(w.slot_id, { waveId: w.id, offered: new Set() });
    }
    // A patient refused by the one-live-offer index or locked by a concurrent wave (a later round,
    // another specialty) is passed over: the short waves are planned again without them.
    const passedOver = new Set<string>();
    let todo: BatchWave[] = withWaves;
    for (let pass = 0; todo.length > 0 && pass <= MAX_REFETCHES; pass++) {
      const batch = todo.flatMap((w) => {
        const r = byId.get(w.slot.slotId)!;
        const m = made.get(w.slot.slotId)!;
        for (const c of w.wave) passedOver.add(c.candidate.patientId);
        return this.offerRows(r, m.waveId, waveExpiry(sendAt, w.slot.start, policy), smsPriority(w.slot, policy, now), policy.version, w.wave);
      });
      const accepted = await this.insertOffers(tx, policy.version, sendAt, batch);
      for (const a of accepted) made.get(a.slot_id)!.offered.add(a.patient_id);
      if (accepted.length === batch.length) break;
      const taken = new Set([...made.values()].flatMap((m) => [...m.offered]));
      const refused = new Set([...passedOver].filter((p) => !taken.has(p)));
      const short = withWaves
        .map((w) => ({ slot: w.slot, size: size - made.get(w.slot.slotId)!.offered.size }))
        .filter((s) => s.size > 0);
      todo = planBatchWaves(short, rows, this.batchContext(rows, policy, now), new Set([...taken, ...refused])).filter((w) => w.wave.length > 0);
    }
    // Each slot's round, state and next job: its wave's expiry, or a later look when nobody was offered.
    const jobs: OutboxJob[] = [];
    const ids: string[] = [];
    const states: string[] = [];
    const empty: string[] = [];
    for (const r of records) {
      const m = made.get(r.id);
      const offered = m?.offered.size ?? 0;
      if (m && offered === 0) empty.push(m.waveId);
      ids.push(r.id);
      states.push(offered > 0 ? 'offering' : 'open');
      if (m && offered > 0) {
        jobs.push({ name: 'expire-wave', payload: { waveId: m.waveId }, opts: { runAt: waveExpiry(sendAt, new Date(r.start_at), policy) } });
        this.metrics.counter('offers_created_total', 'Offers made', ['trust']).inc({ trust: r.trust_ods }, offered);
      } else {
        const retryAt = noCandidateRetryAt(new Date(r.start_at), now, policy);
        if (retryAt) jobs.push({ name: 'match-slot', payload: { slotId: r.id, round: 2 }, opts: { runAt: retryAt } });
      }
    }
    // Waves nobody could be offered go, the slots move on and their jobs are written: one round trip.
    await tx.query(
      `WITH dropped AS (DELETE FROM offer_wave WHERE id = ANY ($1::uuid[])),
            moved AS (UPDATE slot s SET match_round = 1, status = x.status FROM unnest($2::uuid[], $3::text[]) AS x(id, status) WHERE s.id = x.id)
       ${outboxManySql(4)}`,
      [empty, ids, states, ...outboxManyValues(jobs)],
    );
    const mine = made.get(own.id)?.offered.size ?? 0;
    const batchNote = records.length > 1 ? ` (first waves for ${records.length} slots of the specialty)` : '';
    return {
      status: 'done', reason: (mine > 0 ? `offered to ${mine}` : 'no eligible patient yet') + batchNote,
      // Slots of the specialty may have arrived meanwhile, or not fitted: the caller goes on with them.
      batch: records.length > 1 ? { tfc: own.tfc, appointmentType: own.appointment_type } : undefined,
    };
  }

  /**
   * One walk of the ranking index for every trust and site of the batch, page by page until
   * every slot's wave is full or the walk ends, and the plan it gives.
   */
  private async planFirstWaves(tx: EntityManager, slots: BatchSlot[], policy: MatchingPolicy, now: Date): Promise<{ plan: BatchWave[]; rows: CandidateRow[] }> {
    const freed = slots.map((s) => s.slot);
    const earliest = freed.reduce((a, b) => (b.start.getTime() < a.start.getTime() ? b : a));
    // The SQL narrows by what every slot shares; clinic constraints, sites and dates are the domain's, per slot.
    const probe: FreedSlot = { ...earliest, slotId: NIL_UUID, constraints: undefined };
    const batch = { trusts: [...new Set(freed.map((s) => s.trustOds))], sites: [...new Set(freed.map((s) => s.siteOds))] };
    const distanceKnowable = freed.some((s) => this.distances.knowable(s.siteOds));
    return readCandidatePages(pgClientOf(tx), async (readPage) => {
      const rows: CandidateRow[] = [];
      let plan: BatchWave[] = [];
      let after: CandidateKey | null = null;
      // Planned once there are rows enough for every wave, then again each time the rows grow by
      // half: a plan walks the list once per slot, so not after every page.
      let planAt = slots.reduce((n, s) => n + s.size, 0);
      for (let page = 0; page < MAX_BATCH_PAGES; page++) {
        const pageRows = await readPage({ slot: probe, policy, distanceKnowable, window: BATCH_WINDOW, after, batch });
        rows.push(...pageRows);
        const last = pageRows.length < BATCH_WINDOW || page === MAX_BATCH_PAGES - 1;
        if (rows.length < planAt && !last) {
          after = pageRows[pageRows.length - 1].key;
          continue;
        }
        plan = planBatchWaves(slots, rows, this.batchContext(rows, policy, now));
        if (!plan.some((w) => w.short) || last) break;
        planAt = Math.ceil(rows.length * 1.5);
        after = pageRows[pageRows.length - 1].key;
      }
      return { plan, rows };
    });
  }

  private batchContext(rows: CandidateRow[], policy: MatchingPolicy, now: Date) {
    const postcodes = new Map(rows.map((r) => [r.entryId, r.postcode]));
    return {
      now, policy,
      distanceKmFor: (c: Candidate, slot: FreedSlot) =>
        (this.distances.knowable(slot.siteOds) ? this.distances.km(postcodes.get(c.entryId) ?? null, slot.siteOds) : null),
    };
  }

  /** The offer rows of one wave: each with its code, page token, explanation and SMS wording. */
  private offerRows(slot: SlotRecord, waveId: string, expiresAt: Date, priority: number, policyVersion: number, wave: RankedCandidate[]): OfferRow[] {
    const words = wordingFor(this.ics, slot);
    const ends = wordingFor(this.ics, { ...slot, start_at: expiresAt });
    const linkBase = `${this.config.OFFER_PAGE_BASE_URL.replace(/\/$/, '')}/o/`;
    return wave.map(({ candidate, explanation }) => {
      const code = generateOfferCode(() => randomInt(0, 1 << 30) / (1 << 30));
      const token = randomBytes(24).toString('base64url');
      return {
        slot_id: slot.id, wave_id: waveId, expires_at: expiresAt, priority,
        entry_id: candidate.entryId, patient_id: candidate.patientId, rank: explanation.rank,
        explanation: { ...explanation, policyVersion }, code, token,
        personalisation: { ...words, code, expires: `${ends.time} on ${ends.date}`, link: `${linkBase}${token}` },
      };
    });
  }

  /**
   * One statement: the offers (a patient refused by the one-live-offer index, or already offered
   * this slot, is skipped), an offer SMS for each offer made (`queueSms`'s row, de-duplicated by
   * `offer-<offer id>`) and each SMS's `send-sms` outbox row (`enqueue`'s row, same job id and
   * payload). Each patient's row is locked first, skipping any that a concurrent wave holds: that
   * wave may be offering them, so this one moves down its list instead of waiting on the
   * one-live-offer index (waits that deadlocked when two waves took overlapping patients in two
   * batches each). The rows may belong to several slots' waves. Returns the offers made.
   */
  private async insertOffers(tx: EntityManager, policyVersion: number, sendAt: Date, batch: OfferRow[]): Promise<Array<{ slot_id: string; patient_id: string }>> {
    if (batch.length === 0) return [];
    const traceparent = outboxTraceparent();
    return (await tx.query(
      `WITH input AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb)
           AS x(slot_id uuid, wave_id uuid, expires_at timestamptz, priority int,
                entry_id uuid, patient_id uuid, rank int, explanation jsonb, code text, token text, personalisation jsonb)
       ), free AS (
         SELECT id FROM patient WHERE id IN (SELECT patient_id FROM input) ORDER BY id FOR NO KEY UPDATE SKIP LOCKED
       ), made AS (
         INSERT INTO offer (slot_id, wave_id, entry_id, patient_id, rank, explanation, policy_version, code, token, status, expires_at)
         SELECT slot_id, wave_id, entry_id, patient_id, rank, explanation, $2, code, token, 'live', expires_at FROM input WHERE patient_id IN (SELECT id FROM free)
         ON CONFLICT DO NOTHING RETURNING id, slot_id, entry_id, patient_id
       ), sms AS (
         INSERT INTO sms_message (patient_id, offer_id, kind, personalisation, dedupe_key, status, priority)
         SELECT made.patient_id, made.id, 'offer', input.personalisation, 'offer-' || made.id, 'queued', input.priority
           FROM made JOIN input ON input.entry_id = made.entry_id AND input.slot_id = made.slot_id
         ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, offer_id
       ), jobs AS (
         INSERT INTO outbox (queue, job_name, job_id, payload, run_at, priority)
         SELECT $3, 'send-sms', $4 || sms.id, jsonb_build_object('smsId', sms.id) || CASE WHEN $5::text IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('traceparent', $5::text) END, $6, input.priority
           FROM sms JOIN made ON made.id = sms.offer_id JOIN input ON input.entry_id = made.entry_id AND input.slot_id = made.slot_id
       )
       SELECT slot_id, patient_id FROM made`,
      [JSON.stringify(batch), policyVersion, queueFor('send-sms'), jobId('send-sms', { smsId: '' }), traceparent, sendAt],
    )) as Array<{ slot_id: string; patient_id: string }>;
  }

  /**
   * The eligible candidates, best first, each with its explanation: index pages in ranking order
   * (`readCandidatePages`), every row judged by the domain rules, until `wanted` are found or the
   * bounded walk ends.
   */
  async rankedCandidates(tx: EntityManager, slot: FreedSlot, policy: MatchingPolicy, now: Date, wanted: number): Promise<RankedCandidate[]> {
    const distanceKnowable = this.distances.knowable(slot.siteOds);
    return readCandidatePages(pgClientOf(tx), async (readPage) => {
      const rows: CandidateRow[] = [];
      let eligible: RankedCandidate[] = [];
      let after: CandidateKey | null = null;
      for (let page = 0; page < MAX_CANDIDATE_PAGES; page++) {
        const pageRows = await readPage({ slot, policy, distanceKnowable, window: CANDIDATE_WINDOW, after });
        rows.push(...pageRows);
        const postcodes = new Map(rows.map((r) => [r.entryId, r.postcode]));
        eligible = rankCandidates(rows, slot, {
          now, policy,
          distanceKmFor: (c) => (distanceKnowable ? this.distances.km(postcodes.get(c.entryId) ?? null, slot.siteOds) : null),
        });
        if (eligible.length >= wanted || pageRows.length < CANDIDATE_WINDOW) break;
        after = pageRows[pageRows.length - 1].key;
      }
      return eligible;
    });
  }

  async expireWave({ waveId }: JobPayloads['expire-wave']): Promise<JobOutcome> {
    return this.ds.transaction(async (tx) => {
      const [wave] = await tx.query(`SELECT slot_id FROM offer_wave WHERE id = $1`, [waveId]);
      if (!wave) return { status: 'skipped', reason: 'no such wave' };
      await this.lockSlot(tx, wave.slot_id);
      const ended = await endWave(tx, this.ics, waveId, 'time-to-live reached', { rematch: true });
      return ended ? { status: 'done' } : { status: 'skipped', reason: 'wave already ended' };
    });
  }

  /**
   * At the slot's cut-off as recorded when this job was ordered (`cutoff_at`: the notice in force
   * at its release), the notice in force now decides (`policyInForce`, read with the slot's lock):
   * - its cut-off reached (the same notice; or lengthened, so passed by now): closed unfilled, as
   *   matching closes a slot past its cut-off (`planMatch`; a match job or wave expiry after the
   *   new, earlier cut-off has usually closed it before this job comes);
   * - shortened since, so its cut-off is later and not reached yet: the slot stays offered until
   *   then (one chance more to fill it). Its `cutoff_at` moves to that time (what the matching
   *   sweep, its overdue gauge and the first-wave batches read) and this job is ordered again for
   *   it, under an id naming the time, in the same transaction. A second delivery of the superseded
   *   job orders that same id again (a no-op), rather than closing the slot early. A slot kept open
   *   with no live wave (its waves spent, or nobody eligible, too near the old cut-off for a later
   *   look) has no job left to offer it again: its next match is ordered too (`orderNextMatch`),
   *   rather than waiting up to a sweep's pass and grace for the matching sweep to find it idle.
   */
  /**
   * One round trip: the slot locked, whether a wave of it is live (read in the statement's
   * snapshot, taken before any wait for the lock: a wave committed meanwhile is seen by the
   * callers' own later checks), and the policy in force.
   */
  private async lockSlotForMatch(tx: EntityManager, slotId: string): Promise<(SlotRecord & { has_live_wave: boolean; policy_row: PolicyRow }) | undefined> {
    const [slot] = (await tx.query(
      `SELECT s.*, EXISTS (SELECT 1 FROM offer_wave w WHERE w.slot_id = s.id AND w.status = 'live') AS has_live_wave,
              ${POLICY_IN_FORCE_SQL} AS policy_row
         FROM slot s WHERE s.id = $1 FOR UPDATE OF s`,
      [slotId],
    )) as Array<SlotRecord & { has_live_wave: boolean; policy_row: PolicyRow }>;
    return slot;
  }

  /** `self`: the running job's id, when BullMQ runs it (see the early case below). */
  async closeSlot({ slotId }: JobPayloads['close-slot'], self?: string): Promise<JobOutcome & { retryAt?: Date }> {
    return this.ds.transaction(async (tx) => {
      const slot = await this.lockSlotForMatch(tx, slotId);
      if (!slot || !['open', 'offering'].includes(slot.status)) return { status: 'skipped', reason: `slot is ${slot?.status ?? 'missing'}` };
      const policy = policyFromRow(slot.policy_row, this.policy, slot.tfc);
      const cutoff = noticeCutoff(new Date(slot.start_at), policy);
      // A delayed job may start a moment before its time by this process's clock.
      if (this.clock.now().getTime() < cutoff.getTime() - CLOSE_SLOT_EARLY_MS) {
        const suffix = closeSlotSuffix(cutoff);
        // The job ordered for this cut-off is this one, started early (BullMQ's clock is Redis's,
        // more than CLOSE_SLOT_EARLY_MS ahead of ours): it waits until then itself.
        if (self === `${jobId('close-slot', { slotId })}-${suffix}`) {
          return { status: 'retry', reason: `started before its cut-off ${cutoff.toISOString()} by this process's clock`, retryAt: cutoff };
        }
        if (cutoff.getTime() !== new Date(slot.cutoff_at).getTime()) await tx.query(`UPDATE slot SET cutoff_at = $2 WHERE id = $1`, [slot.id, cutoff]);
        await enqueue(tx, 'close-slot', { slotId }, { runAt: cutoff, jobIdSuffix: suffix });
        if (!slot.has_live_wave) await this.orderNextMatch(tx, slot, cutoff);
        return { status: 'done', reason: `cut-off not reached under the ${policy.minNoticeHours}-hour notice in force: closes at ${cutoff.toISOString()}` };
      }
      await this.close(tx, slot, 'cut-off reached before anyone accepted');
      return { status: 'done' };
    });
  }

  /**
   * The next round's match of a slot `closeSlot` keeps open for a later cut-off, unless one is on
   * its way: an outbox row for that round (under any id: a later look, the end of quiet hours) not
   * yet published or not yet due, as the matching sweep reads them. A row published and due whose
   * round has not moved on ran and was skipped, failed for good or was lost; BullMQ may still hold
   * that job (finished ids are kept), and would ignore an add of its id: so this match has its own
   * id, one per slot, round and cut-off, and a second delivery of the same close-slot finds it. A
   * match that races another for the round is skipped by its handler (it re-reads the round).
   */
  private async orderNextMatch(tx: EntityManager, slot: SlotRecord, cutoff: Date): Promise<void> {
    const round = slot.match_round + 1;
    const [coming] = await tx.query(
      `SELECT 1 FROM outbox WHERE queue = $1 AND job_name = 'match-slot' AND payload->>'slotId' = $2 AND (payload->>'round')::int = $3
          AND (published_at IS NULL OR run_at > $4) LIMIT 1`,
      [QueueName.slotMatching, slot.id, round, this.clock.now()],
    );
    if (!coming) await enqueue(tx, 'match-slot', { slotId: slot.id, round }, { jobIdSuffix: closeSlotSuffix(cutoff) });
  }

  private async close(tx: EntityManager, slot: SlotRecord, reason: string): Promise<void> {
    const waves: Array<{ id: string }> = await tx.query(`SELECT id FROM offer_wave WHERE slot_id = $1 AND status = 'live'`, [slot.id]);
    for (const w of waves) await endWave(tx, this.ics, w.id, 'slot closed at cut-off', { rematch: false });
    await tx.query(`UPDATE slot SET status = 'unfilled', closed_reason = $2, closed_at = now() WHERE id = $1`, [slot.id, reason]);
    this.metrics.counter('slots_closed_total', 'Slots closed unfilled', ['trust']).inc({ trust: slot.trust_ods });
  }

  private async lockSlot(tx: EntityManager, slotId: string): Promise<SlotRecord | undefined> {
    const rows = await tx.query(`SELECT * FROM slot WHERE id = $1 FOR UPDATE`, [slotId]);
    return rows[0];
  }
}

/** When the SMS rate limit binds, the offers of slots nearest their cut-off are sent first. */
function smsPriority(slot: FreedSlot, policy: MatchingPolicy, now: Date): number {
  const minutesToCutoff = Math.ceil((noticeCutoff(slot.start, policy).getTime() - now.getTime()) / MS_PER_MINUTE);
  return Math.min(MAX_PRIORITY, Math.max(1, minutesToCutoff));
}

function toFreedSlot(slot: SlotRecord): FreedSlot {
  return {
    slotId: slot.id, trustOds: slot.trust_ods, siteOds: slot.site_ods, tfc: slot.tfc, appointmentType: slot.appointment_type,
    start: new Date(slot.start_at), durationMinutes: slot.duration_minutes, constraints: slot.constraints ?? undefined,
  };
}
