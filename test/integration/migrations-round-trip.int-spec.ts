/**
 * Every migration can be rolled back and applied again (a release rolled back with
 * `migrate --revert N`, then rolled forward): undoing each migration gives back exactly the schema
 * the ones before it made, and applying them again gives the schema they made the first time. A
 * `down` that fails, leaves something behind or drops what an older migration made shows up here,
 * not during an incident. Also: migrators started together (a rollout's init containers) apply a
 * release once, CONCURRENTLY indexes included, without waiting on each other for ever.
 */
import { createTestDatabase, dataSourceOptions, MIGRATIONS, revertMigrations, runMigrations, TestDatabase } from '@app/persistence';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { DataSource } from 'typeorm';

/** What a migration can change, as the catalogs show it (names and definitions, in a stable order). */
async function schemaOf(ds: DataSource): Promise<Record<string, string[]>> {
  const rows = async (sql: string) => ((await ds.query(sql)) as Array<{ d: string }>).map((r) => r.d);
  return {
    columns: await rows(`SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') AS d
                           FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1`),
    indexes: await rows(`SELECT indexdef AS d FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1`),
    constraints: await rows(`SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) AS d FROM pg_constraint
                              WHERE connamespace = 'public'::regnamespace ORDER BY 1`),
    triggers: await rows(`SELECT pg_get_triggerdef(oid) AS d FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1`),
    functions: await rows(`SELECT p.proname || ' ' || l.lanname || ' ' || md5(p.prosrc) AS d FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
                            WHERE p.pronamespace = 'public'::regnamespace ORDER BY 1`),
  };
}

let db: TestDatabase;
let ds: DataSource;

beforeAll(async () => {
  db = await createTestDatabase('sx_migrations');
  ds = await new DataSource(dataSourceOptions(db.url, 2)).initialize();
});
afterAll(async () => {
  await ds?.destroy();
  await db?.drop();
});

/** An empty database (no migration applied), dropped by `drop`. */
const emptyDatabase = (prefix: string) => createTestDatabase(prefix, { migrate: false });

