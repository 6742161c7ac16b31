/**
 * The raw HL7 archive of one trust (`hl7_message`: every message received, accepted or refused,
 * exactly as it came) and the operators' list of clinic codes the mapping does not know. The
 * archive is searchable by MSH-10 for the trust's interface team, and kept for
 * `HL7_ARCHIVE_RETENTION_DAYS`: an accepted message is never dropped before it has been forwarded.
 */
import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { rows } from '@app/persistence';
import { DataSource } from 'typeorm';
import { ClinicMap } from './clinic-map';
import { AdapterConfig } from './config';

export interface ArchivedMessage {
  id: string;
  controlId: string;
  messageType: string | null;
  status: 'accepted' | 'refused';
  ackCode: 'AA' | 'AE' | 'AR';
  error: string | null;
  receivedAt: string;
  forwardedAt: string | null;
  forwardOutcome: string | null;
  replayedAt: string | null;
  replayOutcome: string | null;
  raw: string;
  /** A message refused for its size: the bytes that arrived, of which `raw` is only the head. */
  receivedBytes: number | null;
}

export interface UnmappedClinic {
  clinicCode: string;
  messages: number;
  firstSeenAt: string;
  lastSeenAt: string;
  lastControlId: string | null;
  mappingVersion: string | null;
}

const SWEEP_EVERY_MS = 60 * 60_000;
/** Rows deleted per statement, so a first sweep over a long backlog does not hold one huge lock. */
const SWEEP_BATCH = 5000;

const iso = (d: Date | string | null): string | null => (d ? new Date(d).toISOString() : null);

@Injectable()
export class Hl7ArchiveService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('hl7-archive');
  private timer?: NodeJS.Timeout;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly config: AdapterConfig,
    private readonly clinics: ClinicMap,
  ) {
    // A reloaded mapping that knows a code takes it off the operators' list.
    clinics.onReload((codes) => void this.markMapped(codes).catch((e: Error) => this.logger.warn(`unmapped list not updated: ${e.message}`)));
  }

  onApplicationBootstrap(): void {
    const sweep = () => void this.sweep().catch((e: Error) => this.logger.warn(`archive sweep failed: ${e.message}`));
    this.timer = setInterval(sweep, SWEEP_EVERY_MS);
    this.timer.unref();
    sweep();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Every archived message with this MSH-10, newest first (a refused one may have been resent). */
  async byControlId(controlId: string): Promise<ArchivedMessage[]> {
    const found = await this.ds.query(
      `SELECT id, control_id, message_type, status, ack_code, error, received_at, forwarded_at, forward_outcome, replayed_at, replay_outcome, raw, received_bytes
         FROM hl7_message WHERE trust_ods = $1 AND control_id = $2 ORDER BY received_at DESC LIMIT 100`,
      [this.config.TRUST_ODS, controlId],
    );
    return found.map((r: Record<string, any>) => ({
      id: r.id, controlId: r.control_id, messageType: r.message_type, status: r.status, ackCode: r.ack_code, error: r.error,
      receivedAt: iso(r.received_at)!, forwardedAt: iso(r.forwarded_at), forwardOutcome: r.forward_outcome,
      replayedAt: iso(r.replayed_at), replayOutcome: r.replay_outcome, raw: r.raw, receivedBytes: r.received_bytes,
    }));
  }

  /** Counts one message refused for an unmapped clinic. */
  async recordUnmapped(clinicCode: string, controlId: string): Promise<void> {
    await this.ds.query(
      `INSERT INTO unmapped_clinic (trust_ods, clinic_code, messages, last_control_id, mapping_version) VALUES ($1, $2, 1, $3, $4)
       ON CONFLICT (trust_ods, clinic_code) DO UPDATE SET messages = unmapped_clinic.messages + 1, last_seen_at = now(),
         last_control_id = EXCLUDED.last_control_id, mapping_version = EXCLUDED.mapping_version, mapped_at = NULL`,
      [this.config.TRUST_ODS, clinicCode, controlId || null, this.clinics.version],
    );
  }

  /** Clinic codes still unknown to the mapping in force, most often sent first. */
  async unmapped(): Promise<UnmappedClinic[]> {
    const found = await this.ds.query(
      `SELECT clinic_code, messages, first_seen_at, last_seen_at, last_control_id, mapping_version FROM unmapped_clinic
        WHERE trust_ods = $1 AND mapped_at IS NULL ORDER BY messages DESC, clinic_code`,
      [this.config.TRUST_ODS],
    );
    return found
      .filter((r: Record<string, any>) => !this.clinics.lookup(r.clinic_code))
      .map((r: Record<string, any>) => ({
        clinicCode: r.clinic_code, messages: r.messages, firstSeenAt: iso(r.first_seen_at)!, lastSeenAt: iso(r.last_seen_at)!,
        lastControlId: r.last_control_id, mappingVersion: r.mapping_version,
      }));
  }

  async markMapped(codes: string[]): Promise<void> {
    if (codes.length === 0) return;
    await this.ds.query(
      `UPDATE unmapped_clinic SET mapped_at = now() WHERE trust_ods = $1 AND mapped_at IS NULL AND clinic_code = ANY($2::text[])`,
      [this.config.TRUST_ODS, codes],
    );
  }

  /** Deletes messages past retention; returns how many went. */
  async sweep(now: Date = new Date()): Promise<number> {
    const before = new Date(now.getTime() - this.config.HL7_ARCHIVE_RETENTION_DAYS * 86_400_000);
    let total = 0;
    for (;;) {
      const gone = await rows(this.ds,
        `DELETE FROM hl7_message WHERE id IN (
           SELECT id FROM hl7_message WHERE trust_ods = $1 AND received_at < $2 AND (status = 'refused' OR forwarded_at IS NOT NULL)
            LIMIT ${SWEEP_BATCH}) RETURNING id`,
        [this.config.TRUST_ODS, before],
      );
      total += gone.length;
      if (gone.length < SWEEP_BATCH) break;
    }
    if (total > 0) this.logger.log(`archive: ${total} messages older than ${this.config.HL7_ARCHIVE_RETENTION_DAYS} days removed`);
    return total;
  }
}
