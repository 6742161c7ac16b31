import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The deferred triggers that settle a pending closure (1764400003000) run at the commit of every
 * transaction that ends an offer: a claim supersedes its slot's other offers, a wave's end expires
 * its own, so a storm of YES runs them hundreds of times a second. Each run cost ~0.35 ms of
 * Postgres CPU for what is nearly always a primary-key look-up that finds nothing pending (600
 * runs took ~210 ms of a 200-slot burst's booking phase, `pg_stat_statements` in the scale-out
 * bench), because:
 * - the trigger read the entry id through `to_jsonb(NEW)`, serialising the whole row (an offer's
 *   ranking explanation too) to take one field; it now reads the field itself;
 * - `settle_pending_close` was a SQL-language function, which Postgres plans again on every call;
 *   as PL/pgSQL its statement's plan is kept for the session.
 * What they do is unchanged. CREATE OR REPLACE takes no table lock; sessions running the old
 * definitions pick up the new ones at their next call.
 */
export class SettlePendingClosePlan1764502500000 implements MigrationInterface {
  name = 'SettlePendingClosePlan1764502500000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION settle_pending_close(entry uuid) RETURNS void LANGUAGE plpgsql AS $$
        #variable_conflict use_variable
        -- (entry is the parameter, should a table ever gain a column of that name: PL/pgSQL's default is an error.)
        BEGIN
          UPDATE waiting_list_entry e SET status = 'closed', close_pending = false, updated_at = now()
           WHERE e.id = entry AND e.close_pending AND e.status = 'open'
             AND NOT EXISTS (SELECT 1 FROM offer o WHERE o.entry_id = e.id AND o.status = 'live')
             AND NOT EXISTS (SELECT 1 FROM booking b WHERE b.entry_id = e.id AND b.status = 'pending');
        END;
      $$;
      CREATE OR REPLACE FUNCTION settle_pending_close_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          -- TG_ARGV[0] names the column holding the entry id: the entry's own id, or entry_id (offer,
          -- booking). A field is resolved when its statement first runs, so each table reads its own.
          IF TG_ARGV[0] = 'id' THEN
            PERFORM settle_pending_close(NEW.id);
          ELSE
            PERFORM settle_pending_close(NEW.entry_id);
          END IF;
          RETURN NULL;
        END;
      $$;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    // Back to 1764400003000's definitions.
    await q.query(`
      CREATE OR REPLACE FUNCTION settle_pending_close(entry uuid) RETURNS void LANGUAGE sql AS $$
        UPDATE waiting_list_entry e SET status = 'closed', close_pending = false, updated_at = now()
         WHERE e.id = entry AND e.close_pending AND e.status = 'open'
           AND NOT EXISTS (SELECT 1 FROM offer o WHERE o.entry_id = e.id AND o.status = 'live')
           AND NOT EXISTS (SELECT 1 FROM booking b WHERE b.entry_id = e.id AND b.status = 'pending');
      $$;
      CREATE OR REPLACE FUNCTION settle_pending_close_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          -- TG_ARGV[0] names the column holding the entry id (entry_id, or the entry's own id).
          PERFORM settle_pending_close((to_jsonb(NEW) ->> TG_ARGV[0])::uuid);
          RETURN NULL;
        END;
      $$;
    `);
  }
}
