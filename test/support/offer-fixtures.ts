/**
 * Builds a live offer straight in the database, the way matching leaves one (patient, open
 * waiting-list entry, slot in `offering`, a live wave, the offer with its code and random token,
 * and its queued SMS with the outbox row that sends it). For the notifier's tests, which are about
 * what happens after matching. Synthetic people only: 999-range NHS numbers, Ofcom drama mobiles.
 */
import type { SmsKind } from '@app/contracts';
import { syntheticNhsNumber } from '@app/domain';
import { queueSms, wordingFor } from '@app/persistence';
import { loadIcsDirectory } from '@app/platform';
import { randomBytes, randomInt } from 'node:crypto';
import { Client } from 'pg';
import type { EntityManager } from 'typeorm';

const HOUR = 3_600_000;

/** TypeORM-style `query` (rows back) over a pg client, so the persistence helpers run on it. */
export const queryable = (pg: Client): Pick<EntityManager, 'query'> => ({
  query: (async (text: string, params?: unknown[]) => (await pg.query(text, params as unknown[])).rows) as EntityManager['query'],
});


export interface OfferFixture {
  patientId: string;
  entryId: string;
  slotId: string;
  offerId: string;
  smsId: string | null;
  token: string;
  code: string;
  mobile: string;
}

let seq = randomInt(0, 400_000);

export interface OfferOptions {
  mobile?: string;
  /** When the offer ends (default in two hours); in the past for an expired link. */
  expiresAt?: Date;
  status?: string;
  siteOds?: string;
  trustOds?: string;
  homeTrustOds?: string;
  /** Queue the offer's SMS (default true); a bare offer otherwise. */
  sms?: boolean;
  offerPageBaseUrl?: string;
  icsWideConsent?: boolean;
  /** The clock the slot's start and the offer's default end are set by (default the real one): a suite on a fixed clock passes its own. */
  now?: Date;
  /** The offer SMS's queue priority (as matching orders it by the slot's cut-off; default none). */
  smsPriority?: number;
  /** The offer SMS's send time (default at once). */
  smsSendAt?: Date;
}

export async function createOffer(pg: Client, opts: OfferOptions = {}): Promise<OfferFixture> {
  const ics = loadIcsDirectory(process.env.ICS_CONFIG_DIR || undefined);
  const n = ++seq;
  const mobile = opts.mobile ?? `+447700900${String(n % 1000).padStart(3, '0')}`;
  const trustOds = opts.trustOds ?? 'RQM';
  const siteOds = opts.siteOds ?? 'RQM01';
  const now = opts.now?.getTime() ?? Date.now();
  const start = new Date(now + 72 * HOUR);
  const expiresAt = opts.expiresAt ?? new Date(now + 2 * HOUR);
  const q = (t: string, p: unknown[]) => pg.query(t, p).then((r) => r.rows);
  const [patient] = await q(`INSERT INTO patient (nhs_number, mobile, mobile_status, birth_date) VALUES ($1, $2, 'valid', '1970-01-01') RETURNING id`, [syntheticNhsNumber(n * 7 + 100_000), mobile]);
  const [entry] = await q(
    `INSERT INTO waiting_list_entry (trust_ods, pathway_id, patient_id, tfc, appointment_type, priority, priority_rank, rtt_start, breach_date, offer_consent, ics_wide_consent)
     VALUES ($1, $2, $3, '330', 'NEW', 'P3', 3, '2026-06-01', '2026-10-01', true, $4) RETURNING id`,
    [opts.homeTrustOds ?? trustOds, `PW${n}-${randomBytes(3).toString('hex')}`, patient.id, opts.icsWideConsent ?? true],
  );
  const [slot] = await q(
    `INSERT INTO slot (trust_ods, site_ods, clinic_code, tfc, appointment_type, start_at, duration_minutes, filler_appointment_id, source_event_id, status, cutoff_at)
     VALUES ($1, $2, '330-NEW', '330', 'NEW', $3, 20, $4, $4, 'offering', $5) RETURNING id, trust_ods, site_ods, tfc, start_at`,
    [trustOds, siteOds, start, `F${n}-${randomBytes(4).toString('hex')}`, new Date(start.getTime() - 24 * HOUR)],
  );
  const [wave] = await q(
    `INSERT INTO offer_wave (slot_id, round, status, policy_version, send_at, expires_at) VALUES ($1, 1, 'live', 1, now(), $2) RETURNING id`,
    [slot.id, expiresAt],
  );
  const code = String(1000 + (n % 9000));
  const token = randomBytes(24).toString('base64url');
  const [offer] = await q(
    `INSERT INTO offer (slot_id, wave_id, entry_id, patient_id, rank, explanation, policy_version, code, token, status, expires_at)
     VALUES ($1, $2, $3, $4, 1, '{}', 1, $5, $6, $7, $8) RETURNING id`,
    [slot.id, wave.id, entry.id, patient.id, code, token, opts.status ?? 'live', expiresAt],
  );
  let smsId: string | null = null;
  if (opts.sms !== false) {
    const words = wordingFor(ics, slot);
    const ends = wordingFor(ics, { ...slot, start_at: expiresAt });
    smsId = await queueSms(queryable(pg), {
      patientId: patient.id, offerId: offer.id, kind: 'offer', dedupeKey: `offer-${offer.id}`, priority: opts.smsPriority, sendAt: opts.smsSendAt,
      personalisation: { ...words, code, expires: `${ends.time} on ${ends.date}`, link: `${(opts.offerPageBaseUrl ?? 'http://127.0.0.1:3002').replace(/\/$/, '')}/o/${token}` },
    });
  }
  return { patientId: patient.id, entryId: entry.id, slotId: slot.id, offerId: offer.id, smsId, token, code, mobile };
}

/** A message of any other kind to a new patient (no offer), queued for sending. */
export async function createMessage(pg: Client, kind: SmsKind, mobile?: string, personalisation: Record<string, string> = {}): Promise<{ patientId: string; smsId: string; mobile: string }> {
  const n = ++seq;
  const phone = mobile ?? `+447700900${String(n % 1000).padStart(3, '0')}`;
  const [patient] = (await pg.query(`INSERT INTO patient (nhs_number, mobile, mobile_status) VALUES ($1, $2, 'valid') RETURNING id`, [syntheticNhsNumber(n * 7 + 100_000), phone])).rows;
  const smsId = (await queueSms(queryable(pg), { patientId: patient.id, kind, personalisation, dedupeKey: `${kind}-${patient.id}` })) as string;
  return { patientId: patient.id, smsId, mobile: phone };
}
