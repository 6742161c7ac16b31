/**
 * A fault for suites that need a text's job to fail for good: while `fn` runs, recording a message
 * as `sent` fails (a trigger raises), so every attempt of its job is spent and the message stays
 * `queued`. The fault is lifted afterwards, however `fn` ends.
 */
import { Client } from 'pg';

export async function whileSentRefused<T>(pg: Client, fn: () => Promise<T>): Promise<T> {
  await pg.query(`
    CREATE FUNCTION refuse_sent() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.status = 'sent' THEN RAISE EXCEPTION 'recording sent failed (test fault)'; END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER refuse_sent BEFORE UPDATE ON sms_message FOR EACH ROW EXECUTE FUNCTION refuse_sent();
  `);
  try {
    return await fn();
  } finally {
    await pg.query(`DROP TRIGGER refuse_sent ON sms_message; DROP FUNCTION refuse_sent()`);
  }
}
