/**
 * Inbound HL7 for one trust, whether over MLLP or `POST /hl7`. The order matters: validate,
 * store durably, then ACK. An accepted message is stored with the job that forwards it to the
 * exchange in one transaction, which it shares with the other messages that arrived meanwhile
 * (group commit: one statement and one commit for all of them, each answered only after it); a
 * repeated MSH-10 of an accepted message is ACKed AA again and not processed twice (the
 * database's unique index decides, also when two copies race, in one batch or in two), also when
 * the repeat would now be refused. Nothing the exchange would refuse is accepted. A refused
 * message is kept for inspection, and a resend with the same MSH-10 is judged afresh.
 */
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { JobPayloads, SLOT_EVENT_ID_MAX_LENGTH, SlotEventDto, SlotEventKind, jobId, queueFor, slotEventProblems } from '@app/contracts';
import { Clock, isValidNhsNumber } from '@app/domain';
import { Hl7Error, MessageHeader, NOT_STORED_ERROR, OVERSIZED_HEAD_BYTES, SiuEvent, SiuMessage, buildAck, readMessageHeader, readSiu } from '@app/hl7';
import { OutboxRelay, quietOutboxSql } from '@app/persistence';
import { CLOCK, GroupCommit, IcsDirectory, MetricsService, QueueService, currentTraceparent } from '@app/platform';
import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { ClinicMap } from './clinic-map';
import { AdapterConfig } from './config';
import { forwardAgain } from './forward-redrive';
import { Hl7ArchiveService } from './hl7-archive.service';

/** An accepted message as the group commit stores it (the JSON already serialised). */
interface AcceptedMessage {
  id: string;
  controlId: string;
  messageType: string;
  event: string;
  raw: string;
  jobId: string;
  payload: string;
}

/**
 * Accepted messages stored by one statement at most, batches in flight at once, and how long an
 * idle batch may wait for the other senders in step (see GroupCommit): with 4 senders waiting for
 * their ACKs, 4 messages a commit rather than 1-2, so a third of the commits, WAL flushes and round trips.
 */
const GROUP_COMMIT = { maxItems: 500, maxBytes: 8 * 1024 * 1024, concurrency: 2, lingerMs: 2 };

export interface IntakeResult { code: 'AA' | 'AE' | 'AR'; ack: string; duplicate?: boolean }

/**
 * What a replay made of one archived message. An accepted message not yet forwarded is
 * `re-forwarded` only when its forwarding was really ordered again; `awaiting-forward` when a job
 * for it is still waiting or running (nothing ordered: it will be forwarded by that job).
 */
