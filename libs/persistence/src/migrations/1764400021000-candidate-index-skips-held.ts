import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The candidate index leaves out the entries of patients holding a live offer.
 *
 * In a burst every wave offers the top of its specialty's list, so the next wave's walk of
 * `waiting_list_entry_candidates` had to step over every patient already holding an offer (a heap
 * fetch, a patient lookup and an offer probe each) before it found anyone free: hundreds of rows
 * per query by the end of a 1,000-slot burst, and the Postgres CPU that bounded the burst.
 *
 * `waiting_list_entry.offer_held` mirrors "this patient has a live offer", kept by a trigger on
 * `offer` (the only place every way an offer starts or ends passes through), and the index's
 * predicate excludes it. It is an accelerator only: the candidate query still checks for a live
 * offer itself, and the one-live-offer unique index still holds the invariant, so an entry whose
 * flag is late (e.g. added by a PTL import while its patient holds an offer) is merely walked.
 * The one-live-offer index guarantees a patient's offer that stops being live was their only one,
 * so ending it clears the flag.
 */
export class CandidateIndexSkipsHeld1764400021000 implements MigrationInterface {
  name = 'CandidateIndexSkipsHeld1764400021000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE waiting_list_entry ADD COLUMN IF NOT EXISTS offer_held boolean NOT NULL DEFAULT false`);
    await q.query(`
      CREATE OR REPLACE FUNCTION offer_holds_entries() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          IF NEW.status = 'live' THEN
            UPDATE waiting_list_entry SET offer_held = true WHERE patient_id = NEW.patient_id AND NOT offer_held;
          END IF;
        ELSIF TG_OP = 'UPDATE' THEN
          IF OLD.status = 'live' AND NEW.status <> 'live' THEN
            UPDATE waiting_list_entry SET offer_held = false WHERE patient_id = OLD.patient_id AND offer_held;
          ELSIF NEW.status = 'live' AND OLD.status <> 'live' THEN
            UPDATE waiting_list_entry SET offer_held = true WHERE patient_id = NEW.patient_id AND NOT offer_held;
          END IF;
        ELSIF TG_OP = 'DELETE' AND OLD.status = 'live' THEN
          UPDATE waiting_list_entry SET offer_held = false WHERE patient_id = OLD.patient_id AND offer_held;
        END IF;
        RETURN NULL;
      END $$`);
    await q.query(`DROP TRIGGER IF EXISTS offer_holds_entries ON offer`);
    await q.query(`CREATE TRIGGER offer_holds_entries AFTER INSERT OR UPDATE OF status OR DELETE ON offer FOR EACH ROW EXECUTE FUNCTION offer_holds_entries()`);
    await q.query(`UPDATE waiting_list_entry SET offer_held = true WHERE patient_id IN (SELECT patient_id FROM offer WHERE status = 'live')`);
    await q.query(`DROP INDEX IF EXISTS waiting_list_entry_candidates`);
    await q.query(`
      CREATE INDEX waiting_list_entry_candidates ON waiting_list_entry (tfc, appointment_type, priority_rank, breach_date, rtt_start, id)
        WHERE status = 'open' AND offer_consent AND NOT offer_held`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS waiting_list_entry_candidates`);
    await q.query(`
      CREATE INDEX waiting_list_entry_candidates ON waiting_list_entry (tfc, appointment_type, priority_rank, breach_date, rtt_start, id)
        WHERE status = 'open' AND offer_consent`);
    await q.query(`DROP TRIGGER IF EXISTS offer_holds_entries ON offer`);
    await q.query(`DROP FUNCTION IF EXISTS offer_holds_entries()`);
    await q.query(`ALTER TABLE waiting_list_entry DROP COLUMN IF EXISTS offer_held`);
  }
}
