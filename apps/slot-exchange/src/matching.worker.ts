/**
 * The matching engine's jobs on `slot-matching`: offer a slot to the next wave of the best
 * eligible patients ICS-wide, end waves that ran out of time, close slots at their cut-off.
 * Every handler locks the slot row, re-reads it and skips work that is done or moot, so a job
 * delivered twice (or raced by another worker) does nothing the second time.
 */
import { Inject, Injectable, Logger, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { JobOutcome, JobPayloads, QueueName, jobId, queueFor } from '@app/contracts';
import {
  Clock, FreedSlot, MS_PER_MINUTE, MatchingPolicy, RankedCandidate, effectiveWaveSize, generateOfferCode,
  noCandidateRetryAt, noticeCutoff, planMatch, policyForTfc, PostcodeCentroids, rankCandidates, selectWave, waveExpiry,
} from '@app/domain';
import { currentPolicy, endWave, enqueue, outboxInsertSql, outboxTraceparent, outboxValues, pgClientOf, wordingFor } from '@app/persistence';
import { CLOCK, IcsDirectory, MetricsService, QueueService } from '@app/platform';
import { Job } from 'bullmq';
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
    this.queues.worker(QueueName.slotMatching, (job: Job) => this.process(job));
  }

  async process(job: Job): Promise<JobOutcome> {
    switch (job.name) {
      case 'match-slot': return this.match(job.data as JobPayloads['match-slot']);
      case 'expire-wave': return this.expireWave(job.data as JobPayloads['expire-wave']);
      case 'close-slot': return this.closeSlot(job.data as JobPayloads['close-slot']);
      default: throw new Error(`no handler for ${job.name} on ${QueueName.slotMatching}`);
    }
  }

  /** The policy in force for one specialty: the newest recorded version (else the configured one) with its TFC overrides. */
  async policyFor(tx: Pick<EntityManager, 'query'>, tfc: string): Promise<MatchingPolicy> {
    const recorded = await currentPolicy(tx);
    return policyForTfc(recorded?.policy ?? this.policy, tfc);
  }

  async match({ slotId, round }: JobPayloads['match-slot']): Promise<JobOutcome> {
    const now = this.clock.now();
    const outcome = await this.ds.transaction(async (tx): Promise<JobOutcome> => {
      // One round trip: the slot locked, whether a wave of it is live, and the policy in force.
      const [slot] = (await tx.query(
        `SELECT s.*, EXISTS (SELECT 1 FROM offer_wave w WHERE w.slot_id = s.id AND w.status = 'live') AS has_live_wave,
                (SELECT to_jsonb(p) FROM (SELECT version, settings FROM matching_policy ORDER BY version DESC LIMIT 1) p) AS policy_row
           FROM slot s WHERE s.id = $1 FOR UPDATE OF s`,
        [slotId],
      )) as Array<SlotRecord & { has_live_wave: boolean; policy_row: { version: number; settings: Omit<MatchingPolicy, 'version'> } | null }>;
      if (!slot || !['open', 'offering'].includes(slot.status)) return { status: 'skipped', reason: `slot is ${slot?.status ?? 'missing'}` };
      if (slot.match_round >= round) return { status: 'skipped', reason: `round ${round} already matched` };
      if (slot.has_live_wave) return { status: 'skipped', reason: 'a wave is still live' };
      // The newest recorded version (else the configured one) with its TFC overrides, as `policyFor`.
      const recorded = slot.policy_row ? { ...slot.policy_row.settings, version: slot.policy_row.version } : this.policy;
      const policy = policyForTfc(recorded, slot.tfc);
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
      const wave = await this.offerWave(tx, slot, policy, round, now, step.sendAt);
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
    });
    this.metrics.counter('matching_jobs_total', 'Match jobs by outcome', ['outcome']).inc({ outcome: outcome.status });
    return outcome;
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
    const words = wordingFor(this.ics, slot);
    const ends = wordingFor(this.ics, { ...slot, start_at: expiresAt });
    const linkBase = `${this.config.OFFER_PAGE_BASE_URL.replace(/\/$/, '')}/o/`;
    // When the SMS rate limit binds, the offers of slots nearest their cut-off are sent first.
    const minutesToCutoff = Math.ceil((noticeCutoff(freed.start, policy).getTime() - now.getTime()) / MS_PER_MINUTE);
    const priority = Math.min(MAX_PRIORITY, Math.max(1, minutesToCutoff));
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
      const batch = next.map(({ candidate, explanation }) => {
        passedOver.add(candidate.patientId);
        const code = generateOfferCode(() => randomInt(0, 1 << 30) / (1 << 30));
        const token = randomBytes(24).toString('base64url');
        return {
          entry_id: candidate.entryId, patient_id: candidate.patientId, rank: explanation.rank,
          explanation: { ...explanation, policyVersion: policy.version }, code, token,
          personalisation: { ...words, code, expires: `${ends.time} on ${ends.date}`, link: `${linkBase}${token}` },
        };
      });
      offered += await this.insertOffers(tx, slot.id, wave.id, policy.version, expiresAt, sendAt, priority, batch);
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
   * One statement: the offers (a patient refused by the one-live-offer index, or already offered
   * this slot, is skipped), an offer SMS for each offer made (`queueSms`'s row, de-duplicated by
   * `offer-<offer id>`) and each SMS's `send-sms` outbox row (`enqueue`'s row, same job id and
   * payload). Each patient's row is locked first, skipping any that a concurrent wave holds: that
   * wave may be offering them, so this one moves down its list instead of waiting on the
   * one-live-offer index (waits that deadlocked when two waves took overlapping patients in two
   * batches each). Returns how many offers were made.
   */
  private async insertOffers(
    tx: EntityManager, slotId: string, waveId: string, policyVersion: number, expiresAt: Date, sendAt: Date, priority: number,
    batch: Array<{ entry_id: string; patient_id: string; rank: number; explanation: object; code: string; token: string; personalisation: Record<string, string> }>,
  ): Promise<number> {
    const traceparent = outboxTraceparent();
    const made = (await tx.query(
      `WITH input AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb)
           AS x(entry_id uuid, patient_id uuid, rank int, explanation jsonb, code text, token text, personalisation jsonb)
       ), free AS (
         SELECT id FROM patient WHERE id IN (SELECT patient_id FROM input) ORDER BY id FOR NO KEY UPDATE SKIP LOCKED
       ), made AS (
         INSERT INTO offer (slot_id, wave_id, entry_id, patient_id, rank, explanation, policy_version, code, token, status, expires_at)
         SELECT $2, $3, entry_id, patient_id, rank, explanation, $4, code, token, 'live', $5 FROM input WHERE patient_id IN (SELECT id FROM free)
         ON CONFLICT DO NOTHING RETURNING id, entry_id, patient_id
       ), sms AS (
         INSERT INTO sms_message (patient_id, offer_id, kind, personalisation, dedupe_key, status)
         SELECT made.patient_id, made.id, 'offer', input.personalisation, 'offer-' || made.id, 'queued'
           FROM made JOIN input ON input.entry_id = made.entry_id
         ON CONFLICT (dedupe_key) DO NOTHING RETURNING id
       ), jobs AS (
         INSERT INTO outbox (queue, job_name, job_id, payload, run_at, priority)
         SELECT $6, 'send-sms', $7 || sms.id, jsonb_build_object('smsId', sms.id) || CASE WHEN $8::text IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('traceparent', $8::text) END, $9, $10
           FROM sms
       )
       SELECT count(*)::int AS n FROM made`,
      [JSON.stringify(batch), slotId, waveId, policyVersion, expiresAt, queueFor('send-sms'), jobId('send-sms', { smsId: '' }), traceparent, sendAt, priority],
    )) as Array<{ n: number }>;
    return made[0]?.n ?? 0;
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

  async closeSlot({ slotId }: JobPayloads['close-slot']): Promise<JobOutcome> {
    return this.ds.transaction(async (tx) => {
      const slot = await this.lockSlot(tx, slotId);
      if (!slot || !['open', 'offering'].includes(slot.status)) return { status: 'skipped', reason: `slot is ${slot?.status ?? 'missing'}` };
      await this.close(tx, slot, 'cut-off reached before anyone accepted');
      return { status: 'done' };
    });
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

function toFreedSlot(slot: SlotRecord): FreedSlot {
  return {
    slotId: slot.id, trustOds: slot.trust_ods, siteOds: slot.site_ods, tfc: slot.tfc, appointmentType: slot.appointment_type,
    start: new Date(slot.start_at), durationMinutes: slot.duration_minutes, constraints: slot.constraints ?? undefined,
  };
}
