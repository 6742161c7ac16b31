/**
 * `npm run migrate`: finds or starts Postgres exactly as `npm start` does (so it migrates the
 * database `npm start` will use), applies the pending migrations (or, with `-- --revert [N]`,
 * undoes the newest N) and stops anything it started.
 */
import { revertMigrations, runMigrations } from '@app/persistence';
import { migrateAction } from './migrate-args';
import { defaultDatabaseUrl, portOffsetFromEnv, stackDataDir } from './processes';
import { ensurePostgres, redactUrl } from './services';

/** Applies the pending migrations to `databaseUrl` and says which, for people reading the log. */
export async function migrate(databaseUrl: string, log: (line: string) => void = console.log): Promise<string[]> {
  const applied = await runMigrations(databaseUrl);
  log(applied.length ? `migrations applied to ${redactUrl(databaseUrl)}: ${applied.join(', ')}` : `database ${redactUrl(databaseUrl)} is up to date`);
  return applied;
}

/** Undoes the newest `count` applied migrations of `databaseUrl` and says which. */
export async function revert(databaseUrl: string, count: number, log: (line: string) => void = console.log): Promise<string[]> {
  const undone = await revertMigrations(databaseUrl, count);
  log(undone.length ? `migrations reverted on ${redactUrl(databaseUrl)}, newest first: ${undone.join(', ')}` : `database ${redactUrl(databaseUrl)} has no migration applied`);
  return undone;
}

async function main(): Promise<void> {
  const log = (line: string) => console.log(line);
  // Read before anything starts: a mistyped argument changes nothing.
  const action = migrateAction(process.argv.slice(2));
  // With PORT_OFFSET, the database of the stack `npm start` runs on those ports.
  const pg = await ensurePostgres({ url: process.env.DATABASE_URL, dataDir: stackDataDir(), log, defaultUrl: defaultDatabaseUrl(portOffsetFromEnv()) });
  log(`postgres: ${pg.describe}`);
  try {
    if (action.kind === 'revert') await revert(pg.url, action.count, log);
    else await migrate(pg.url, log);
  } finally {
    await pg.stop();
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
