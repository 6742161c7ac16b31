/**
 * Candidate selection: one SQL statement that walks the `waiting_list_entry_candidates` index in
 * ranking order (priority, breach date, clock start, id) for one specialty and appointment type,
 * and stops after a window of rows. Everything SQL can check cheaply is checked here so that the
 * window is rarely wasted; the domain rules (`rankCandidates`) still judge every row and have the
 * final word. The plan is asserted in `candidate-plan.int-spec.ts`; the speed is a benchmark.
 *
 * Pages continue with a keyset (`after`) on the same index, so a specialty whose top entries all
 * fail a rule SQL cannot see (unavailable dates, travel distance) costs a few more index pages,
 * never a scan.
 */
import { Candidate, FreedSlot, MS_PER_DAY, MatchingPolicy, localDateIn, toIsoDate } from '@app/domain';
import { createHash } from 'node:crypto';
import type { NamedStatementClient } from '@app/persistence';

export interface CandidateKey {
  priorityRank: number;
  breachDate: string;
  rttStart: string;
  entryId: string;
}

export interface CandidateQueryInput {
  slot: FreedSlot;
  policy: MatchingPolicy;
  /** Admit other trusts' patients by travel distance too (only when distances can be known). */
  distanceKnowable: boolean;
  window: number;
  after?: CandidateKey | null;
  /**
   * First waves of several slots of the specialty at once (`planBatchWaves`): anyone a slot of
   * these trusts and sites could take (own trust, or ICS-wide consent and reach), with `slot`
   * the batch's earliest start and no clinic constraints; the domain judges each row per slot.
   */
  batch?: { trusts: string[]; sites: string[] };
}

export interface CandidateRow extends Candidate {
  postcode: string | null;
  key: CandidateKey;
}

export function candidateQuery(i: CandidateQueryInput): { text: string; values: unknown[] } {
  const { slot, policy } = i;
  // "Sooner by MIN_GAIN_DAYS": anyone whose current appointment is at least that long after the slot.
  const mustBeAfter = new Date(slot.start.getTime() + policy.minGainDays * MS_PER_DAY);
  const slotDay = localDateIn(slot.start, policy.timeZone);
  const k = slot.constraints ?? {};
  // Age bounds a day wider than the rule: SQL only narrows, the domain decides the exact birthday.
  const bornOnOrBefore = k.minAgeYears !== undefined ? shiftYears(slotDay, -k.minAgeYears, +1) : null;
  const bornOnOrAfter = k.maxAgeYears !== undefined ? shiftYears(slotDay, -(k.maxAgeYears + 1), -1) : null;
  const values: unknown[] = [
    slot.tfc, slot.appointmentType, slot.trustOds, slot.siteOds, mustBeAfter, slot.slotId,
    k.sex ?? null, bornOnOrBefore, bornOnOrAfter,
  ];
  let keyset = '';
  if (i.after) {
    values.push(i.after.priorityRank, i.after.breachDate, i.after.rttStart, i.after.entryId);
    keyset = `AND (e.priority_rank, e.breach_date, e.rtt_start, e.id) > ($10::smallint, $11::date, $12::date, $13::uuid)`;
  }
  const reach = i.distanceKnowable ? `OR e.max_travel_km IS NOT NULL` : '';
  if (i.batch) {
    values[2] = i.batch.trusts;
    values[3] = i.batch.sites;
  }
  const trusts = i.batch
    ? `(e.trust_ods = ANY ($3::text[]) OR (e.ics_wide_consent AND (e.any_site OR e.acceptable_sites && $4::text[] ${reach})))`
    : `(e.trust_ods = $3 OR (e.ics_wide_consent AND (e.any_site OR $4 = ANY (e.acceptable_sites) ${reach})))`;
  const text = `
    SELECT e.id, e.patient_id, e.trust_ods, e.tfc, e.appointment_type, e.priority, e.priority_rank, e.rtt_start, e.breach_date,
           e.current_appointment_start, e.offer_consent, e.ics_wide_consent, e.any_site, e.acceptable_sites, e.max_travel_km,
           e.unavailable, e.status, p.birth_date, p.sex, p.mobile_status, p.sms_stopped, p.postcode
      FROM waiting_list_entry e
      JOIN patient p ON p.id = e.patient_id
     WHERE e.status = 'open' AND e.offer_consent AND NOT e.offer_held AND e.tfc = $1 AND e.appointment_type = $2
       AND p.mobile_status = 'valid' AND NOT p.sms_stopped
       AND ${trusts}
       AND (e.current_appointment_start IS NULL OR e.current_appointment_start >= $5)
       AND ($7::text IS NULL OR p.sex = $7)
       AND ($8::date IS NULL OR p.birth_date <= $8)
       AND ($9::date IS NULL OR p.birth_date >= $9)
       -- offer_held (kept by a trigger on offer) keeps offer holders out of the index walk; this
       -- check is still the rule's, so a late flag costs a row, never a second offer.
       AND NOT EXISTS (SELECT 1 FROM offer o WHERE o.patient_id = e.patient_id AND o.status = 'live')
       -- Offered this slot before, through any of the patient's entries (one who declined it
       -- through their RQM pathway is not asked again through their RAS one).
       AND NOT EXISTS (SELECT 1 FROM offer o WHERE o.slot_id = $6 AND o.patient_id = e.patient_id)
       ${keyset}
     ORDER BY e.priority_rank, e.breach_date, e.rtt_start, e.id
     LIMIT ${Math.max(1, Math.floor(i.window))}`;
  return { text, values };
}

