/**
 * Demo data for a believable ICS: per trust, waiting patients (999-range NHS numbers, Ofcom
 * drama-range mobiles, unique across the ICS) who each hold a later booked appointment, plus a
 * pool of other patients' near-term appointments; then a steady stream of cancellations of those
 * near-term appointments, which is what frees slots worth offering.
 */
import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { NHS_NUMBER_SYSTEM, ODS_SITE_SYSTEM } from '@app/contracts';
import { syntheticNhsNumber } from '@app/domain';
import { IcsDirectory, IcsTrust, parseKeyValueList } from '@app/platform';
import { Appointment, AppointmentStore } from './appointment-store';
import { PasSimConfig } from './config';
import { PtlPusher } from './ptl-pusher';
import { SiuSender } from './siu-sender';

export const SANDBOX_TFCS = ['100', '101', '110', '120', '130', '300', '301', '320', '330', '502'];
const DAY = 86_400_000;

/** mulberry32: small, seedable, good enough for synthetic data. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface DemoPatient {
  pathwayId: string; nhsNumber: string; birthDate: string; sex: 'M' | 'F'; tfc: string; type: 'NEW' | 'FUP'; priority: string;
  rttStart: string; mobile: string; postcode: string; offerConsent: boolean; icsWideConsent: boolean; sites: string; appointment: Appointment;
}

export function appointmentResource(nhs: string, site: string, clinic: string, start: Date, minutes = 20): fhir4.Appointment {
  return {
    resourceType: 'Appointment', status: 'booked', start: start.toISOString(), end: new Date(start.getTime() + minutes * 60000).toISOString(), minutesDuration: minutes,
    serviceType: [{ coding: [{ code: clinic }] }],
    participant: [
      { actor: { type: 'Patient', identifier: { system: NHS_NUMBER_SYSTEM, value: nhs } }, status: 'accepted' },
      { actor: { type: 'Location', identifier: { system: ODS_SITE_SYSTEM, value: site } }, status: 'accepted' },
    ],
  };
}

/** Clinic hours, Monday to Friday, 09:00–16:40 UTC in 20-minute steps. */
function clinicTime(base: number, r: () => number, minDays: number, maxDays: number): Date {
  for (;;) {
    const day = new Date(base + Math.floor(minDays + r() * (maxDays - minDays)) * DAY);
    if (day.getUTCDay() === 0 || day.getUTCDay() === 6) continue;
    day.setUTCHours(9 + Math.floor(r() * 8), Math.floor(r() * 3) * 20, 0, 0);
    return day;
  }
}

