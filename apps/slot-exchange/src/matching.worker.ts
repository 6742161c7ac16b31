/**
 * The matching engine's jobs on `slot-matching`: offer a slot to the next wave of the best
 * eligible patients ICS-wide, end waves that ran out of time, close slots at their cut-off.
 * Every handler locks the slot row, re-reads it and skips work that is done or moot, so a job
 * delivered twice (or raced by another worker) does nothing the second time.
 */
import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { JobOutcome, JobPayloads, QueueName } from '@app/contracts';
import {
  Candidate, Clock, FreedSlot, MatchingPolicy, effectiveWaveSize, generateOfferCode, isInsideMinimumNotice, nextSendableTime, rankCandidates, waveExpiry,
} from '@app/domain';
import { endWave, enqueue, queueSms, wordingFor } from '@app/persistence';
import { CLOCK, IcsDirectory, MetricsService, QueueService } from '@app/platform';
import { Job } from 'bullmq';
import { randomBytes, randomInt } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { ExchangeConfig } from './config';
import { POLICY } from './tokens';

interface SlotRecord {
  id: string; trust_ods: string; site_ods: string; tfc: string; appointment_type: 'NEW' | 'FUP'; start_at: Date;
  duration_minutes: number; constraints: FreedSlot['constraints'] | null; status: string; match_round: number; cutoff_at: Date;
}

