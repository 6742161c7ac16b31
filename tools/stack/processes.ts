/**
 * Starts every process of the ICS as a child of this one: the built apps, one adapter per trust
 * from `config/ics.json`, and the two sandboxes. Used by `npm start`, the end-to-end tests and the
 * benchmarks (which shift every port by an offset so they never collide with a running demo).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface StackOptions {
  databaseUrl: string;
  redisUrl: string;
  portOffset?: number;
  env?: Record<string, string>;
  /** Process names to start (default: all). */
  apps?: string[];
  log?: (line: string) => void;
  readyTimeoutMs?: number;
}

export interface Stack {
  urls: Record<string, string>;
  processes: Array<{ name: string; pid: number }>;
  stop(): Promise<void>;
}

interface ProcessSpec {
  name: string;
  app: string;
  port: number;
  env: Record<string, string>;
}

/** The repository root, from dist/tools/stack or from tools/stack (ts-jest). */
export function repoRootDir(): string {
  const here = __dirname;
  const i = here.lastIndexOf('/dist/');
  return i >= 0 ? here.slice(0, i) : resolve(here, '../..');
}

interface IcsFile { trusts: Array<{ ods: string; httpPort: number; mllpPort: number }> }

export function processSpecs(offset = 0, configDir = join(repoRootDir(), 'config')): ProcessSpec[] {
  const ics = JSON.parse(readFileSync(join(configDir, 'ics.json'), 'utf8')) as IcsFile;
  const p = (n: number) => String(n + offset);
  const local = (n: number) => `http://127.0.0.1:${n + offset}`;
  const list = (f: (t: IcsFile['trusts'][number]) => number) => ics.trusts.map((t) => `${t.ods}=${f(t) + offset}`).join(',');
  return [
    { name: 'slot-exchange', app: 'slot-exchange', port: 3000 + offset, env: { PORT: p(3000), OFFER_PAGE_BASE_URL: local(3002) } },
    { name: 'booking', app: 'booking', port: 3003 + offset, env: { PORT: p(3003) } },
    { name: 'notifier', app: 'notifier', port: 3002 + offset, env: { PORT: p(3002), NOTIFY_BASE_URL: local(3300), PUBLIC_BASE_URL: local(3002) } },
    ...ics.trusts.map((t) => ({
      name: `trust-adapter-${t.ods}`,
      app: 'trust-adapter',
      port: t.httpPort + offset,
      env: { TRUST_ODS: t.ods, PORT: p(t.httpPort), MLLP_PORT: p(t.mllpPort), PAS_FHIR_BASE_URL: `${local(3200)}/${t.ods}/fhir`, EXCHANGE_URL: local(3000) },
    })),
    {
      name: 'pas-sim', app: 'pas-sim', port: 3200 + offset,
      env: { PORT: p(3200), ADAPTER_HOST: '127.0.0.1', ADAPTER_MLLP_PORTS: list((t) => t.mllpPort), ADAPTER_HTTP_PORTS: list((t) => t.httpPort) },
    },
    { name: 'notify-sim', app: 'notify-sim', port: 3300 + offset, env: { PORT: p(3300), NOTIFIER_BASE_URL: local(3002) } },
  ];
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Never leave orphans behind, however the parent goes.
  process.once('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
}

async function ready(url: string, timeoutMs: number, child: ChildProcess, name: string, tail: string[]): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${tail.join('\n')}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > end) throw new Error(`${name} was not ready within ${timeoutMs} ms:\n${tail.join('\n')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  installExitHook();
  const root = repoRootDir();
  const offset = opts.portOffset ?? 0;
  const specs = processSpecs(offset).filter((s) => !opts.apps || opts.apps.includes(s.name));
  const children: Array<{ spec: ProcessSpec; child: ChildProcess; tail: string[] }> = [];
  const log = opts.log ?? (() => undefined);
  const width = Math.max(...specs.map((s) => s.name.length));
  for (const spec of specs) {
    const main = join(root, 'dist', 'apps', spec.app, 'src', 'main.js');
    if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first`);
    const child = spawn(process.execPath, [main], {
      cwd: root,
      env: {
        ...process.env,
        NODE_ENV: process.env.NODE_ENV ?? 'development',
        DATABASE_URL: opts.databaseUrl,
        REDIS_URL: opts.redisUrl,
        SERVICE_NAME: spec.name,
        ...spec.env,
        ...(opts.env ?? {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(child);
    child.once('exit', () => live.delete(child));
    const tail: string[] = [];
    const onLine = (buf: Buffer) => {
      for (const line of buf.toString('utf8').split('\n')) {
        if (!line) continue;
        tail.push(line);
        if (tail.length > 30) tail.shift();
        log(`${spec.name.padEnd(width)} | ${line}`);
      }
    };
    child.stdout?.on('data', onLine);
    child.stderr?.on('data', onLine);
    children.push({ spec, child, tail });
  }
  const stop = async () => {
    await Promise.all(
      children.map(
        ({ child }) =>
          new Promise<void>((resolveStop) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolveStop();
            const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
            child.once('exit', () => {
              clearTimeout(kill);
              resolveStop();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
  };
  try {
    await Promise.all(children.map(({ spec, child, tail }) => ready(`http://127.0.0.1:${spec.port}/health/ready`, opts.readyTimeoutMs ?? 90_000, child, spec.name, tail)));
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    urls: Object.fromEntries(specs.map((s) => [s.name, `http://127.0.0.1:${s.port}`])),
    processes: children.map(({ spec, child }) => ({ name: spec.name, pid: child.pid ?? -1 })),
    stop,
  };
}