it("undoes each migration, newest first, back to exactly the schema of the ones before it, and applying them again gives the same schema", async () => {
  const fresh = await emptyDatabase('sx_migrations_steps');
  const at = new DataSource(dataSourceOptions(fresh.url, 1));
  try {
    // The schema after each prefix of the migrations, applied one more at a time.
    const after: Array<Record<string, string[]>> = [];
    for (let k = 1; k <= MIGRATIONS.length; k++) {
      expect(await runMigrations(fresh.url, MIGRATIONS.slice(0, k))).toHaveLength(1);
      if (!at.isInitialized) await at.initialize();
      after[k] = await schemaOf(at);
    }
    const all = ((await at.query(`SELECT name FROM migrations ORDER BY id`)) as Array<{ name: string }>).map((m) => m.name);
    expect(all).toHaveLength(MIGRATIONS.length);
    for (let k = MIGRATIONS.length; k > 1; k--) {
      expect({ k, undone: await revertMigrations(fresh.url, 1) }).toEqual({ k, undone: [all[k - 1]] });
      // Nothing of migration k left behind, nothing of the ones before it dropped.
      expect({ k, schema: await schemaOf(at) }).toEqual({ k, schema: after[k - 1] });
    }
    // The first as well, and then nothing more to undo: no table but TypeORM's record of them.
    expect(await revertMigrations(fresh.url, 5)).toEqual([all[0]]);
    expect((await at.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'migrations'`)).map((t: { tablename: string }) => t.tablename)).toEqual([]);
    expect(await runMigrations(fresh.url)).toEqual(all);
    expect(await schemaOf(at)).toEqual(after[MIGRATIONS.length]);
  } finally {
    if (at.isInitialized) await at.destroy();
    await fresh.drop();
  }
});

it("leaves a newer release's migrations to an older release's migrate, undoes the newest N in one call, and says nothing is left to undo on a database never migrated", async () => {
  const applied = async () => ((await ds.query(`SELECT name FROM migrations ORDER BY id`)) as Array<{ name: string }>).map((m) => m.name);
  const all = await applied();
  // A release rolled back first: the older image's migrate finds nothing to do on the newer schema.
  expect(await runMigrations(db.url, MIGRATIONS.slice(0, -2))).toEqual([]);
  expect(await applied()).toEqual(all);
  expect(await revertMigrations(db.url, 3)).toEqual(all.slice(-3).reverse());
  expect(await applied()).toEqual(all.slice(0, -3));
  expect(await runMigrations(db.url)).toEqual(all.slice(-3));
  const never = await emptyDatabase('sx_migrations_never');
  try {
    expect(await revertMigrations(never.url, 1)).toEqual([]);
  } finally {
    await never.drop();
  }
});

it('applies a release once when several migrators start together, CONCURRENTLY indexes included, none waiting for ever on another', async () => {
  const fresh = await emptyDatabase('sx_migrations_together');
  try {
    // A waiter blocked inside pg_advisory_lock held a snapshot that the holder's CREATE INDEX
    // CONCURRENTLY waited for: this hung until the test's time ran out.
    const results = await Promise.all([runMigrations(fresh.url), runMigrations(fresh.url), runMigrations(fresh.url)]);
    const names = MIGRATIONS.map((m) => m.name);
    expect(results.map((r) => r.length).sort((a, b) => a - b)).toEqual([0, 0, names.length]);
    expect(results.find((r) => r.length > 0)).toEqual(names);
  } finally {
    await fresh.drop();
  }
}, 60_000);

it('refuses a number of migrations to revert that is not a whole number of at least 1, reverting nothing', async () => {
  const count = async () => (await ds.query(`SELECT count(*)::int AS n FROM migrations`))[0].n;
  const n = await count();
  for (const bad of [0, -1, 1.5, Number.NaN]) await expect(revertMigrations(db.url, bad)).rejects.toThrow(/whole number of at least 1/);
  expect(await count()).toBe(n);
});

it("refuses to revert a migration this release does not know (a newer release's), reverting nothing", async () => {
  const count = async () => (await ds.query(`SELECT count(*)::int AS n FROM migrations`))[0].n;
  await ds.query(`INSERT INTO migrations (timestamp, name) VALUES (1999999999999, 'FromANewerRelease1999999999999')`);
  try {
    const n = await count();
    await expect(revertMigrations(db.url, 2)).rejects.toThrow(/FromANewerRelease1999999999999, is not one this release knows/);
    expect(await count()).toBe(n);
  } finally {
    await ds.query(`DELETE FROM migrations WHERE name = 'FromANewerRelease1999999999999'`);
  }
});

/** A built command (`npm run build` first, as `npm test` does) run to its end: its exit code and output. */
function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: join(__dirname, '..', '..'), env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    for (const s of [child.stdout, child.stderr]) s.on('data', (b: Buffer) => (out += b.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe.each([
  ['npm run migrate', ['dist/tools/stack/migrate.js']],
  ["the image's migrate", ['dist/tools/deploy/entrypoint.js', 'migrate']],
])('%s', (_what, command) => {
  it('with --revert N undoes the newest N; without arguments applies them again; a mistyped argument changes nothing', async () => {
    const names = async () => ((await ds.query(`SELECT name FROM migrations ORDER BY id`)) as Array<{ name: string }>).map((m) => m.name);
    const all = await names();
    const env = { DATABASE_URL: db.url, NODE_ENV: 'development' };
    const reverted = await run([...command, '--revert', '2'], env);
    expect(reverted).toMatchObject({ code: 0, out: expect.stringContaining(`${all[all.length - 1]}, ${all[all.length - 2]}`) });
    expect(await names()).toEqual(all.slice(0, -2));
    const mistyped = await run([...command, '--revert', 'two'], env);
    expect(mistyped).toMatchObject({ code: 1, out: expect.stringContaining('--revert [N]') });
    expect(await names()).toEqual(all.slice(0, -2));
    expect(await run(command, env)).toMatchObject({ code: 0, out: expect.stringContaining(all[all.length - 1]) });
    expect(await names()).toEqual(all);
  });
});
