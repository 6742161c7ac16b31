/**
 * `npm run demo:audit`: checks that the exchange's records and the sandbox PASs agree, on a
 * running stack (the demo, or any other). What it holds to, from DESIGN.md's invariants:
 * - no slot has more than one live (pending or confirmed) booking;
 * - every confirmed booking is exactly one `booked` appointment in the owning trust's PAS,
 *   carrying our booking identifier, and no PAS holds a second appointment for one booking;
 * - no PAS appointment carries a booking identifier the exchange does not know;
 * - a confirmed booking that moved the patient has their old appointment cancelled at home, unless
 *   that cancel is flagged for a person (double-held).
 * Prints the figures (counts only: no patient data) and exits 1 on any disagreement.
 *
 * DATABASE_URL names the stack's database; PAS_SIM_URL (default http://127.0.0.1:3200, shifted
 * by PORT_OFFSET) its pas-sim.
 */
import { BOOKING_IDENTIFIER_SYSTEM } from '@app/contracts';
import { Client } from 'pg';
import { loadTrusts } from './processes';

type PasAppointment = { id: string; status: string; identifier?: Array<{ system?: string; value?: string }> };

export interface AuditInput {
  bookings: Array<{ id: string; slot_id: string; status: string; owning_trust_ods: string; home_trust_ods: string; previous_appointment_id: string | null; needs_attention: string | null }>;
  pas: Record<string, PasAppointment[]>;
}

export interface AuditReport {
  bookings: Record<string, number>;
  pasAppointmentsWithBookingId: number;
  problems: string[];
}

/** The comparison itself, pure so that it can be tested on hand-made disagreements. */
export function audit({ bookings, pas }: AuditInput): AuditReport {
  const problems: string[] = [];
  const byStatus: Record<string, number> = {};
  const liveBySlot = new Map<string, number>();
  for (const b of bookings) {
    byStatus[b.status] = (byStatus[b.status] ?? 0) + 1;
    if (b.status !== 'failed') liveBySlot.set(b.slot_id, (liveBySlot.get(b.slot_id) ?? 0) + 1);
  }
  for (const [slot, n] of liveBySlot) if (n > 1) problems.push(`slot ${slot} has ${n} live bookings`);

  const ours = new Map<string, Array<{ trust: string; a: PasAppointment }>>();
  for (const [trust, list] of Object.entries(pas)) {
    for (const a of list) {
      const id = a.identifier?.find((i) => i.system === BOOKING_IDENTIFIER_SYSTEM)?.value;
      if (!id) continue;
      ours.set(id, [...(ours.get(id) ?? []), { trust, a }]);
    }
  }
  const known = new Map(bookings.map((b) => [b.id, b]));
  for (const [id, found] of ours) {
    if (!known.has(id)) problems.push(`a PAS appointment at ${found[0].trust} carries booking ${id}, which the exchange does not know`);
    if (found.length > 1) problems.push(`booking ${id} has ${found.length} PAS appointments`);
  }
  for (const b of bookings) {
    if (b.status !== 'confirmed') continue;
    const found = (ours.get(b.id) ?? []).filter((f) => f.trust === b.owning_trust_ods && f.a.status === 'booked');
    if (found.length !== 1) problems.push(`confirmed booking ${b.id} has ${found.length} booked appointments in ${b.owning_trust_ods}'s PAS`);
    if (b.previous_appointment_id && !b.needs_attention) {
      const old = (pas[b.home_trust_ods] ?? []).find((a) => a.id === b.previous_appointment_id);
      if (old && old.status !== 'cancelled') problems.push(`confirmed booking ${b.id}: the old appointment at ${b.home_trust_ods} is still ${old.status}`);
    }
  }
  return { bookings: byStatus, pasAppointmentsWithBookingId: ours.size, problems };
}

export async function collect(databaseUrl: string, pasSimUrl: string): Promise<AuditInput> {
  const pg = new Client({ connectionString: databaseUrl });
  await pg.connect();
  try {
    const { rows } = await pg.query(
      `SELECT id, slot_id, status, owning_trust_ods, home_trust_ods, previous_appointment_id, needs_attention FROM booking`,
    );
    const pas: Record<string, PasAppointment[]> = {};
    for (const t of loadTrusts()) {
      const res = await fetch(`${pasSimUrl}/sim/${t.ods}/appointments`, { signal: AbortSignal.timeout(10_000) });
      if (!res.ok) throw new Error(`pas-sim answered ${res.status} for ${t.ods}`);
      pas[t.ods] = (await res.json()) as PasAppointment[];
    }
    return { bookings: rows, pas };
  } finally {
    await pg.end();
  }
}

async function main(): Promise<number> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    process.stderr.write('Set DATABASE_URL to the running stack\'s database.\n');
    return 2;
  }
  const pasSimUrl = process.env.PAS_SIM_URL ?? `http://127.0.0.1:${3200 + Number(process.env.PORT_OFFSET ?? 0)}`;
  // Bookings still in flight can disagree for a moment; a second look settles those.
  let report = audit(await collect(databaseUrl, pasSimUrl));
  if (report.problems.length > 0) {
    await new Promise((r) => setTimeout(r, 5000));
    report = audit(await collect(databaseUrl, pasSimUrl));
  }
  process.stdout.write(`${JSON.stringify({ bookings: report.bookings, pasAppointmentsWithBookingId: report.pasAppointmentsWithBookingId }, null, 2)}\n`);
  for (const p of report.problems) process.stdout.write(`DISAGREES: ${p}\n`);
  process.stdout.write(report.problems.length === 0 ? 'exchange and PASs agree\n' : `${report.problems.length} disagreement(s)\n`);
  return report.problems.length === 0 ? 0 : 1;
}

if (require.main === module) {
  void main().then((code) => process.exit(code), (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  });
}
