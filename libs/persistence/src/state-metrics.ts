/**
 * What the ICS holds right now, from Postgres (the source of truth), for dashboards and alerts:
 * slots by trust and state, offers by state (live = sent and waiting, accepted, expired, declined,
 * superseded, undeliverable), bookings by state and those that need a person. Read on scrape,
 * at most every 15 s whatever the number of scrapers; registered by the exchange only, so the
 * counts are not repeated by every process. Labels: trust codes and states, never personal data.
 */
import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { MetricsService } from '@app/platform';
import { DataSource } from 'typeorm';

const FRESH_MS = 15_000;

interface Snapshot {
  slots: Array<{ trust_ods: string; status: string; n: number }>;
  offers: Array<{ status: string; n: number }>;
  bookings: Array<{ status: string; n: number }>;
  attention: number;
}

@Injectable()
export class StateMetrics implements OnModuleInit {
  private last?: { at: number; snapshot: Promise<Snapshot> };

  constructor(@InjectDataSource() private readonly ds: DataSource, private readonly metrics: MetricsService) {}

  onModuleInit(): void {
    const read = () => this.snapshot();
    this.metrics.gauge('slots', 'Freed slots by owning trust and state', ['trust', 'state'], async function collect() {
      const s = await read();
      this.reset();
      for (const r of s.slots) this.set({ trust: r.trust_ods, state: r.status }, r.n);
    });
    this.metrics.gauge('offers', 'Offers by state (live: sent and awaiting an answer)', ['state'], async function collect() {
      const s = await read();
      this.reset();
      for (const r of s.offers) this.set({ state: r.status }, r.n);
    });
    this.metrics.gauge('bookings', 'Bookings by state', ['state'], async function collect() {
      const s = await read();
      this.reset();
      for (const r of s.bookings) this.set({ state: r.status }, r.n);
    });
    this.metrics.gauge('bookings_needing_attention', 'Bookings flagged for a person (write-back failed for good, two appointments held)', [], async function collect() {
      this.set((await read()).attention);
    });
  }

  private snapshot(): Promise<Snapshot> {
    if (this.last && Date.now() - this.last.at < FRESH_MS) return this.last.snapshot;
    const snapshot = (async (): Promise<Snapshot> => ({
      slots: await this.ds.query(`SELECT trust_ods, status, count(*)::int AS n FROM slot GROUP BY 1, 2`),
      offers: await this.ds.query(`SELECT status, count(*)::int AS n FROM offer GROUP BY 1`),
      bookings: await this.ds.query(`SELECT status, count(*)::int AS n FROM booking GROUP BY 1`),
      attention: (await this.ds.query(`SELECT count(*)::int AS n FROM booking WHERE needs_attention IS NOT NULL`))[0].n as number,
    }))();
    this.last = { at: Date.now(), snapshot };
    snapshot.catch(() => (this.last = undefined));
    return snapshot;
  }
}