export type ReplayOutcome = 'already-accepted' | 'accepted' | 'still-refused' | 're-forwarded' | 'awaiting-forward';

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
  private readonly commits = new GroupCommit<AcceptedMessage, boolean>({
    ...GROUP_COMMIT,
    store: (batch) => this.storeAccepted(batch),
    size: (m) => m.raw.length + m.event.length,
  });

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly config: AdapterConfig,
    private readonly clinics: ClinicMap,
    private readonly ics: IcsDirectory,
    private readonly metrics: MetricsService,
    private readonly archive: Hl7ArchiveService,
    private readonly queues: QueueService,
    @Optional() private readonly relay?: OutboxRelay,
  ) {}

  async receive(raw: string): Promise<IntakeResult> {
    // Measured as it arrived: each NUL becomes a 3-byte character in what is kept.
    const bytes = Buffer.byteLength(raw);
    const text = withoutNul(raw);
    return this.counted(await this.judge(text, true, bytes).catch((e: unknown) => this.notStored(text, e)));
  }

  /**
   * A message over MLLP_MAX_MESSAGE_BYTES, skipped by the MLLP decoder or the HTTP controller,
   * which kept its first OVERSIZED_HEAD_BYTES (`head`) and counted the `bytes` that arrived.
   */
  async receiveOversized(head: string, bytes: number): Promise<IntakeResult> {
    return this.counted(await this.oversized(withoutNul(head), bytes, true));
  }

  private counted(result: IntakeResult): IntakeResult {
    this.metrics.counter('hl7_messages_total', 'Inbound HL7 messages by ACK code', ['trust', 'ack']).inc({ trust: this.config.TRUST_ODS, ack: result.code });
    return result;
  }

  /**
   * Judges an archived message again (after a mapping fix, say), changing nothing that was already
   * done: an accepted message stays accepted once (and is re-queued only if it never reached the
   * exchange); a refused one is accepted now if it passes, else stays refused without a new row.
   */
  async replay(archived: { id: string; status: string; raw: string; forwarded_at: Date | null; received_bytes: number | null }): Promise<ReplayOutcome> {
    let outcome: ReplayOutcome;
    if (archived.received_bytes !== null) {
      // Refused for its size, and only its head was kept: what is archived is not what was sent.
      outcome = 'still-refused';
    } else if (archived.status === 'accepted') {
      outcome = 'already-accepted';
      if (!archived.forwarded_at) {
        // Its first job may have failed for good (BullMQ keeps it, and would ignore a plain re-add of its id).
        outcome = (await forwardAgain(this.ds, this.queues, this.config.TRUST_ODS, archived.id)) ? 're-forwarded' : 'awaiting-forward';
      }
    } else {
      const r = await this.judge(archived.raw, false, arrivedBytes(archived.raw));
      outcome = r.code !== 'AA' ? 'still-refused' : r.duplicate ? 'already-accepted' : 'accepted';
    }
    await this.ds.query(`UPDATE hl7_message SET replayed_at = now(), replay_outcome = $2 WHERE id = $1`, [archived.id, outcome]);
    return outcome;
  }

  /**
   * Accepts (stores, then AA) or refuses a message. A message whose MSH-10 is already accepted is
   * answered AA as a duplicate however it would be judged now (a mapping reload since must not turn
   * a resend of an accepted message into an AE): asked of the database only when the message would
   * be refused with AE, as an accepted one finds its duplicate in the insert itself.
   */
  private async judge(raw: string, keep: boolean, bytes: number): Promise<IntakeResult> {
    if (bytes > this.config.MLLP_MAX_MESSAGE_BYTES) return this.oversized(raw, bytes, keep);
    const verdict = this.verdict(raw);
    if (verdict.refused) {
      const { header, code, error, unmappedClinic } = verdict.refused;
      // An AR is a message not for us (another trust's, not an SIU, not HL7): never a resend of ours.
      if (code === 'AE' && header.controlId && (await this.alreadyAccepted(header.controlId))) {
        return { code: 'AA', ack: this.ack(header, 'AA'), duplicate: true };
      }
      if (unmappedClinic !== undefined) {
        this.metrics.counter('hl7_unmapped_clinics_total', 'Messages refused for an unmapped clinic', ['trust']).inc({ trust: this.config.TRUST_ODS });
        // A code longer than any clinic the exchange takes is a broken field, not a clinic to map.
        if (keep && unmappedClinic.length <= SLOT_EVENT_ID_MAX_LENGTH) await this.archive.recordUnmapped(unmappedClinic, (header.controlId ?? '').slice(0, KEPT_CONTROL_ID_LENGTH)).catch((e: Error) => this.logger.error(`unmapped clinic not counted: ${e.message}`));
      }
      return this.refuse(raw, header, code, error, keep);
    }
    const { siu, event } = verdict;
    const traceparent = currentTraceparent();
    const payload: JobPayloads['forward-hl7'] = { hl7MessageId: event.eventId, ...(traceparent ? { traceparent } : {}) };
    // Stored with its forwarding job by the next group commit; AA only once that has committed.
    const stored = await this.commits.submit({
      id: event.eventId, controlId: siu.header.controlId, messageType: `SIU^${siu.event}`, event: JSON.stringify(event), raw,
      jobId: jobId('forward-hl7', payload), payload: JSON.stringify(payload),
    });
    return { code: 'AA', ack: this.ack(siu.header, 'AA'), duplicate: !stored };
  }

  /**
   * The message read and checked, without side effects: the event to store, or why it is refused.
   * Last of the checks, the event is checked against the rules the exchange will check it by
   * (SlotEventDto), so that nothing is ACKed AA that the exchange would refuse (a 65-character
   * filler id, say), which would lose the slot after the sender was told it was safe.
   */
  private verdict(raw: string): { refused?: undefined; siu: SiuMessage; event: SlotEventDto } | { refused: Refusal } {
    const read = readSiu(raw);
    if (!read.ok) return { refused: { header: read.header, code: read.ack, error: read.error } };
    const siu = read.message;
    const refused = (code: 'AE' | 'AR', error: Hl7Error, unmappedClinic?: string) => ({ refused: { header: siu.header, code, error, unmappedClinic } });
    if (siu.header.sendingFacility !== this.config.TRUST_ODS) {
      return refused('AR', {
        segment: 'MSH', sequence: 1, field: 4, code: '103',
        text: `sending facility ${siu.header.sendingFacility || '(empty)'} is not ${this.config.TRUST_ODS}; this adapter accepts ${this.config.TRUST_ODS} only`,
      });
    }
    if (!siu.siteOds || this.ics.trustOfSite(siu.siteOds) !== this.config.TRUST_ODS) {
      return refused('AE', {
        segment: 'AIL', sequence: 1, field: 3, component: 4, code: '103',
        text: siu.siteOds ? `location ${siu.siteOds} is not a site of ${this.config.TRUST_ODS}` : 'location facility (AIL-3.4) is required',
      });
    }
    const clinic = this.clinics.lookup(siu.clinicCode);
    if (!clinic) {
      return refused('AE', {
        segment: 'AIS', sequence: 1, field: 3, code: '103',
        text: `clinic ${shown(siu.clinicCode)} is not in the clinic mapping (version ${this.clinics.version})`,
      }, siu.clinicCode);
    }
    const event = this.toEvent(randomUUID(), siu, clinic);
    const [problem] = slotEventProblems(event);
    if (problem) return refused('AE', fieldError(problem, siu.clinicCode));
    return { siu, event };
  }

  private async alreadyAccepted(controlId: string): Promise<boolean> {
    // Longer than any accepted id can be (and the index's keys): never accepted, and not looked up.
    if (controlId.length > SLOT_EVENT_ID_MAX_LENGTH) return false;
    const rows = await this.ds.query(`SELECT 1 FROM hl7_message WHERE trust_ods = $1 AND control_id = $2 AND status = 'accepted' LIMIT 1`, [this.config.TRUST_ODS, controlId]);
    return rows.length > 0;
  }

  /**
   * Stores accepted messages, each with the job that forwards it, in one statement (one round trip,
   * one commit). A message whose MSH-10 is already accepted (earlier, in this same batch, or by a
   * racing transaction: the unique index decides) is not stored and gets no job: false for it.
   */
  private async storeAccepted(batch: AcceptedMessage[]): Promise<boolean[]> {
    const col = <K extends keyof AcceptedMessage>(k: K) => batch.map((m) => m[k]);
    // Straight to the pool TypeORM keeps (its query runner adds nothing here) and as a named
    // statement, so Postgres parses and plans it once per connection rather than once per batch.
    const pool = (this.ds.driver as PostgresDriver).master as Pool;
    const { rows: inserted } = await pool.query<{ id: string }>({
      name: this.relay ? 'hl7-intake-store-quiet' : 'hl7-intake-store',
      // With a relay in this process, the insert skips the outbox NOTIFY (quietOutboxSql; set in
      // the input's CTE, so before the insert's trigger fires) and the relay is woken instead.
      text: `WITH input AS (
         SELECT m.* FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::text[], $6::text[], $7::jsonb[])
           WITH ORDINALITY AS m (id, control_id, message_type, event, raw, job_id, payload, ord)${this.relay ? `, (SELECT ${quietOutboxSql}) AS quiet` : ''}
       ), message AS (
         INSERT INTO hl7_message (id, trust_ods, control_id, message_type, status, ack_code, event, raw)
         SELECT id, $8, control_id, message_type, 'accepted', 'AA', event, raw FROM input ORDER BY ord
         ON CONFLICT (trust_ods, control_id) WHERE status = 'accepted' DO NOTHING RETURNING id
       ), job AS (
         INSERT INTO outbox (queue, job_name, job_id, payload)
         SELECT $9, 'forward-hl7', input.job_id, input.payload FROM input JOIN message USING (id) ORDER BY input.ord RETURNING id
       )
       SELECT message.id FROM message`,
      values: [
        col('id'), col('controlId'), col('messageType'), col('event'), col('raw'), col('jobId'), col('payload'),
        this.config.TRUST_ODS, queueFor('forward-hl7', this.config.TRUST_ODS),
      ],
    });
    // Relayed by this process (woken here rather than by a NOTIFY per batch: see quietOutboxSql);
    // the relays' periodic sweep still moves anything a crash left behind.
    if (inserted.length > 0) this.relay?.wake([queueFor('forward-hl7', this.config.TRUST_ODS)]);
    const stored = new Set(inserted.map((r) => r.id));
    return batch.map((m) => stored.has(m.id));
  }

  private toEvent(id: string, siu: SiuMessage, clinic: { tfc: string; appointmentType: 'NEW' | 'FUP'; minAgeYears?: number; maxAgeYears?: number; sex?: 'M' | 'F' }): SlotEventDto {
    const constraints = clinic.minAgeYears !== undefined || clinic.maxAgeYears !== undefined || clinic.sex
      ? { minAgeYears: clinic.minAgeYears, maxAgeYears: clinic.maxAgeYears, sex: clinic.sex }
      : undefined;
    return {
      eventId: id,
      kind: EVENT_KIND[siu.event],
      trigger: siu.event,
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

  /**
   * Refuses a message over the size limit with AR, keeping its first OVERSIZED_HEAD_BYTES and the
   * size that arrived (`received_bytes`): enough to see who sent what, without storing whatever a
   * sender pushes. AR rather than AE: CONTRACT keeps AE for a field that is wrong ("which field"),
   * and AR for a message this adapter will not take as sent (an unsupported type, another trust's
   * facility); a message over the limit is refused whole, whatever its fields. (Also what MLLP
   * answered before the adapter kept anything of it, and what README promises.)
   */
  private oversized(raw: string, bytes: number, keep: boolean): Promise<IntakeResult> {
    const head = Buffer.from(raw, 'utf8').subarray(0, OVERSIZED_HEAD_BYTES).toString('utf8');
    return this.refuse(head, readMessageHeader(head), 'AR', {
      segment: 'MSH', sequence: 1, field: 0, code: '207',
      text: `Message of ${bytes} bytes exceeds the ${this.config.MLLP_MAX_MESSAGE_BYTES}-byte limit`,
    }, keep, bytes);
  }

  private async refuse(raw: string, header: Partial<MessageHeader>, code: 'AE' | 'AR', error: Hl7Error, keep = true, receivedBytes?: number): Promise<IntakeResult> {
    if (keep) {
      // Kept for inspection; a failure to keep it must not stop the sender hearing why.
      await this.ds
        .query(
          `INSERT INTO hl7_message (trust_ods, control_id, message_type, status, ack_code, error, raw, received_bytes) VALUES ($1, $2, $3, 'refused', $4, $5, $6, $7)`,
          [this.config.TRUST_ODS, (header.controlId ?? '').slice(0, KEPT_CONTROL_ID_LENGTH), header.messageType ? `${header.messageType}^${header.triggerEvent ?? ''}`.slice(0, 100) : null, code, `${error.segment}-${error.field}: ${error.text}`, raw, receivedBytes ?? null],
        )
        .catch((e: Error) => this.logger.error(`could not keep a refused message: ${e.message}`));
    }
    this.logger.warn(`refused ${header.controlId ? `message ${shown(header.controlId)}` : 'a message'} with ${code}: ${error.segment}-${error.field} ${error.text}`);
    return { code, ack: this.ack(header, code, error) };
  }

  /**
   * A message that could not be stored (Postgres unreachable, the insert failing): AR asking for a
   * resend (NOT_STORED_ERROR), never AE, which would tell the sender to fix a content that is fine.
   * Nothing is kept (the database is what failed); the resend, same MSH-10, is judged afresh. The
   * log names the control id and the database's own message and code, whose text carries no
   * values (Postgres puts those in `detail`, which is not logged).
   */
  private notStored(raw: string, e: unknown): IntakeResult {
    const header = readMessageHeader(raw);
    const err = e as { message?: string; code?: string };
    this.logger.error(`could not store ${header.controlId ? `message ${shown(header.controlId)}` : 'a message'}, answered AR for a resend: ${err.message ?? String(e)}${err.code ? ` (${err.code})` : ''}`);
    return { code: 'AR', ack: this.ack(header, 'AR', NOT_STORED_ERROR) };
  }

  private ack(header: Partial<MessageHeader>, code: 'AA' | 'AE' | 'AR', error?: Hl7Error): string {
    return buildAck({ header, code, error, now: this.clock.now(), ackControlId: `ACK${randomUUID().replace(/-/g, '').slice(0, 17)}` });
  }
}

/** NUL is not ER7, and Postgres text cannot hold it: shown as ␀ so the message can still be kept and answered. */
function withoutNul(raw: string): string {
  return raw.replace(/\u0000/g, '\u2400');
}

/** The size a kept message had when it arrived: each ␀ in it was a 1-byte NUL (withoutNul). */
function arrivedBytes(kept: string): number {
  let nuls = 0;
  for (let i = kept.indexOf('\u2400'); i >= 0; i = kept.indexOf('\u2400', i + 1)) nuls++;
  return Buffer.byteLength(kept) - 2 * nuls;
}

/** Why a message is refused: its header as read, the ACK code and the ERR, and the clinic code when it is unmapped. */
interface Refusal {
  header: Partial<MessageHeader>;
  code: 'AE' | 'AR';
  error: Hl7Error;
  unmappedClinic?: string;
}

/**
 * The control id a refused message is kept under, at most: whole for any id a sender could mean
 * (the archive is searched by it), and well inside what a btree index entry holds (about 2,700
 * bytes), so a 3,000-character MSH-10 is still kept, and answered, rather than failing its insert.
 */
const KEPT_CONTROL_ID_LENGTH = 256;

/** A sender's value as logged: a runaway MSH-10 (or clinic code) is cut, not written out whole. */
function shown(value: string): string {
  return value.length <= SLOT_EVENT_ID_MAX_LENGTH ? value : `${value.slice(0, SLOT_EVENT_ID_MAX_LENGTH)}… (${value.length} characters)`;
}

/** Where each field of a slot event was read from, for the ERR of a value the exchange would refuse. */
const EVENT_FIELDS: Record<string, { segment: string; field: number; component?: number; name: string }> = {
  controlId: { segment: 'MSH', field: 10, name: 'MSH-10 message control id' },
  placerAppointmentId: { segment: 'SCH', field: 1, component: 1, name: 'SCH-1 placer appointment id' },
  fillerAppointmentId: { segment: 'SCH', field: 2, component: 1, name: 'SCH-2 filler appointment id' },
  eventReason: { segment: 'SCH', field: 6, component: 1, name: 'SCH-6 event reason' },
  clinicCode: { segment: 'AIS', field: 3, component: 1, name: 'AIS-3 clinic code' },
  start: { segment: 'AIS', field: 4, component: 1, name: 'appointment start (AIS-4 or SCH-11.4)' },
  durationMinutes: { segment: 'AIS', field: 7, name: 'appointment duration (AIS-7 or SCH-9)' },
  siteOds: { segment: 'AIL', field: 3, component: 4, name: 'AIL-3.4 location facility' },
  clinicianId: { segment: 'AIP', field: 3, component: 1, name: 'AIP-3 clinician id' },
  patientNhsNumber: { segment: 'PID', field: 3, name: 'PID-3 NHS number' },
};

/**
 * The ERR for a value of the would-be event the exchange would refuse: the field it came from and
 * the rule it breaks (class-validator's words, which quote no value). A value from the clinic
 * mapping (TFC, type, constraints) is the mapping's fault, named at AIS-3 with the clinic.
 */
function fieldError(problem: { field: string; problem: string }, clinicCode: string): Hl7Error {
  // Short enough for MSA-3 (80 characters): "must be shorter than or equal to 64 characters" says "at most".
  const rule = (problem.problem.startsWith(problem.field) ? problem.problem.slice(problem.field.length).trim() : problem.problem)
    .replace('must be shorter than or equal to', 'must be at most')
    .replace('must be longer than or equal to', 'must be at least');
  const where = EVENT_FIELDS[problem.field];
  if (where) {
    const { name, ...at } = where;
    return { ...at, sequence: 1, code: '102', text: `${name} ${rule}` };
  }
  if (problem.field === 'tfc' || problem.field === 'appointmentType' || problem.field.startsWith('constraints')) {
    return {
      segment: 'AIS', sequence: 1, field: 3, code: '103',
      text: `the clinic mapping for clinic ${shown(clinicCode)} gives a ${problem.field} the exchange does not take (${rule}); the mapping needs correcting`,
    };
  }
  // Ours alone (the event id, kind, trigger): the message is not at fault, but cannot be forwarded as mapped.
  return { segment: '', sequence: 0, field: 0, code: '207', text: `the message could not be mapped to an event the exchange takes (${problem.field} ${rule})` };
}
