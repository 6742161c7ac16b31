/**
 * The container image's entrypoint: `node dist/tools/deploy/entrypoint.js <app>` starts one named
 * app, or `migrate` applies pending migrations and exits (`migrate --revert [N]` undoes the newest N). One image serves every Deployment; the
 * manifest's `args` says which process a pod is. Migrations run under a Postgres advisory lock
 * (`runMigrations`), so many pods running `migrate` at once (an init container per rollout) apply
 * each release's migrations exactly once and wait for each other.
 */
import { join } from 'node:path';
import { migrateAction } from '../stack/migrate-args';

export const APPS = ['slot-exchange', 'booking', 'notifier', 'trust-adapter', 'dashboard', 'pas-sim', 'notify-sim'] as const;
export type AppName = (typeof APPS)[number];
export const SANDBOX_APPS: readonly AppName[] = ['pas-sim', 'notify-sim'];

export function mainFor(name: string, distRoot = join(__dirname, '..', '..')): string {
  if (!(APPS as readonly string[]).includes(name)) {
    throw new Error(`unknown app "${name}"; expected one of: ${APPS.join(', ')}, or migrate`);
  }
  return join(distRoot, 'apps', name, 'src', 'main.js');
}

async function migrate(args: string[]): Promise<void> {
  const action = migrateAction(args);
  // Loaded only here, so that an app's own main.js loads its telemetry first.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { DataConfig, loadConfig } = require('@app/platform') as typeof import('@app/platform');
  const { revertMigrations, runMigrations } = require('@app/persistence') as typeof import('@app/persistence');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const config = loadConfig(DataConfig);
  if (action.kind === 'revert') {
    // A release rolled back (k8s/README.md): its Job runs `migrate --revert N` with the release's own image.
    const undone = await revertMigrations(config.DATABASE_URL, action.count);
    console.log(JSON.stringify({ level: 'info', msg: undone.length ? `migrations reverted, newest first: ${undone.join(', ')}` : 'no migration applied' }));
    return;
  }
  const applied = await runMigrations(config.DATABASE_URL);
  console.log(JSON.stringify({ level: 'info', msg: applied.length ? `migrations applied: ${applied.join(', ')}` : 'schema up to date' }));
}

function main(argv: string[]): void {
  const name = argv[2] ?? '';
  if (name === 'migrate') {
    migrate(argv.slice(3)).then(() => process.exit(0), (e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    });
    return;
  }
  let file: string;
  try {
    file = mainFor(name);
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(file);
}

if (require.main === module) main(process.argv);
