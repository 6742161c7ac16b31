/**
 * Canonical scheduling events from the trust adapters. A released slot is stored once (by the
 * adapter's event id, and by its PAS appointment id while it is active) and, when it is far
 * enough away, handed to matching in the same transaction; inside the minimum notice it is
 * recorded as too late and never offered.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { SlotEventDto, SlotEventResult } from '@app/contracts';
import { Clock, MatchingPolicy, isInsideMinimumNotice, noticeCutoff } from '@app/domain';
import { enqueue } from '@app/persistence';
import { AppError, CLOCK, IcsDirectory, MetricsService, currentTraceparent } from '@app/platform';
import { DataSource } from 'typeorm';
import { POLICY } from './tokens';

@Injectable()
export class SlotEventsService {
  private readonly logger = new Logger('slot-events');

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(POLICY) private readonly policy: MatchingPolicy,
    private readonly ics: IcsDirectory,
    private readonly metrics: MetricsService,
  ) {}

  async handle(trustOds: string, e: SlotEventDto): Promise<SlotEventResult> {
    if (this.ics.trustOfSite(e.siteOds) !== trustOds) {
      throw new AppError('site_not_in_trust', `Site ${e.siteOds} is not a site of ${trustOds}`, 422);
    }
    const start = new Date(e.start);
    switch (e.kind) {
      case 'slot-released':
        return this.release(trustOds, e, start);
      default:
        // Bookings, moves, withdrawals and no-shows are recorded by the adapter's archive; acting on
        // them (withdrawing live offers, moving current appointments) comes with the full adapter.
        this.metrics.counter('slot_events_total', 'Scheduling events received', ['trust', 'kind', 'outcome']).inc({ trust: trustOds, kind: e.kind, outcome: 'recorded' });
        return { eventId: e.eventId, outcome: 'recorded' };
    }
  }

  private async release(trustOds: string, e: SlotEventDto, start: Date): Promise<SlotEventResult> {
    const now = this.clock.now();
    const tooLate = isInsideMinimumNotice(start, now, this.policy);
    const cutoff = noticeCutoff(start, this.policy);
    const result = await this.ds.transaction(async (tx) => {
      const rows: Array<{ id: string }> = await tx.query(
        `INSERT INTO slot (trust_ods, site_ods, clinic_code, tfc, appointment_type, start_at, duration_minutes, clinician_id,
                           filler_appointment_id, placer_appointment_id, source_event_id, constraints, status, closed_reason, cutoff_at, closed_at, trace_context)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)
         ON CONFLICT DO NOTHING RETURNING id`,
        [
          trustOds, e.siteOds, e.clinicCode, e.tfc, e.appointmentType, start, e.durationMinutes, e.clinicianId ?? null,
          e.fillerAppointmentId, e.placerAppointmentId ?? null, e.eventId, e.constraints ? JSON.stringify(e.constraints) : null,
          tooLate ? 'too_late' : 'open', tooLate ? `inside the ${this.policy.minNoticeHours}-hour minimum notice` : null, cutoff, tooLate ? now : null,
          // The patient's answer comes back without a trace; the booking continues this one.
          currentTraceparent() ?? null,
        ],
      );
      if (rows.length === 0) return { eventId: e.eventId, outcome: 'duplicate' as const };
      const slotId = rows[0].id;
      if (!tooLate) {
        await enqueue(tx, 'match-slot', { slotId, round: 1 });
        await enqueue(tx, 'close-slot', { slotId }, { runAt: cutoff });
      }
      return { eventId: e.eventId, outcome: tooLate ? ('too-late' as const) : ('slot-created' as const), slotId };
    });
    this.metrics.counter('slot_events_total', 'Scheduling events received', ['trust', 'kind', 'outcome']).inc({ trust: trustOds, kind: e.kind, outcome: result.outcome });
    this.logger.log(`slot event ${e.eventId} from ${trustOds}: ${result.outcome}`);
    return result;
  }
}