/**
 * The planner settings candidate pages are read under. The walk wanted is always the same: the
 * ranking index in order, each row's patient by primary key, the two offer checks by the patient's
 * offer indexes (`offer_one_live_per_patient`; `offer_by_patient`, a handful of rows a patient),
 * stopping after the window. Left to itself Postgres plans every execution afresh (about 1 ms,
 * twice the query's own run), because a generic plan's row estimate under LIMIT looks dearer
 * than it is; so the plan is generic, made once per connection. And a generic plan made from a
 * small or new list's statistics (tens of thousands of pathways, an offer table analysed while
 * empty) sorts the whole specialty after a hash join with a scan of every patient, and probes the
 * offers by sequential scan: 11–14 ms a page at 60,000 pathways instead of 0.2 ms, more as offers
 * accumulate. Turning those strategies off (and parallel workers) leaves the planner only the
 * walk (asserted in candidate-plan.int-spec.ts, at both sizes; the 1,000,000-row speed is
 * `candidate_select_p99_ms`). Local to the transaction, and put back once the pages are read, so
 * the rest of it is planned as usual.
 */
export const CANDIDATE_PLANNER_SETTINGS: Readonly<Record<string, string>> = {
  plan_cache_mode: 'force_generic_plan',
  enable_sort: 'off',
  enable_hashjoin: 'off',
  enable_mergejoin: 'off',
  enable_bitmapscan: 'off',
  enable_seqscan: 'off',
  // With the others off, a large list's plan turned to a parallel walk (Gather Merge): starting
  // workers cost 10–20 ms for a 16-row page. And no materialised copy of the one-slot offer probe.
  max_parallel_workers_per_gather: '0',
  enable_material: 'off',
};

/** One round trip that applies (or, with `reset`, puts back) the candidate planner settings for the rest of the transaction. */
export function candidatePlannerSql(reset = false): string {
  return Object.entries(CANDIDATE_PLANNER_SETTINGS).map(([k, v]) => `SET LOCAL ${k} = ${reset ? 'DEFAULT' : v}`).join('; ');
}

/**
 * Reads candidate pages as the matching worker does, inside the caller's transaction: each page
 * is a named statement (parsed once per connection) run under the one generic plan of
 * `CANDIDATE_PLANNER_SETTINGS`, which does not depend on the values: for any specialty, type,
 * trust and constraints it is the same walk of the ranking index.
 */
export async function readCandidatePages<T>(client: NamedStatementClient, read: (page: (input: CandidateQueryInput) => Promise<CandidateRow[]>) => Promise<T>): Promise<T> {
  await client.query(candidatePlannerSql());
  let result: T;
  try {
    result = await read(async (input) => {
      const q = candidateQuery(input);
      const { rows } = await client.query({ name: statementName(q.text), text: q.text, values: q.values });
      return rows.map(toCandidateRow);
    });
  } catch (e) {
    // A caller that goes on in this transaction after a failed read must not plan with these
    // settings; an aborted transaction refuses the reset too, and then nothing can use it anyway.
    await client.query(candidatePlannerSql(true)).catch(() => undefined);
    throw e;
  }
  await client.query(candidatePlannerSql(true));
  return result;
}

/** One name per statement text (a few variants: with or without a keyset, by distance or not), as `pg` requires. */
function statementName(text: string): string {
  return `candidates-${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
}

function shiftYears(d: Date, years: number, slackDays: number): string {
  const x = new Date(Date.UTC(d.getUTCFullYear() + years, d.getUTCMonth(), d.getUTCDate()) + slackDays * MS_PER_DAY);
  return toIsoDate(x);
}

export function toCandidateRow(r: Record<string, unknown>): CandidateRow {
  const unavailable = (r.unavailable as Array<{ from: string; to: string }>) ?? [];
  return {
    entryId: r.id as string,
    patientId: r.patient_id as string,
    trustOds: r.trust_ods as string,
    tfc: r.tfc as string,
    appointmentType: r.appointment_type as Candidate['appointmentType'],
    priority: r.priority as Candidate['priority'],
    rttStart: asDate(r.rtt_start),
    breachDate: asDate(r.breach_date),
    // No recorded birth date passes no age band (see the SQL) and is otherwise irrelevant.
    birthDate: asDate(r.birth_date ?? '1900-01-01'),
    sex: (r.sex as Candidate['sex']) ?? null,
    currentAppointmentStart: r.current_appointment_start ? new Date(r.current_appointment_start as string) : null,
    offerConsent: r.offer_consent as boolean,
    icsWideConsent: r.ics_wide_consent as boolean,
    acceptableSites: r.any_site ? 'ANY' : (r.acceptable_sites as string[]),
    maxTravelKm: r.max_travel_km == null ? null : Number(r.max_travel_km),
    unavailable: unavailable.map((u) => ({ from: asDate(u.from), to: asDate(u.to) })),
    status: r.status as Candidate['status'],
    // The query leaves out anyone holding a live offer; the unique index catches a race.
    hasLiveOffer: false,
    mobileValid: r.mobile_status === 'valid',
    smsStopped: r.sms_stopped as boolean,
    postcode: (r.postcode as string | null) ?? null,
    key: { priorityRank: Number(r.priority_rank), breachDate: isoDay(r.breach_date), rttStart: isoDay(r.rtt_start), entryId: r.id as string },
  };
}

function isoDay(v: unknown): string {
  return v instanceof Date ? toIsoDate(v) : String(v).slice(0, 10);
}

function asDate(v: unknown): Date {
  if (v instanceof Date) return v;
  return new Date(`${String(v).slice(0, 10)}T00:00:00Z`);
}
