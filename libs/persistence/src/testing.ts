/**
 * For integration tests: a fresh database per suite, migrated with the real migrations, dropped
 * afterwards. The server comes from DATABASE_URL (set by tools/stack/with-services).
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { ensureDatabase, runMigrations } from './data-source';

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** `migrate: false`: left empty, for tests of the migrations themselves. */
export async function createTestDatabase(prefix = 'sx_test', opts: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const base = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  base.pathname = `/${name}`;
  const url = base.toString();
  await ensureDatabase(url);
  if (opts.migrate !== false) await runMigrations(url);
  return {
    url,
    async drop() {
      const admin = new URL(url);
      admin.pathname = '/postgres';
      const c = new Client({ connectionString: admin.toString() });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** For tests of who wakes the relays: every `outbox` notification's payload (the queues named), as heard, until `end()`. */
export async function listenToOutbox(url: string): Promise<{ heard: string[]; end(): Promise<void> }> {
  const client = new Client({ connectionString: url });
  await client.connect();
  const heard: string[] = [];
  client.on('notification', (n) => heard.push(n.payload ?? ''));
  await client.query('LISTEN outbox');
  return { heard, end: () => client.end() };
}
