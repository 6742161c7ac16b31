/**
 * Inbound HL7 for one trust, whether over MLLP or `POST /hl7`. The order matters: validate,
 * store durably, then ACK. An accepted message is stored with the job that forwards it to the
 * exchange in one transaction; a repeated MSH-10 of an accepted message is ACKed AA again and
 * not processed twice (the database's unique index decides, also when two copies race). A refused
 * message is kept for inspection, and a resend with the same MSH-10 is judged afresh.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { SlotEventDto, SlotEventKind, jobId, queueFor } from '@app/contracts';
import { Clock, isValidNhsNumber } from '@app/domain';
import { Hl7Error, MessageHeader, SiuEvent, SiuMessage, buildAck, readSiu } from '@app/hl7';
import { enqueue } from '@app/persistence';
import { CLOCK, IcsDirectory, MetricsService, currentTraceparent } from '@app/platform';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { ClinicMap } from './clinic-map';
import { AdapterConfig } from './config';
import { Hl7ArchiveService } from './hl7-archive.service';

export interface IntakeResult { code: 'AA' | 'AE' | 'AR'; ack: string; duplicate?: boolean }

/** What a replay made of one archived message. */
export type ReplayOutcome = 'already-accepted' | 'accepted' | 'still-refused' | 're-forwarded';

const EVENT_KIND: Record<SiuEvent, SlotEventKind> = {
  S12: 'appointment-booked',
  S13: 'appointment-moved',
  S14: 'appointment-moved',
  S15: 'slot-released',
  S17: 'slot-withdrawn',
  S26: 'no-show',
};

