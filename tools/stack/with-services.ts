/**
 * `node dist/tools/stack/with-services.js -- <command> [args…]`: runs a command (the test suite,
 * the benchmarks) with DATABASE_URL and REDIS_URL pointing at working servers, found or started
 * as `npm start` does, and stops whatever it started afterwards. Exits with the command's status.
 *
 * The Postgres URL names the `postgres` database: tests create (and drop) their own databases.
 */
import { spawn } from 'node:child_process';
import { delimiter, join } from 'node:path';
import { constants } from 'node:os';
import { repoRootDir, stackDataDir } from './processes';
import { ensurePostgres, ensureRedis, ServiceHandle } from './services';

const say = (line: string) => process.stderr.write(`[with-services] ${line}\n`);

async function main(argv: string[]): Promise<number> {
  const sep = argv.indexOf('--');
  const [cmd, ...args] = sep >= 0 ? argv.slice(sep + 1) : argv;
  if (!cmd) {
    say('usage: node dist/tools/stack/with-services.js -- <command> [args…]');
    return 2;
  }
  const root = repoRootDir();
  const dataDir = stackDataDir();
  const started: ServiceHandle[] = [];
  const stopServices = async () => {
    for (const s of started.reverse()) await s.stop().catch((e: unknown) => say(`could not stop a server: ${String(e)}`));
    started.length = 0;
  };

  let child: ReturnType<typeof spawn> | undefined;
  let interrupted: NodeJS.Signals | undefined;
  // The command shares our terminal, so a Ctrl-C reaches it directly; we forward signals for the
  // cases where only we are signalled (CI cancelling the job), and wait for it to finish either way.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      interrupted = sig;
      if (child && child.exitCode === null) child.kill(sig);
    });
  }

  try {
    const pg = await ensurePostgres({
      url: process.env.DATABASE_URL,
      dataDir,
      log: say,
      defaultUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
      database: 'postgres',
    });
    started.push(pg);
    const redis = await ensureRedis({ url: process.env.REDIS_URL, dataDir, log: say, persistent: false });
    started.push(redis);
    say(`postgres: ${pg.describe}`);
    say(`redis: ${redis.describe}`);
    if (interrupted) return 128 + (constants.signals[interrupted] ?? 2);

    const c = spawn(cmd, args, {
      stdio: 'inherit',
      cwd: process.cwd(),
      env: {
        ...process.env,
        DATABASE_URL: pg.url,
        REDIS_URL: redis.url,
        // `jest`, `tsc` and friends resolve as they do inside npm scripts.
        PATH: [join(root, 'node_modules', '.bin'), process.env.PATH ?? ''].join(delimiter),
      },
    });
    child = c;
    const status = await new Promise<number>((res) => {
      c.once('error', (e) => {
        say(`could not run ${cmd}: ${e.message}`);
        res(127);
      });
      c.once('exit', (code, sig) => res(code ?? 128 + (sig ? constants.signals[sig] ?? 1 : 1)));
    });
    return status;
  } catch (e) {
    say(e instanceof Error ? e.message : String(e));
    return 1;
  } finally {
    await stopServices();
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
