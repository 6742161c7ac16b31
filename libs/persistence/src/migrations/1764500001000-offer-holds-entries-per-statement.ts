import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `waiting_list_entry.offer_held` (see 1764400021000) kept by statement-level triggers instead of
 * one per offer row.
 *
 * Why: the row trigger ran one UPDATE of the patient's entries per offer. A claim supersedes its
 * wave's other offers in one statement, and a batch of first waves inserts hundreds of offers in
 * one: with 200 offers superseded the row triggers were ~60% of the claim's time (21 ms against
 * 8 ms without them). Now each statement makes one UPDATE from its transition tables.
 *
 * The rules are the row trigger's: an offer that starts live, or becomes live, flags its patient's
 * entries; one that stops being live (updated or deleted) clears them (the one-live-offer unique
 * index means it was the patient's only live offer). A patient one of whose offers ended and
 * another began in the same statement ends flagged. Transition tables need a
 * trigger per event and no column list, so the UPDATE trigger fires for every UPDATE of `offer`;
 * a statement that changes no status joins to nothing.
 */
export class OfferHoldsEntriesPerStatement1764500001000 implements MigrationInterface {
  name = 'OfferHoldsEntriesPerStatement1764500001000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER IF EXISTS offer_holds_entries ON offer`);
    await q.query(`
      CREATE OR REPLACE FUNCTION offer_holds_entries_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE waiting_list_entry e SET offer_held = true
          FROM (SELECT DISTINCT patient_id FROM new_offers WHERE status = 'live') n
         WHERE e.patient_id = n.patient_id AND NOT e.offer_held;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE OR REPLACE FUNCTION offer_holds_entries_updated() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        -- Per patient whose offer started or stopped being live: held if any of theirs became live.
        UPDATE waiting_list_entry e SET offer_held = x.held
          FROM (SELECT n.patient_id, bool_or(n.status = 'live') AS held
                  FROM old_offers o JOIN new_offers n ON n.id = o.id
                 WHERE (o.status = 'live') <> (n.status = 'live') GROUP BY n.patient_id) x
         WHERE e.patient_id = x.patient_id AND e.offer_held <> x.held;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE OR REPLACE FUNCTION offer_holds_entries_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE waiting_list_entry e SET offer_held = false
          FROM (SELECT DISTINCT patient_id FROM old_offers WHERE status = 'live') x
         WHERE e.patient_id = x.patient_id AND e.offer_held;
        RETURN NULL;
      END $$`);
    await q.query(`CREATE TRIGGER offer_holds_entries_inserted AFTER INSERT ON offer REFERENCING NEW TABLE AS new_offers FOR EACH STATEMENT EXECUTE FUNCTION offer_holds_entries_inserted()`);
    await q.query(`CREATE TRIGGER offer_holds_entries_updated AFTER UPDATE ON offer REFERENCING OLD TABLE AS old_offers NEW TABLE AS new_offers FOR EACH STATEMENT EXECUTE FUNCTION offer_holds_entries_updated()`);
    await q.query(`CREATE TRIGGER offer_holds_entries_deleted AFTER DELETE ON offer REFERENCING OLD TABLE AS old_offers FOR EACH STATEMENT EXECUTE FUNCTION offer_holds_entries_deleted()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER IF EXISTS offer_holds_entries_inserted ON offer`);
    await q.query(`DROP TRIGGER IF EXISTS offer_holds_entries_updated ON offer`);
    await q.query(`DROP TRIGGER IF EXISTS offer_holds_entries_deleted ON offer`);
    await q.query(`DROP FUNCTION IF EXISTS offer_holds_entries_inserted()`);
    await q.query(`DROP FUNCTION IF EXISTS offer_holds_entries_updated()`);
    await q.query(`DROP FUNCTION IF EXISTS offer_holds_entries_deleted()`);
    await q.query(`CREATE TRIGGER offer_holds_entries AFTER INSERT OR UPDATE OF status OR DELETE ON offer FOR EACH ROW EXECUTE FUNCTION offer_holds_entries()`);
  }
}
