/**
 * Re-processing a trust's raw archive (`npm run adapter:replay -- --trust RQM --since …`): each
 * archived message in the window is judged again through the same intake, oldest first. Idempotent
 * by construction: an accepted control id is accepted once (the database's unique index), the
 * exchange acts on each event id once, and a message still refused gets no new archive row.
 */
import { DynamicModule, Module } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { PersistenceModule } from '@app/persistence';
import { IcsDirectory, PlatformModule, loadIcsDirectory } from '@app/platform';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ClinicMap } from './clinic-map';
import { AdapterConfig } from './config';
import { Hl7ArchiveService } from './hl7-archive.service';
import { Hl7IntakeService, ReplayOutcome } from './hl7-intake.service';

export interface ReplaySummary {
  trust: string;
  since: string;
  until: string;
  messages: number;
  outcomes: Record<ReplayOutcome, number>;
}

const PAGE = 500;

@Injectable()
export class ArchiveReplayer {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly intake: Hl7IntakeService,
    private readonly config: AdapterConfig,
  ) {}

  /** Replays messages received in [since, until); `until` defaults to now, so rows the replay itself adds are not replayed again. */
  async run(since: Date, until: Date = new Date()): Promise<ReplaySummary> {
    const outcomes: Record<ReplayOutcome, number> = { 'already-accepted': 0, accepted: 0, 'still-refused': 0, 're-forwarded': 0, 'awaiting-forward': 0 };
    let messages = 0;
    let after: { at: Date; id: string } | null = null;
    for (;;) {
      const page: Array<{ id: string; status: string; raw: string; forwarded_at: Date | null; received_at: Date; received_bytes: number | null }> = await this.ds.query(
        `SELECT id, status, raw, forwarded_at, received_at, received_bytes FROM hl7_message
          WHERE trust_ods = $1 AND received_at >= $2 AND received_at < $3 AND ($4::timestamptz IS NULL OR (received_at, id) > ($4, $5::uuid))
          ORDER BY received_at, id LIMIT ${PAGE}`,
        [this.config.TRUST_ODS, since, until, after?.at ?? null, after?.id ?? null],
      );
      for (const m of page) {
        outcomes[await this.intake.replay(m)]++;
        messages++;
      }
      if (page.length < PAGE) break;
      const last = page[page.length - 1];
      after = { at: last.received_at, id: last.id };
    }
    return { trust: this.config.TRUST_ODS, since: since.toISOString(), until: until.toISOString(), messages, outcomes };
  }
}

/**
 * Just enough of the adapter to judge messages: Postgres, the mapping and the intake; no ports
 * opened. Redis too, to see whether a message's forwarding job will still run and to clear a failed
 * one before ordering it again; no workers (the running adapter's relay and worker forward).
 */
@Module({})
export class ReplayModule {
  static forRoot(config: AdapterConfig): DynamicModule {
    return {
      module: ReplayModule,
      imports: [PlatformModule.forRoot({ config, configClass: AdapterConfig, redis: true }), PersistenceModule.forRoot({ relay: false })],
      providers: [{ provide: IcsDirectory, useValue: loadIcsDirectory(config.ICS_CONFIG_DIR) }, ClinicMap, Hl7ArchiveService, Hl7IntakeService, ArchiveReplayer],
    };
  }
}