/** How many rows the index walk returns for the domain rules to check; more than a wave, since some fail rules SQL does not see. */
const CANDIDATE_WINDOW = 50;

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

  async match({ slotId, round }: JobPayloads['match-slot']): Promise<JobOutcome> {
    const now = this.clock.now();
    const outcome = await this.ds.transaction(async (tx) => {
      const slot = await this.lockSlot(tx, slotId);
      if (!slot || !['open', 'offering'].includes(slot.status)) return { status: 'skipped' as const, reason: `slot is ${slot?.status ?? 'missing'}` };
      if (slot.match_round >= round) return { status: 'skipped' as const, reason: `round ${round} already matched` };
      const live = await tx.query(`SELECT 1 FROM offer_wave WHERE slot_id = $1 AND status = 'live'`, [slotId]);
      if (live.length > 0) return { status: 'skipped' as const, reason: 'a wave is still live' };
      if (isInsideMinimumNotice(slot.start_at, now, this.policy)) {
        await this.close(tx, slot, 'cut-off reached before anyone accepted');
        return { status: 'done' as const, reason: 'closed at cut-off' };
      }
      const sendAt = nextSendableTime(now, this.policy);
      if (isInsideMinimumNotice(slot.start_at, sendAt, this.policy)) {
        await this.close(tx, slot, 'quiet hours last until the cut-off');
        return { status: 'done' as const, reason: 'closed: quiet hours until cut-off' };
      }
      const offered = await this.offerWave(tx, slot, round, now, sendAt);
      await tx.query(`UPDATE slot SET match_round = $2, status = $3 WHERE id = $1`, [slotId, round, offered > 0 ? 'offering' : 'open']);
      return { status: 'done' as const, reason: offered > 0 ? `offered to ${offered}` : 'no eligible patient yet' };
    });
    this.metrics.counter('matching_jobs_total', 'Match jobs by outcome', ['outcome']).inc({ outcome: outcome.status });
    return outcome;
  }

  /** Creates one wave in the caller's transaction; returns how many offers it holds. */
  private async offerWave(tx: EntityManager, slot: SlotRecord, round: number, now: Date, sendAt: Date): Promise<number> {
    const freed: FreedSlot = {
      slotId: slot.id, trustOds: slot.trust_ods, siteOds: slot.site_ods, tfc: slot.tfc, appointmentType: slot.appointment_type,
      start: new Date(slot.start_at), durationMinutes: slot.duration_minutes, constraints: slot.constraints ?? undefined,
    };
    const size = effectiveWaveSize(this.policy);
    const expiresAt = waveExpiry(sendAt, freed.start, this.policy);
    const ranked = rankCandidates(await this.candidates(tx, freed), freed, { now, policy: this.policy });
    const words = wordingFor(this.ics, slot);
    const [wave] = await tx.query(
      `INSERT INTO offer_wave (slot_id, round, status, policy_version, send_at, expires_at) VALUES ($1, $2, 'live', $3, $4, $5) RETURNING id`,
      [slot.id, round, this.policy.version, sendAt, expiresAt],
    );
    let offered = 0;
    const patientsInWave = new Set<string>();
    for (const { candidate, explanation } of ranked) {
      if (offered >= size) break;
      if (patientsInWave.has(candidate.patientId)) continue; // one patient, several pathways: one offer
      const code = generateOfferCode(() => randomInt(0, 1 << 30) / (1 << 30));
      const token = randomBytes(24).toString('base64url');
      // The partial unique index lets a patient hold one live offer ICS-wide: if a concurrent wave
      // for another slot took this patient first, the insert does nothing and we move down the list.
      const rows: Array<{ id: string }> = await tx.query(
        `INSERT INTO offer (slot_id, wave_id, entry_id, patient_id, rank, explanation, policy_version, code, token, status, expires_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,'live',$10) ON CONFLICT DO NOTHING RETURNING id`,
        [slot.id, wave.id, candidate.entryId, candidate.patientId, offered + 1, JSON.stringify(explanation), this.policy.version, code, token, expiresAt],
      );
      if (rows.length === 0) continue;
      patientsInWave.add(candidate.patientId);
      offered++;
      await queueSms(tx, {
        patientId: candidate.patientId, offerId: rows[0].id, kind: 'offer', dedupeKey: `offer-${rows[0].id}`, sendAt,
        personalisation: {
          ...words, code,
          expires: `${wordingFor(this.ics, { ...slot, start_at: expiresAt }).time} on ${wordingFor(this.ics, { ...slot, start_at: expiresAt }).date}`,
          link: `${this.config.OFFER_PAGE_BASE_URL.replace(/\/$/, '')}/o/${token}`,
        },
      });
    }
    if (offered === 0) {
      await tx.query(`DELETE FROM offer_wave WHERE id = $1`, [wave.id]);
      return 0;
    }
    await enqueue(tx, 'expire-wave', { waveId: wave.id }, { runAt: expiresAt });
    this.metrics.counter('offers_created_total', 'Offers made', ['trust']).inc({ trust: slot.trust_ods }, offered);
    return offered;
  }

  /**
   * One index walk in ranking order over the rules SQL can check; the domain then applies every
   * rule (age, sex, unavailable dates, travel) and has the final word.
   */
  private async candidates(tx: EntityManager, slot: FreedSlot): Promise<Candidate[]> {
    const mustBeAfter = new Date(slot.start.getTime() + this.policy.minGainDays * 86_400_000);
    const rows = await tx.query(
      `SELECT e.id, e.patient_id, e.trust_ods, e.tfc, e.appointment_type, e.priority, e.rtt_start, e.breach_date, e.current_appointment_start,
              e.offer_consent, e.ics_wide_consent, e.any_site, e.acceptable_sites, e.max_travel_km, e.unavailable, e.status,
              p.birth_date, p.sex, p.mobile_status, p.sms_stopped
         FROM waiting_list_entry e JOIN patient p ON p.id = e.patient_id
        WHERE e.status = 'open' AND e.offer_consent AND e.tfc = $1 AND e.appointment_type = $2
          AND p.mobile_status = 'valid' AND NOT p.sms_stopped
          AND (e.trust_ods = $3 OR (e.ics_wide_consent AND (e.any_site OR $4 = ANY (e.acceptable_sites) OR e.max_travel_km IS NOT NULL)))
          AND (e.current_appointment_start IS NULL OR e.current_appointment_start >= $5)
          AND NOT EXISTS (SELECT 1 FROM offer o WHERE o.patient_id = e.patient_id AND o.status = 'live')
          AND NOT EXISTS (SELECT 1 FROM offer o WHERE o.slot_id = $6 AND o.entry_id = e.id)
        ORDER BY e.priority_rank, e.breach_date, e.rtt_start, e.id
        LIMIT ${CANDIDATE_WINDOW}`,
      [slot.tfc, slot.appointmentType, slot.trustOds, slot.siteOds, mustBeAfter, slot.slotId],
    );
    return rows.map((r: Record<string, unknown>): Candidate => ({
      entryId: r.id as string, patientId: r.patient_id as string, trustOds: r.trust_ods as string, tfc: r.tfc as string,
      appointmentType: r.appointment_type as Candidate['appointmentType'], priority: r.priority as Candidate['priority'],
      rttStart: asDate(r.rtt_start), breachDate: asDate(r.breach_date), birthDate: asDate(r.birth_date ?? '1900-01-01'),
      sex: (r.sex as Candidate['sex']) ?? null,
      currentAppointmentStart: r.current_appointment_start ? new Date(r.current_appointment_start as string) : null,
      offerConsent: r.offer_consent as boolean, icsWideConsent: r.ics_wide_consent as boolean,
      acceptableSites: r.any_site ? 'ANY' : (r.acceptable_sites as string[]),
      maxTravelKm: r.max_travel_km == null ? null : Number(r.max_travel_km),
      unavailable: ((r.unavailable as Array<{ from: string; to: string }>) ?? []).map((u) => ({ from: asDate(u.from), to: asDate(u.to) })),
      status: r.status as Candidate['status'], hasLiveOffer: false, mobileValid: r.mobile_status === 'valid', smsStopped: r.sms_stopped as boolean,
    }));
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

function asDate(v: unknown): Date {
  if (v instanceof Date) return v;
  return new Date(`${String(v).slice(0, 10)}T00:00:00Z`);
}
