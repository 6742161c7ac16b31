/**
 * The container image's entrypoint: `node dist/tools/deploy/entrypoint.js <app>` starts one named
 * app, or `migrate` applies pending migrations and exits. One image serves every Deployment; the
 * manifest's `args` says which process a pod is. Migrations run under a Postgres advisory lock
 * (`runMigrations`), so many pods running `migrate` at once (an init container per rollout) apply
 * each release's migrations exactly once and wait for each other.
 */
import { join } from 'node:path';

export const APPS = ['slot-exchange', 'booking', 'notifier', 'trust-adapter', 'dashboard', 'pas-sim', 'notify-sim'] as const;
export type AppName = (typeof APPS)[number];
export const SANDBOX_APPS: readonly AppName[] = ['pas-sim', 'notify-sim'];

export function mainFor(name: string, distRoot = join(__dirname, '..', '..')): string {
  if (!(APPS as readonly string[]).includes(name)) {
    throw new Error(`unknown app "${name}"; expected one of: ${APPS.join(', ')}, or migrate`);
  }
  return join(distRoot, 'apps', name, 'src', 'main.js');
}

async function migrate(): Promise<void> {
  // Loaded only here, so that an app's own main.js loads its telemetry first.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { DataConfig, loadConfig } = require('@app/platform') as typeof import('@app/platform');
  const { runMigrations } = require('@app/persistence') as typeof import('@app/persistence');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const config = loadConfig(DataConfig);
  const applied = await runMigrations(config.DATABASE_URL);
  console.log(JSON.stringify({ level: 'info', msg: applied.length ? `migrations applied: ${applied.join(', ')}` : 'schema up to date' }));
}

function main(argv: string[]): void {
  const name = argv[2] ?? '';
  if (name === 'migrate') {
    migrate().then(() => process.exit(0), (e: unknown) => {
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
