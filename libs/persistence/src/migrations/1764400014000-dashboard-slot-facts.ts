import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What the dashboard's overview and flows read: one narrow row per freed slot with what became of
 * it (offered?, SMS count, its booking's time, previous appointment and home trust), so a year of
 * data is counted without probing a million offers and SMS on every request.
 *
 * - `dashboard_slot_fact_source`: the definition, a view over the base tables (slot, offer,
 *   sms_message, booking). It is the truth; everything else is a cache of it.
 * - `dashboard_slot_fact`: the cache, one row per slot, indexed by release time.
 * - `dashboard_slot_fact_dirty`: slots whose facts may have changed since the cache was written.
 *   Statement-level triggers on the base tables append to it in the writer's own transaction (an
 *   append only: no row that two writers could fight over, no change to the services that write).
 * - `dashboard_slot_fact_drain()`: the incremental job. It takes the dirty rows its snapshot can
 *   see, rewrites those slots' cache rows from the view in the same statement (same snapshot), and
 *   deletes the dirty rows it handled. Changes committed later keep their dirty rows for next time.
 *
 * Readers stay exact whatever the job's lag: cached rows of slots with no dirty row, plus the
 * view's rows for the dirty slots (see apps/dashboard/src/slot-facts.ts).
 */
/**
 * The trigger branch of a table whose rows name their slot (`offer`, `booking`): an insert or a
 * delete marks the rows' slots; an update marks the old and the new slot of each changed row
 * (`inner` narrows which rows count as changed, `outer` which slots are marked) and the slots of
 * rows that left the table. One text for both tables, so the two branches cannot drift apart; the
 * function it builds is the one this migration has always created (same statements, same effect).
 */
function markBySlotId(where: { inner?: string; outer: string }): string {
  return `          IF TG_OP = 'INSERT' THEN
            INSERT INTO dashboard_slot_fact_dirty (slot_id) SELECT DISTINCT slot_id FROM new_rows;
          ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO dashboard_slot_fact_dirty (slot_id) SELECT DISTINCT slot_id FROM old_rows;
          ELSE
            INSERT INTO dashboard_slot_fact_dirty (slot_id)
              SELECT x.slot_id FROM (
                SELECT n.slot_id, o.slot_id AS old_slot_id FROM new_rows n LEFT JOIN old_rows o ON o.id = n.id${where.inner ?? ''}
              ) y, LATERAL (VALUES (y.slot_id), (y.old_slot_id)) x(slot_id)
               WHERE ${where.outer}
              UNION SELECT o.slot_id FROM old_rows o WHERE NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.id = o.id);
          END IF;`;
}

export class DashboardSlotFacts1764400014000 implements MigrationInterface {
  name = 'DashboardSlotFacts1764400014000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE VIEW dashboard_slot_fact_source AS
        SELECT s.id AS slot_id, s.trust_ods, s.site_ods, s.tfc, s.status, s.closed_reason, s.released_at, s.start_at,
               EXISTS (SELECT 1 FROM offer o WHERE o.slot_id = s.id) AS offered,
               (SELECT count(*) FROM offer o JOIN sms_message m ON m.offer_id = o.id WHERE o.slot_id = s.id)::int AS sms,
               b.created_at AS booked_at, b.previous_appointment_start, b.home_trust_ods
          FROM slot s
          LEFT JOIN LATERAL (
            SELECT bk.created_at, bk.previous_appointment_start, bk.home_trust_ods FROM booking bk
             WHERE bk.slot_id = s.id AND bk.status <> 'failed' ORDER BY bk.created_at LIMIT 1) b ON true;

      CREATE TABLE dashboard_slot_fact (
        slot_id uuid PRIMARY KEY,
        trust_ods text NOT NULL,
        site_ods text NOT NULL,
        tfc text NOT NULL,
        status text NOT NULL,
        closed_reason text,
        released_at timestamptz NOT NULL,
        start_at timestamptz NOT NULL,
        offered boolean NOT NULL,
        sms integer NOT NULL,
        booked_at timestamptz,
        previous_appointment_start timestamptz,
        home_trust_ods text
      );
      CREATE INDEX dashboard_slot_fact_by_released ON dashboard_slot_fact (released_at)
        INCLUDE (slot_id, trust_ods, site_ods, tfc, status, closed_reason, start_at, offered, sms, booked_at, previous_appointment_start, home_trust_ods);

      CREATE TABLE dashboard_slot_fact_dirty (
        id bigserial PRIMARY KEY,
        slot_id uuid NOT NULL
      );
      CREATE INDEX dashboard_slot_fact_dirty_by_slot ON dashboard_slot_fact_dirty (slot_id);

      CREATE FUNCTION dashboard_slot_fact_drain() RETURNS integer LANGUAGE plpgsql AS $$
      DECLARE n integer;
      BEGIN
        -- One job at a time (any dashboard replica may run it); the others skip this round.
        IF NOT pg_try_advisory_xact_lock(hashtext('dashboard_slot_fact_drain')) THEN RETURN 0; END IF;
        WITH taken AS (DELETE FROM dashboard_slot_fact_dirty RETURNING slot_id),
             ids AS (SELECT DISTINCT slot_id FROM taken),
             gone AS (DELETE FROM dashboard_slot_fact f USING ids
                       WHERE f.slot_id = ids.slot_id AND NOT EXISTS (SELECT 1 FROM slot s WHERE s.id = ids.slot_id)),
             put AS (
               INSERT INTO dashboard_slot_fact
               SELECT v.* FROM dashboard_slot_fact_source v WHERE v.slot_id IN (SELECT slot_id FROM ids)
               ON CONFLICT (slot_id) DO UPDATE SET
                 trust_ods = EXCLUDED.trust_ods, site_ods = EXCLUDED.site_ods, tfc = EXCLUDED.tfc, status = EXCLUDED.status,
                 closed_reason = EXCLUDED.closed_reason, released_at = EXCLUDED.released_at, start_at = EXCLUDED.start_at,
                 offered = EXCLUDED.offered, sms = EXCLUDED.sms, booked_at = EXCLUDED.booked_at,
                 previous_appointment_start = EXCLUDED.previous_appointment_start, home_trust_ods = EXCLUDED.home_trust_ods
               RETURNING 1)
        SELECT count(*) INTO n FROM ids;
        RETURN n;
      END $$;

