/**
 * One row per freed slot with what became of it, for the overview and flows (migration
 * 1764400014000-dashboard-slot-facts): the cached rows of `dashboard_slot_fact`, except slots with
 * a pending change (a row in `dashboard_slot_fact_dirty`), whose rows are computed from the base
 * tables (`dashboard_slot_fact_source`) instead. So a read is exact at its snapshot whether or not
 * the drain job has caught up; the job only keeps the live part small.
 *
 * `source: 'base'` reads only the view, i.e. the base tables: what the cache must always equal
 * (the integration test compares the two).
 */
import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { DashboardConfig } from './config';
import { errorMessage } from '@app/platform';

export type FactSource = 'cache' | 'base';

const COLUMNS = 'slot_id, trust_ods, site_ods, tfc, status, closed_reason, released_at, start_at, offered, sms, booked_at, previous_appointment_start, home_trust_ods';

/**
 * A subquery of slot facts; `where(alias)` is the SQL condition on the release time and filters,
 * written against that alias (applied on both sides so each uses its index).
 */
export function slotFacts(where: (alias: string) => string, source: FactSource = 'cache'): string {
  if (source === 'base') return `(SELECT ${COLUMNS} FROM dashboard_slot_fact_source v WHERE ${where('v')})`;
  const prefixed = (a: string) => COLUMNS.split(', ').map((c) => `${a}.${c}`).join(', ');
  return `(SELECT ${prefixed('f')} FROM dashboard_slot_fact f
            WHERE ${where('f')} AND f.slot_id NOT IN (SELECT slot_id FROM dashboard_slot_fact_dirty)
           UNION ALL
           SELECT ${prefixed('v')} FROM dashboard_slot_fact_source v
            WHERE v.slot_id IN (SELECT slot_id FROM dashboard_slot_fact_dirty) AND ${where('v')})`;
}

/** Folds pending changes into the cache; returns how many slots it rewrote (0 if another replica holds the job). */
export async function drainSlotFacts(q: Pick<EntityManager, 'query'>): Promise<number> {
  const [row] = await q.query(`SELECT dashboard_slot_fact_drain() AS n`);
  return Number(row.n);
}

/** The incremental job: drains the dirty list every FACTS_DRAIN_MS in each dashboard process. */
@Injectable()
export class SlotFactsJob implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('slot-facts');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(@InjectDataSource() private readonly ds: DataSource, private readonly config: DashboardConfig) {}

  onApplicationBootstrap(): void {
    void this.drain();
    this.timer = setInterval(() => void this.drain(), this.config.FACTS_DRAIN_MS);
    this.timer.unref();
  }

  async drain(): Promise<void> {
    if (this.running) return this.running;
    this.running = (async () => {
      try {
        const n = await drainSlotFacts(this.ds);
        if (n > 1000) this.logger.log(`slot facts: folded ${n} changed slots into the cache`);
      } catch (e) {
        this.logger.warn(`slot facts drain failed: ${errorMessage(e)}`);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
