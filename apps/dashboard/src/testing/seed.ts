/**
 * Test data for the dashboard straight in the database, shaped as the exchange leaves it: freed
 * slots, waves, offers with their ranking explanation, bookings, refused HL7 messages, PTL import
 * records. Synthetic people only (999-range NHS numbers).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { syntheticNhsNumbers } from '@app/domain';

const HOUR = 3_600_000;

let seq = Math.floor(Math.random() * 300_000);
/** Distinct numbers from a random base, so seeds of runs that share a database rarely meet. */
const nhsNumbers = syntheticNhsNumbers(Math.floor(Math.random() * 300_000));
const nextNhsNumber = (): string => nhsNumbers.next().value as string;

export class Seed {
  constructor(private readonly pg: Client) {}

  async patient(trust: string): Promise<{ patientId: string; entryId: string; nhs: string }> {
    const nhs = nextNhsNumber();
    const [p] = (await this.pg.query(`INSERT INTO patient (nhs_number, mobile, mobile_status) VALUES ($1, '+447700900123', 'valid') ON CONFLICT (nhs_number) DO UPDATE SET updated_at = now() RETURNING id`, [nhs])).rows;
    const [e] = (await this.pg.query(
      `INSERT INTO waiting_list_entry (trust_ods, pathway_id, patient_id, tfc, appointment_type, priority, priority_rank, rtt_start, breach_date, offer_consent, ics_wide_consent, any_site)
       VALUES ($1, $2, $3, '330', 'NEW', 'P2', 3, '2026-03-01', '2026-06-01', true, true, true) RETURNING id`,
      [trust, `PW-${randomUUID()}`, p.id],
    )).rows;
    return { patientId: p.id, entryId: e.id, nhs };
  }

  async slot(o: { trust: string; site: string; tfc?: string; status?: string; releasedAt?: Date; startAt?: Date; closedReason?: string }): Promise<string> {
    const start = o.startAt ?? new Date(Date.now() + 72 * HOUR);
    const [s] = (await this.pg.query(
      `INSERT INTO slot (trust_ods, site_ods, clinic_code, tfc, appointment_type, start_at, duration_minutes, filler_appointment_id, source_event_id, status, closed_reason, cutoff_at, released_at, closed_at)
       VALUES ($1, $2, $3 || '-NEW', $3, 'NEW', $4, 20, $5, $6, $7, $8, $4::timestamptz - interval '24 hours', $9, CASE WHEN $7 IN ('unfilled', 'too_late', 'withdrawn') THEN now() END) RETURNING id`,
      [o.trust, o.site, o.tfc ?? '330', start, `F-${randomUUID()}`, randomUUID(), o.status ?? 'offering', o.closedReason ?? null, o.releasedAt ?? new Date()],
    )).rows;
    return s.id;
  }

  async offer(slotId: string, who: { patientId: string; entryId: string }, o: { round?: number; rank?: number; status?: string } = {}): Promise<{ offerId: string; waveId: string }> {
    const round = o.round ?? 1;
    const [w] = (await this.pg.query(
      `INSERT INTO offer_wave (slot_id, round, status, policy_version, send_at, expires_at) VALUES ($1, $2, 'live', 1, now(), now() + interval '2 hours')
       ON CONFLICT (slot_id, round) DO UPDATE SET status = offer_wave.status RETURNING id`,
      [slotId, round],
    )).rows;
    const rank = o.rank ?? 1;
    const explanation = { rank, priority: 'P2', breachDate: '2026-06-01', rttStart: '2026-03-01', daysWaiting: 274, tieBreak: who.entryId, sameTrust: true, summary: `P2, breaches 2026-06-01, waiting since 2026-03-01 (274 days)`, policyVersion: 1 };
    const [offer] = (await this.pg.query(
      `INSERT INTO offer (slot_id, wave_id, entry_id, patient_id, rank, explanation, policy_version, code, token, status, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, now() + interval '2 hours') RETURNING id`,
      [slotId, w.id, who.entryId, who.patientId, rank, JSON.stringify(explanation), String(1000 + (++seq % 9000)), randomBytes(24).toString('base64url'), o.status ?? 'expired'],
    )).rows;
    return { offerId: offer.id, waveId: w.id };
  }

  async booking(slotId: string, offerId: string, who: { patientId: string; entryId: string }, o: { owning: string; home: string; status?: string; previousStart?: Date; needsAttention?: string }): Promise<string> {
    const [b] = (await this.pg.query(
      `INSERT INTO booking (slot_id, offer_id, entry_id, patient_id, status, owning_trust_ods, home_trust_ods, previous_appointment_start, needs_attention, confirmed_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $5 = 'confirmed' THEN now() END) RETURNING id`,
      [slotId, offerId, who.entryId, who.patientId, o.status ?? 'confirmed', o.owning, o.home, o.previousStart ?? null, o.needsAttention ?? null],
    )).rows;
    // The booking service's failures list, where its table exists (issue 5), as it would write it.
    if (o.needsAttention && (await this.pg.query(`SELECT to_regclass('booking_failure') IS NOT NULL AS t`)).rows[0].t) {
      await this.pg.query(
        `INSERT INTO booking_failure (booking_id, kind, trust_ods, slot_id, reason) VALUES ($1, 'double-held', $2, $3, $4)`,
        [b.id, o.home, slotId, o.needsAttention],
      );
    }
    return b.id;
  }

  async refusedHl7(trust: string, error: string): Promise<string> {
    const [h] = (await this.pg.query(
      `INSERT INTO hl7_message (trust_ods, control_id, message_type, status, ack_code, error, raw) VALUES ($1, $2, 'SIU^S15', 'refused', 'AE', $3, 'MSH|^~\\&|PAS|' || $1 || '|') RETURNING id`,
      [trust, `CTRL${++seq}`, error],
    )).rows;
    return h.id;
  }

  /** A PTL snapshot's import record as the exchange's waiting-list service leaves it, `hoursAgo` started. */
  async ptlImport(trust: string, o: { hoursAgo: number; status?: string; rows?: number; rejected?: number; closed?: number; deferred?: number; closingWithheld?: string }): Promise<string> {
    const status = o.status ?? 'completed';
    const [r] = (await this.pg.query(
      `INSERT INTO ptl_import (trust_ods, mode, status, started_at, completed_at, rows, rejected, closed, deferred, closing_withheld)
       VALUES ($1, 'snapshot', $2, now() - make_interval(secs => $3 * 3600), CASE WHEN $2 = 'completed' THEN now() - make_interval(secs => $3 * 3600 - 90) END, $4, $5, $6, $7, $8)
       RETURNING id`,
      [trust, status, o.hoursAgo, o.rows ?? null, o.rejected ?? null, o.closed ?? 0, o.deferred ?? 0, o.closingWithheld ?? null],
    )).rows;
    return r.id;
  }
}