      CREATE FUNCTION dashboard_slot_fact_mark() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'TRUNCATE' THEN
          IF TG_TABLE_NAME = 'slot' THEN
            TRUNCATE dashboard_slot_fact, dashboard_slot_fact_dirty;
          ELSE
            INSERT INTO dashboard_slot_fact_dirty (slot_id) SELECT slot_id FROM dashboard_slot_fact;
          END IF;
          RETURN NULL;
        END IF;
        IF TG_TABLE_NAME = 'slot' THEN
          IF TG_OP = 'INSERT' THEN
            INSERT INTO dashboard_slot_fact_dirty (slot_id) SELECT id FROM new_rows;
          ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO dashboard_slot_fact_dirty (slot_id) SELECT id FROM old_rows;
          ELSE
            INSERT INTO dashboard_slot_fact_dirty (slot_id)
              SELECT n.id FROM new_rows n LEFT JOIN old_rows o ON o.id = n.id
               WHERE (n.trust_ods, n.site_ods, n.tfc, n.status, n.closed_reason, n.released_at, n.start_at)
                     IS DISTINCT FROM (o.trust_ods, o.site_ods, o.tfc, o.status, o.closed_reason, o.released_at, o.start_at)
              UNION SELECT o.id FROM old_rows o WHERE NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.id = o.id);
          END IF;
        ELSIF TG_TABLE_NAME = 'offer' THEN
${markBySlotId({ outer: 'y.slot_id IS DISTINCT FROM y.old_slot_id AND x.slot_id IS NOT NULL' })}
        ELSIF TG_TABLE_NAME = 'sms_message' THEN
          IF TG_OP = 'INSERT' THEN
            INSERT INTO dashboard_slot_fact_dirty (slot_id)
              SELECT DISTINCT o.slot_id FROM new_rows n JOIN offer o ON o.id = n.offer_id;
          ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO dashboard_slot_fact_dirty (slot_id)
              SELECT DISTINCT o.slot_id FROM old_rows r JOIN offer o ON o.id = r.offer_id;
          ELSE
            INSERT INTO dashboard_slot_fact_dirty (slot_id)
              SELECT DISTINCT o.slot_id FROM new_rows n LEFT JOIN old_rows r ON r.id = n.id
                JOIN offer o ON o.id IN (n.offer_id, r.offer_id)
               WHERE n.offer_id IS DISTINCT FROM r.offer_id;
          END IF;
        ELSIF TG_TABLE_NAME = 'booking' THEN
${markBySlotId({
          inner: `
                 WHERE (n.slot_id, n.status, n.created_at, n.previous_appointment_start, n.home_trust_ods)
                       IS DISTINCT FROM (o.slot_id, o.status, o.created_at, o.previous_appointment_start, o.home_trust_ods)`,
          outer: 'x.slot_id IS NOT NULL',
        })}
        END IF;
        RETURN NULL;
      END $$;
    `);
    for (const table of ['slot', 'offer', 'sms_message', 'booking']) {
      await q.query(`
        CREATE TRIGGER dashboard_slot_fact_ins AFTER INSERT ON ${table} REFERENCING NEW TABLE AS new_rows
          FOR EACH STATEMENT EXECUTE FUNCTION dashboard_slot_fact_mark();
        CREATE TRIGGER dashboard_slot_fact_upd AFTER UPDATE ON ${table} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
          FOR EACH STATEMENT EXECUTE FUNCTION dashboard_slot_fact_mark();
        CREATE TRIGGER dashboard_slot_fact_del AFTER DELETE ON ${table} REFERENCING OLD TABLE AS old_rows
          FOR EACH STATEMENT EXECUTE FUNCTION dashboard_slot_fact_mark();
        CREATE TRIGGER dashboard_slot_fact_trunc AFTER TRUNCATE ON ${table}
          FOR EACH STATEMENT EXECUTE FUNCTION dashboard_slot_fact_mark();
      `);
    }
    // The cache starts full: every existing slot once, from the view.
    await q.query(`INSERT INTO dashboard_slot_fact SELECT * FROM dashboard_slot_fact_source`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['slot', 'offer', 'sms_message', 'booking']) {
      await q.query(`
        DROP TRIGGER IF EXISTS dashboard_slot_fact_ins ON ${table};
        DROP TRIGGER IF EXISTS dashboard_slot_fact_upd ON ${table};
        DROP TRIGGER IF EXISTS dashboard_slot_fact_del ON ${table};
        DROP TRIGGER IF EXISTS dashboard_slot_fact_trunc ON ${table};
      `);
    }
    await q.query(`
      DROP FUNCTION IF EXISTS dashboard_slot_fact_mark(), dashboard_slot_fact_drain();
      DROP TABLE IF EXISTS dashboard_slot_fact_dirty, dashboard_slot_fact;
      DROP VIEW IF EXISTS dashboard_slot_fact_source;
    `);
  }
}