@Injectable()
export class DemoGenerator implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('demo');
  private timer?: NodeJS.Timeout;
  private stopped = false;
  readonly patients = new Map<string, DemoPatient[]>();
  private readonly nearTerm = new Map<string, string[]>();
  private readonly random: () => number;

  constructor(
    private readonly config: PasSimConfig,
    private readonly ics: IcsDirectory,
    private readonly store: AppointmentStore,
    private readonly siu: SiuSender,
    private readonly ptl: PtlPusher,
  ) {
    this.random = prng(config.SIM_SEED);
  }

  onApplicationBootstrap(): void {
    if (this.config.DEMO !== '1') return;
    this.seed(Date.now());
    // In the background: readiness never waits for the adapters.
    void this.pushWhenAdaptersReady().then(() => {
      if (this.stopped) return;
      this.timer = setInterval(() => void this.cancelOne(), this.config.DEMO_CANCEL_EVERY_MS);
      this.timer.unref();
    });
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  seed(now: number): void {
    const r = this.random;
    let mobile = 0;
    let nhs = 1000;
    for (const trust of this.ics.trusts) {
      const list: DemoPatient[] = [];
      for (let i = 0; i < this.config.DEMO_PATIENTS_PER_TRUST && mobile < 1000; i++) {
        const tfc = SANDBOX_TFCS[Math.floor(r() * SANDBOX_TFCS.length)];
        const type = r() < 0.7 ? 'NEW' : 'FUP';
        const sex = tfc === '502' ? 'F' : r() < 0.5 ? 'M' : 'F';
        const site = trust.sites[Math.floor(r() * trust.sites.length)];
        const nhsNumber = syntheticNhsNumber((nhs += 7 + Math.floor(r() * 50)));
        const appointment = this.store.create(trust.ods, appointmentResource(nhsNumber, site.ods, `${tfc}-${type}`, clinicTime(now, r, 35, 84)));
        const p = r();
        list.push({
          pathwayId: `${trust.ods}-PW${String(i + 1).padStart(6, '0')}`, nhsNumber, sex, tfc, type,
          birthDate: new Date(now - (18 + Math.floor(r() * 70)) * 365.25 * DAY).toISOString().slice(0, 10),
          priority: p < 0.1 ? 'P2' : p < 0.4 ? 'P3' : 'P4',
          rttStart: new Date(now - Math.floor(r() * 280) * DAY).toISOString().slice(0, 10),
          mobile: `+447700900${String(mobile++).padStart(3, '0')}`, postcode: site.postcode,
          offerConsent: r() < 0.8, icsWideConsent: r() < 0.4, sites: r() < 0.6 ? 'ANY' : site.ods, appointment,
        });
      }
      this.patients.set(trust.ods, list);
      this.topUpNearTerm(trust, now);
    }
    this.logger.log(`demo: ${[...this.patients.values()].reduce((s, l) => s + l.length, 0)} waiting patients across ${this.ics.trusts.length} trusts`);
  }

  /** Other patients' appointments 2–14 days ahead: the ones that get cancelled. */
  private topUpNearTerm(trust: IcsTrust, now: number): void {
    const pool = this.nearTerm.get(trust.ods) ?? [];
    while (pool.length < 40) {
      const tfc = SANDBOX_TFCS[Math.floor(this.random() * SANDBOX_TFCS.length)];
      const type = this.random() < 0.7 ? 'NEW' : 'FUP';
      const site = trust.sites[Math.floor(this.random() * trust.sites.length)];
      const a = this.store.create(trust.ods, appointmentResource(syntheticNhsNumber(500_000 + Math.floor(this.random() * 400_000)), site.ods, `${tfc}-${type}`, clinicTime(now, this.random, 2, 14)));
      pool.push(a.id);
    }
    this.nearTerm.set(trust.ods, pool);
  }

  private async pushWhenAdaptersReady(): Promise<void> {
    const ports = parseKeyValueList(this.config.ADAPTER_HTTP_PORTS);
    for (const trust of this.ics.trusts) {
      const deadline = Date.now() + 120_000;
      while (!this.stopped && Date.now() < deadline) {
        const ok = await fetch(`http://${this.config.ADAPTER_HOST}:${ports[trust.ods]}/health/ready`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
        if (ok) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      const res = await this.ptl.push(trust.ods, this.patients.get(trust.ods) ?? []).catch((e: Error) => ({ status: 0, body: e.message }));
      this.logger.log(`demo PTL for ${trust.ods}: ${res.status}`);
    }
  }

  private async cancelOne(): Promise<void> {
    const trust = this.ics.trusts[Math.floor(this.random() * this.ics.trusts.length)];
    const pool = this.nearTerm.get(trust.ods) ?? [];
    const id = pool.splice(Math.floor(this.random() * pool.length), 1)[0];
    const a = id ? this.store.get(trust.ods, id) : undefined;
    if (a && a.status === 'booked') {
      const cancelled = this.store.update(trust.ods, a.id, { ...a, status: 'cancelled', cancelationReason: { coding: [{ code: 'pat' }] } });
      await this.siu.cancelled(trust.ods, cancelled);
    }
    this.topUpNearTerm(trust, Date.now());
  }
}