@Injectable()
export class Hl7IntakeService {
  private readonly logger = new Logger('hl7-intake');

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly config: AdapterConfig,
    private readonly clinics: ClinicMap,
    private readonly ics: IcsDirectory,
    private readonly metrics: MetricsService,
    private readonly archive: Hl7ArchiveService,
  ) {}

  async receive(raw: string): Promise<IntakeResult> {
    // NUL is not ER7, and Postgres text cannot hold it: shown as ␀ so the message can still be kept and answered.
    const result = await this.judge(raw.replace(/\u0000/g, '\u2400'), true);
    this.metrics.counter('hl7_messages_total', 'Inbound HL7 messages by ACK code', ['trust', 'ack']).inc({ trust: this.config.TRUST_ODS, ack: result.code });
    return result;
  }

  /**
   * Judges an archived message again (after a mapping fix, say), changing nothing that was already
   * done: an accepted message stays accepted once (and is re-queued only if it never reached the
   * exchange); a refused one is accepted now if it passes, else stays refused without a new row.
   */
  async replay(archived: { id: string; status: string; raw: string; forwarded_at: Date | null }): Promise<ReplayOutcome> {
    let outcome: ReplayOutcome;
    if (archived.status === 'accepted') {
      outcome = 'already-accepted';
      if (!archived.forwarded_at) {
        await this.ds.transaction((tx) => enqueue(tx, 'forward-hl7', { hl7MessageId: archived.id }, { ods: this.config.TRUST_ODS }));
        outcome = 're-forwarded';
      }
    } else {
      const r = await this.judge(archived.raw, false);
      outcome = r.code !== 'AA' ? 'still-refused' : r.duplicate ? 'already-accepted' : 'accepted';
    }
    await this.ds.query(`UPDATE hl7_message SET replayed_at = now(), replay_outcome = $2 WHERE id = $1`, [archived.id, outcome]);
    return outcome;
  }

  private async judge(raw: string, keep: boolean): Promise<IntakeResult> {
    if (Buffer.byteLength(raw) > this.config.MLLP_MAX_MESSAGE_BYTES) {
      return this.refuse(raw, {}, 'AR', { segment: 'MSH', sequence: 1, field: 0, code: '207', text: `message larger than ${this.config.MLLP_MAX_MESSAGE_BYTES} bytes` }, false);
    }
    const read = readSiu(raw);
    if (!read.ok) return this.refuse(raw, read.header, read.ack, read.error, keep);
    const siu = read.message;
    if (siu.header.sendingFacility !== this.config.TRUST_ODS) {
      return this.refuse(raw, siu.header, 'AR', {
        segment: 'MSH', sequence: 1, field: 4, code: '103',
        text: `sending facility ${siu.header.sendingFacility || '(empty)'} is not ${this.config.TRUST_ODS}; this adapter accepts ${this.config.TRUST_ODS} only`,
      }, keep);
    }
    if (!siu.siteOds || this.ics.trustOfSite(siu.siteOds) !== this.config.TRUST_ODS) {
      return this.refuse(raw, siu.header, 'AE', {
        segment: 'AIL', sequence: 1, field: 3, component: 4, code: '103',
        text: siu.siteOds ? `location ${siu.siteOds} is not a site of ${this.config.TRUST_ODS}` : 'location facility (AIL-3.4) is required',
      }, keep);
    }
    const clinic = this.clinics.lookup(siu.clinicCode);
    if (!clinic) {
      this.metrics.counter('hl7_unmapped_clinics_total', 'Messages refused for an unmapped clinic', ['trust']).inc({ trust: this.config.TRUST_ODS });
      if (keep) await this.archive.recordUnmapped(siu.clinicCode, siu.header.controlId).catch((e: Error) => this.logger.error(`unmapped clinic not counted: ${e.message}`));
      return this.refuse(raw, siu.header, 'AE', {
        segment: 'AIS', sequence: 1, field: 3, code: '103',
        text: `clinic ${siu.clinicCode} is not in the clinic mapping (version ${this.clinics.version})`,
      }, keep);
    }
    const id = randomUUID();
    const event = this.toEvent(id, siu, clinic);
    // One statement, so one round trip and one commit: the message and the job that forwards it are
    // stored together (as enqueue() would in a transaction), and the relay is woken at commit.
    const payload = { hl7MessageId: id, ...(currentTraceparent() ? { traceparent: currentTraceparent() } : {}) };
    const inserted: Array<{ id: string }> = await this.ds.query(
      `WITH message AS (
         INSERT INTO hl7_message (id, trust_ods, control_id, message_type, status, ack_code, event, raw)
         VALUES ($1, $2, $3, $4, 'accepted', 'AA', $5, $6)
         ON CONFLICT (trust_ods, control_id) WHERE status = 'accepted' DO NOTHING RETURNING id
       ), job AS (
         INSERT INTO outbox (queue, job_name, job_id, payload) SELECT $7, 'forward-hl7', $8, $9 FROM message RETURNING id
       )
       SELECT message.id, pg_notify('outbox', '') FROM message`,
      [
        id, this.config.TRUST_ODS, siu.header.controlId, `SIU^${siu.event}`, JSON.stringify(event), raw,
        queueFor('forward-hl7', this.config.TRUST_ODS), jobId('forward-hl7', payload), JSON.stringify(payload),
      ],
    );
    const stored = inserted.length > 0;
    return { code: 'AA', ack: this.ack(siu.header, 'AA'), duplicate: !stored };
  }

  private toEvent(id: string, siu: SiuMessage, clinic: { tfc: string; appointmentType: 'NEW' | 'FUP'; minAgeYears?: number; maxAgeYears?: number; sex?: 'M' | 'F' }): SlotEventDto {
    const constraints = clinic.minAgeYears !== undefined || clinic.maxAgeYears !== undefined || clinic.sex
      ? { minAgeYears: clinic.minAgeYears, maxAgeYears: clinic.maxAgeYears, sex: clinic.sex }
      : undefined;
    return {
      eventId: id,
      kind: EVENT_KIND[siu.event],
      controlId: siu.header.controlId,
      siteOds: siu.siteOds!,
      clinicCode: siu.clinicCode,
      tfc: clinic.tfc,
      appointmentType: clinic.appointmentType,
      start: siu.start.toISOString(),
      durationMinutes: siu.durationMinutes,
      fillerAppointmentId: siu.fillerAppointmentId,
      placerAppointmentId: siu.placerAppointmentId ?? undefined,
      clinicianId: siu.clinicianId ?? undefined,
      // A freed slot does not depend on who held it; an unusable PID-3 is dropped rather than forwarded.
      patientNhsNumber: siu.patientNhsNumber && isValidNhsNumber(siu.patientNhsNumber) ? siu.patientNhsNumber : undefined,
      eventReason: siu.eventReason ?? undefined,
      constraints,
    };
  }

  private async refuse(raw: string, header: Partial<MessageHeader>, code: 'AE' | 'AR', error: Hl7Error, keep = true): Promise<IntakeResult> {
    if (keep) {
      // Kept for inspection; a failure to keep it must not stop the sender hearing why.
      await this.ds
        .query(
          `INSERT INTO hl7_message (trust_ods, control_id, message_type, status, ack_code, error, raw) VALUES ($1, $2, $3, 'refused', $4, $5, $6)`,
          [this.config.TRUST_ODS, header.controlId ?? '', header.messageType ? `${header.messageType}^${header.triggerEvent ?? ''}` : null, code, `${error.segment}-${error.field}: ${error.text}`, raw],
        )
        .catch((e: Error) => this.logger.error(`could not keep a refused message: ${e.message}`));
    }
    this.logger.warn(`refused ${header.controlId ? `message ${header.controlId}` : 'a message'} with ${code}: ${error.segment}-${error.field} ${error.text}`);
    return { code, ack: this.ack(header, code, error) };
  }

  private ack(header: Partial<MessageHeader>, code: 'AA' | 'AE' | 'AR', error?: Hl7Error): string {
    return buildAck({ header, code, error, now: this.clock.now(), ackControlId: `ACK${randomUUID().replace(/-/g, '').slice(0, 17)}` });
  }
}
