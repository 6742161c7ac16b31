/**
 * A synthetic ICS waiting list of any size, made inside Postgres with `generate_series` (a million
 * pathways in well under a minute, no rows through Node). Shared by the candidate-selection
 * benchmark and the test that checks the candidate query's plan at realistic size.
 *
 * Shapes follow the national picture loosely: four trusts, ten specialties with uneven shares,
 * priorities P1 1% / P2 10% / P3 30% / P4 59%, waits up to about 60 weeks, 80% with a usable
 * mobile, 60% opted in, 25% willing to go to another trust, half with a current appointment,
 * and an offer history (one slot per 30 pathways, three offers each, the newest 2% live).
 * Repeatable: the same `seed` gives the same list. Identifiers are obviously synthetic (`BENCH…`).
 */
import { Client } from 'pg';

export const SEED_TFCS = ['110', '130', '120', '502', '100', '301', '320', '330', '300', '101'] as const;

export interface SeedOptions {
  seed?: number;
  /** Give patients Ofcom drama-range mobiles (for runs that send SMS); otherwise none is stored. */
  mobiles?: boolean;
  /** Leave out the offer history (a stack that will make its own offers). */
  offerHistory?: boolean;
}

export async function seedWaitingList(databaseUrl: string, entries: number, opts: SeedOptions = {}): Promise<void> {
  const { seed = 0.42, mobiles = false, offerHistory = true } = opts;
  const c = new Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    await c.query('SELECT setseed($1)', [seed]);
    await c.query(`
      INSERT INTO patient (id, nhs_number, birth_date, sex, postcode, mobile, mobile_status, sms_stopped)
      SELECT md5('p' || g)::uuid, 'BENCH' || lpad(g::text, 8, '0'),
             date '1940-01-01' + (random() * 30000)::int,
             (ARRAY['M', 'F', 'U'])[1 + (random() * 2.2)::int],
             NULL, CASE WHEN $2::boolean THEN '+447700900' || lpad((g % 1000)::text, 3, '0') END,
             CASE WHEN random() < 0.8 THEN 'valid' ELSE 'none' END,
             random() < 0.01
        FROM generate_series(1, $1::int) g`, [entries, mobiles]);
    await c.query(`
      INSERT INTO waiting_list_entry (id, trust_ods, pathway_id, patient_id, tfc, appointment_type, priority, priority_rank, rtt_start, breach_date,
                                      current_appointment_start, offer_consent, ics_wide_consent, any_site, acceptable_sites, status)
      SELECT md5('e' || g)::uuid, (ARRAY['RYJ', 'R1K', 'RQM', 'RAS'])[1 + g % 4], 'BENCH-' || g, md5('p' || g)::uuid,
             tfc, CASE WHEN random() < 0.7 THEN 'NEW' ELSE 'FUP' END, pr, pri, rtt,
             rtt + LEAST(CASE pr WHEN 'P1a' THEN 1 WHEN 'P1b' THEN 3 WHEN 'P2' THEN 28 WHEN 'P3' THEN 91 ELSE 126 END, 126),
             CASE WHEN random() < 0.5 THEN now() + make_interval(days => 1 + (random() * 120)::int) END,
             random() < 0.6, ics, ics AND random() < 0.5,
             CASE WHEN ics THEN ARRAY['RYJ01', 'R1K01'] ELSE '{}' END,
             CASE WHEN random() < 0.95 THEN 'open' ELSE 'paused' END
        FROM (
          SELECT g,
                 (ARRAY['110','110','130','130','120','120','502','502','100','301','320','330','300','101'])[1 + floor(random() * 14)::int] AS tfc,
                 random() < 0.25 AS ics,
                 current_date - (random() * 420)::int AS rtt,
                 CASE WHEN r < 0.005 THEN 'P1a' WHEN r < 0.01 THEN 'P1b' WHEN r < 0.11 THEN 'P2' WHEN r < 0.41 THEN 'P3' ELSE 'P4' END AS pr,
                 CASE WHEN r < 0.005 THEN 0 WHEN r < 0.01 THEN 1 WHEN r < 0.11 THEN 2 WHEN r < 0.41 THEN 3 ELSE 4 END AS pri
            FROM (SELECT g, random() AS r FROM generate_series(1, $1::int) g) s
        ) x`, [entries]);
    // Offer history, as after months of running: one slot per 30 pathways, a wave of three each,
    // the newest 2% still live (so the one-live-offer checks meet real rows).
    const slots = offerHistory ? Math.max(1, Math.floor(entries / 30)) : 0;
    await c.query(`
      INSERT INTO slot (id, trust_ods, site_ods, clinic_code, tfc, appointment_type, start_at, duration_minutes, filler_appointment_id, source_event_id, status, cutoff_at)
      SELECT md5('s' || g)::uuid, 'RYJ', 'RYJ01', '110-NEW', '110', 'NEW', now() + interval '3 days', 20, 'BENCH-F' || g, 'BENCH-S' || g,
             CASE WHEN g > $1::int * 0.98 THEN 'offering' ELSE 'unfilled' END, now() + interval '2 days'
        FROM generate_series(1, $1::int) g`, [slots]);
    await c.query(`
      INSERT INTO offer_wave (id, slot_id, round, status, policy_version, send_at, expires_at)
      SELECT md5('w' || g)::uuid, md5('s' || g)::uuid, 1, CASE WHEN g > $1::int * 0.98 THEN 'live' ELSE 'ended' END, 1, now(), now() + interval '2 hours'
        FROM generate_series(1, $1::int) g`, [slots]);
    await c.query(`
      INSERT INTO offer (slot_id, wave_id, entry_id, patient_id, rank, explanation, policy_version, code, token, status, expires_at)
      SELECT md5('s' || g)::uuid, md5('w' || g)::uuid, md5('e' || n)::uuid, md5('p' || n)::uuid, k, '{}', 1, (1000 + n % 9000)::text, 'BENCH-T' || n,
             CASE WHEN g > $1::int * 0.98 THEN 'live' ELSE 'expired' END, now() + interval '2 hours'
        FROM generate_series(1, $1::int) g, generate_series(1, 3) k, LATERAL (SELECT (g - 1) * 3 + k AS n) x`, [slots]);
    await c.query('ANALYZE patient; ANALYZE waiting_list_entry; ANALYZE slot; ANALYZE offer_wave; ANALYZE offer;');
  } finally {
    await c.end();
  }
}
