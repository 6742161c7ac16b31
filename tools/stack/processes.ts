/**
 * Starts every process of the ICS as a child of this one: the built apps, one adapter per trust
 * from `config/ics.json`, and the two sandboxes. Used by `npm start`, the end-to-end tests and the
 * benchmarks (which shift every port by an offset so they never collide with a running demo).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { sandboxPasInboundToken } from '@app/contracts';
import { DEFAULT_DATABASE_URL } from './services';

export interface StackOptions {
  databaseUrl: string;
  redisUrl: string;
  /** Added to every port (HTTP and MLLP), so a test stack can run beside the demo. */
  portOffset?: number;
  /** Overrides for every process (applied after each process's own settings). */
  env?: Record<string, string>;
  /** Overrides for the named processes only (applied last), e.g. one adapter's give-up limit in a test. */
  envFor?: Record<string, Record<string, string>>;
  /** Process names to start (default: all). */
  apps?: string[];
  log?: (line: string) => void;
  /** How long each process has to answer `GET /health/ready` with 200 (default 90 s). */
  readyTimeoutMs?: number;
}

export interface ExitReport {
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The process's last lines of output. */
  tail: string[];
}

export interface Stack {
  /** Process name → base HTTP URL. */
  urls: Record<string, string>;
  /** Trust ODS → its adapter's MLLP port (offset applied). */
  mllpPorts: Record<string, number>;
  processes: Array<{ name: string; pid: number }>;
  /** Settles when a process exits on its own after start-up (never when `stop()` ends it). */
  exited: Promise<ExitReport>;
  stop(): Promise<void>;
}

export interface ProcessSpec {
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

/**
 * Where embedded servers keep their files: `<repo>/.data`, or STACK_DATA_DIR (CI points it at a
 * fresh folder so every run starts from empty servers).
 */
export function stackDataDir(env: Record<string, string | undefined> = process.env): string {
  return env.STACK_DATA_DIR ? resolve(env.STACK_DATA_DIR) : join(repoRootDir(), '.data');
}

export interface IcsTrust {
  ods: string;
  name?: string;
  httpPort: number;
  mllpPort: number;
}

export function icsConfigDir(env: Record<string, string | undefined> = process.env): string {
  return env.ICS_CONFIG_DIR || join(repoRootDir(), 'config');
}

export function loadTrusts(configDir = icsConfigDir()): IcsTrust[] {
  const ics = JSON.parse(readFileSync(join(configDir, 'ics.json'), 'utf8')) as { trusts?: IcsTrust[] };
  if (!Array.isArray(ics.trusts) || ics.trusts.length === 0) throw new Error(`${join(configDir, 'ics.json')} lists no trusts`);
  return ics.trusts;
}

/** Whether a built app exists (the dashboard is optional: it is started only when built). */
export function appBuilt(app: string, root = repoRootDir()): boolean {
  return existsSync(join(root, 'dist', 'apps', app, 'src', 'main.js'));
}

/**
 * Redis databases a stack on shifted ports may take: 1-15 without 9, which `.ci/run` empties for
 * its acceptance stack. Fourteen of them, so the offsets people pick (10, 100, 1000, 10000: all
 * alike mod 15) land on different ones.
 */
const OFFSET_REDIS_DBS = [1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15];

/**
 * The database and Redis database a stack uses when DATABASE_URL / REDIS_URL are not set: the
 * first stack `slot_exchange` and Redis db 0; a stack on shifted ports (PORT_OFFSET) its own,
 * `slot_exchange_<offset>` and OFFSET_REDIS_DBS[offset mod 14], so that two stacks on one Postgres
 * and one Redis share no rows, no queues and no outbox notifications (two offsets alike mod 14
 * would share a Redis database: README says to set REDIS_URL then).
 */
export function stackStores(offset: number): { database: string; redisDb: number } {
  return offset === 0 ? { database: 'slot_exchange', redisDb: 0 } : { database: `slot_exchange_${offset}`, redisDb: OFFSET_REDIS_DBS[offset % OFFSET_REDIS_DBS.length] };
}

/** PORT_OFFSET, checked. */
export function portOffsetFromEnv(env: Record<string, string | undefined> = process.env): number {
  const portOffset = Number(env.PORT_OFFSET || 0);
  if (!Number.isInteger(portOffset) || portOffset < 0 || portOffset > 60000) throw new Error(`PORT_OFFSET=${env.PORT_OFFSET} is not a whole number of ports`);
  return portOffset;
}

/** The local server's database for a stack on `portOffset` (used when DATABASE_URL is unset). */
export function defaultDatabaseUrl(portOffset: number): string {
  const u = new URL(DEFAULT_DATABASE_URL);
  u.pathname = `/${stackStores(portOffset).database}`;
  return u.toString();
}

/**
 * Every process with its own environment (CONTRACT.md "Default ports"). Per-trust secrets given
 * as `PAS_INBOUND_TOKEN_<ODS>` / `EXCHANGE_TOKEN_<ODS>` (the names the acceptance tests use), and
 * a trust's own PAS as `PAS_FHIR_BASE_URL_<ODS>`, are handed to that trust's adapter as the plain
 * names its config reads. The callers of the adapters' HTTP endpoints, pas-sim (PTL uploads) and
 * the dashboard (resubmitting refused HL7), get the same tokens as their lists
 * (`PAS_INBOUND_TOKENS`, `ADAPTER_TOKENS`) unless those are set.
 */
export function processSpecs(offset = 0, configDir = icsConfigDir(), source: Record<string, string | undefined> = process.env): ProcessSpec[] {
  const trusts = loadTrusts(configDir);
  const p = (n: number) => String(n + offset);
  const local = (n: number) => `http://127.0.0.1:${n + offset}`;
  const list = (f: (t: IcsTrust) => number) => trusts.map((t) => `${t.ods}=${f(t) + offset}`).join(',');
  const perTrust = (t: IcsTrust): Record<string, string> => {
    const out: Record<string, string> = {};
    const inbound = source[`PAS_INBOUND_TOKEN_${t.ods}`];
    const exchange = source[`EXCHANGE_TOKEN_${t.ods}`];
    const pas = source[`PAS_FHIR_BASE_URL_${t.ods}`];
    if (inbound) out.PAS_INBOUND_TOKEN = inbound;
    if (exchange) out.EXCHANGE_TOKEN = exchange;
    if (pas) out.PAS_FHIR_BASE_URL = pas;
    return out;
  };
  // What each adapter ends up with: its own variable, else a PAS_INBOUND_TOKEN every process
  // inherits, else the adapter's sandbox default.
  const inboundTokens = trusts.map((t) => `${t.ods}=${source[`PAS_INBOUND_TOKEN_${t.ods}`] || source.PAS_INBOUND_TOKEN || sandboxPasInboundToken(t.ods)}`).join(',');
  const unlessSet = (name: string): Record<string, string> => (source[name] ? {} : { [name]: inboundTokens });
  const specs: ProcessSpec[] = [
    { name: 'slot-exchange', app: 'slot-exchange', port: 3000 + offset, env: { PORT: p(3000), OFFER_PAGE_BASE_URL: local(3002) } },
    { name: 'booking', app: 'booking', port: 3003 + offset, env: { PORT: p(3003) } },
    { name: 'notifier', app: 'notifier', port: 3002 + offset, env: { PORT: p(3002), NOTIFY_BASE_URL: local(3300) } },
    ...trusts.map((t) => ({
      name: `trust-adapter-${t.ods}`,
      app: 'trust-adapter',
      port: t.httpPort + offset,
      env: {
        TRUST_ODS: t.ods,
        PORT: p(t.httpPort),
        MLLP_PORT: p(t.mllpPort),
        PAS_FHIR_BASE_URL: `${local(3200)}/${t.ods}/fhir`,
        EXCHANGE_URL: local(3000),
        ...perTrust(t),
      },
    })),
    {
      name: 'pas-sim', app: 'pas-sim', port: 3200 + offset,
      env: { PORT: p(3200), ADAPTER_HOST: '127.0.0.1', ADAPTER_MLLP_PORTS: list((t) => t.mllpPort), ADAPTER_HTTP_PORTS: list((t) => t.httpPort), ...unlessSet('PAS_INBOUND_TOKENS') },
    },
    {
      name: 'notify-sim', app: 'notify-sim', port: 3300 + offset,
      // CONTRACT.md: simulated patients answer on their own in the demo, and never unless asked otherwise.
      env: { PORT: p(3300), NOTIFIER_BASE_URL: local(3002), SIM_AUTOREPLY: source.SIM_AUTOREPLY ?? ((source.DEMO ?? '1') === '0' ? '0' : '1') },
    },
  ];
  if (appBuilt('dashboard')) {
    // The adapters' shifted addresses, for resubmitting a refused HL7 message from the failures page.
    specs.push({ name: 'dashboard', app: 'dashboard', port: 3001 + offset, env: { PORT: p(3001), ADAPTER_URLS: trusts.map((t) => `${t.ods}=${local(t.httpPort)}`).join(','), ...unlessSet('ADAPTER_TOKENS') } });
  }
  return specs;
}

// ---------------------------------------------------------------------------------------------
// Children outlive nothing: whichever way this process goes, they go too.

const live = new Set<ChildProcess>();
let hooksInstalled = false;

/** Signals a child's whole process group (it leads one: it was spawned detached). */
function signal(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  try {
    process.kill(-child.pid, sig);
  } catch {
    child.kill(sig);
  }
}

function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) return res();
    const hard = setTimeout(() => signal(child, 'SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(hard);
      res();
    });
    signal(child, 'SIGTERM');
  });
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  // Synchronous last resort: nothing async runs in 'exit', but a signal can still be sent.
  process.once('exit', () => {
    for (const c of live) signal(c, 'SIGKILL');
  });
  // A program that handles SIGINT/SIGTERM itself (start.ts) stops its stack in its own order; only
  // when nobody else listens do we stop the children and then die of the same signal, as the
  // default action would have.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = () => {
      if (process.listenerCount(sig) > 1) return;
      void Promise.all([...live].map((c) => stopChild(c))).finally(() => {
        process.removeListener(sig, handler);
        process.kill(process.pid, sig);
      });
    };
    process.on(sig, handler);
  }
}

/** Stops every child of every stack in this process (for a signal arriving while a stack starts). */
export async function stopAllStacks(): Promise<void> {
  await Promise.all([...live].map((c) => stopChild(c)));
}

/** The orphan guard, when built (see orphan-guard.ts); under ts-jest it is taken from dist too. */
function orphanGuard(root: string): string[] {
  const built = join(root, 'dist', 'tools', 'stack', 'orphan-guard.js');
  return existsSync(built) ? ['--require', built] : [];
}

/** Whether nothing listens on `port` (the apps bind 0.0.0.0, which also collides with 127.0.0.1). */
function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen(port, '0.0.0.0', () => srv.close(() => res(true)));
  });
}

/**
 * Refuses to start over ports already taken: otherwise the readiness checks would be answered by
 * whatever holds them (typically a stack started earlier) and we would report success.
 */
async function checkPorts(specs: ProcessSpec[]): Promise<void> {
  const wanted = specs.flatMap((s) => [
    { port: s.port, what: `${s.name} HTTP` },
    ...(s.env.MLLP_PORT ? [{ port: Number(s.env.MLLP_PORT), what: `${s.name} MLLP` }] : []),
  ]);
  const taken: string[] = [];
  for (const w of wanted) if (!(await portFree(w.port))) taken.push(`${w.port} (${w.what})`);
  if (taken.length) {
    throw new Error(
      `port${taken.length > 1 ? 's' : ''} already in use: ${taken.join(', ')}. Is another stack (\`npm start\`) still running? ` +
        'Stop it, or shift every port with PORT_OFFSET (e.g. PORT_OFFSET=10000).',
    );
  }
}

interface Running {
  spec: ProcessSpec;
  child: ChildProcess;
  tail: string[];
  exit: Promise<ExitReport>;
}

function waitReady(url: string, timeoutMs: number, r: Running): Promise<void> {
  const end = Date.now() + timeoutMs;
  // A holder, not a `let`: TypeScript cannot see the callback assign it and would narrow it to never.
  const seen: { exit?: ExitReport } = {};
  void r.exit.then((e) => (seen.exit = e));
  const early = (e: ExitReport) => `exited early with ${e.signal ? `signal ${e.signal}` : `code ${e.code}`}`;
  const failure = (why: string) => new Error(`${r.spec.name} ${why}; its last ${r.tail.length} lines:\n${r.tail.join('\n')}`);
  return new Promise((res, rej) => {
    const poll = async () => {
      if (seen.exit) return rej(failure(early(seen.exit)));
      try {
        const resp = await fetch(url, { signal: AbortSignal.timeout(2000) });
        await resp.arrayBuffer().catch(() => undefined);
        if (resp.status === 200) return res();
      } catch {
        /* not listening yet */
      }
      if (seen.exit) return rej(failure(early(seen.exit)));
      if (Date.now() > end) return rej(failure(`was not ready (GET ${url} → 200) within ${Math.round(timeoutMs / 1000)} s`));
      setTimeout(() => void poll(), 250);
    };
    void poll();
  });
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  installHooks();
  const root = repoRootDir();
  const offset = opts.portOffset ?? 0;
  const merged = { ...process.env, ...(opts.env ?? {}) };
  const all = processSpecs(offset, icsConfigDir(merged), merged);
  const unknown = (opts.apps ?? []).filter((a) => !all.some((s) => s.name === a));
  if (unknown.length) throw new Error(`unknown process name(s): ${unknown.join(', ')}; known: ${all.map((s) => s.name).join(', ')}`);
  const specs = all.filter((s) => !opts.apps || opts.apps.includes(s.name));
  const missing = [...new Set(specs.map((s) => s.app))].filter((a) => !appBuilt(a, root));
  if (missing.length) {
    throw new Error(`not built: ${missing.map((a) => `dist/apps/${a}/src/main.js`).join(', ')}; run \`npm run build\` first`);
  }

  await checkPorts(specs);

  const log = opts.log ?? (() => undefined);
  const width = Math.max(...specs.map((s) => s.name.length));
  const guard = orphanGuard(root);
  let stopping = false;
  const running: Running[] = [];

  for (const spec of specs) {
    const child = spawn(process.execPath, [...guard, join(root, 'dist', 'apps', spec.app, 'src', 'main.js')], {
      cwd: root,
      env: {
        ...process.env,
        NODE_ENV: process.env.NODE_ENV || 'development',
        DATABASE_URL: opts.databaseUrl,
        REDIS_URL: opts.redisUrl,
        SERVICE_NAME: spec.name,
        STACK_PARENT_PID: String(process.pid),
        ...spec.env,
        ...(opts.env ?? {}),
        ...(opts.envFor?.[spec.name] ?? {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Own process group: a Ctrl-C in the terminal reaches only us, and we send each child exactly
      // one SIGTERM. (Nest stops listening after the first signal, so a second one from the
      // terminal would kill it mid-drain.)
      detached: true,
    });
    live.add(child);
    const tail: string[] = [];
    const prefix = `${spec.name.padEnd(width)} | `;
    const lines = (stream: NodeJS.ReadableStream | null) => {
      let partial = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        const parts = (partial + chunk).split('\n');
        partial = parts.pop() ?? '';
        for (const line of parts) emit(line);
      });
      stream?.on('end', () => partial && emit(partial));
    };
    const emit = (raw: string) => {
      const line = raw.replace(/\r$/, '');
      if (!line) return;
      tail.push(line);
      if (tail.length > 30) tail.shift();
      log(prefix + line);
    };
    lines(child.stdout);
    lines(child.stderr);
    const exit = new Promise<ExitReport>((res) => {
      // 'close' rather than 'exit': by then the last lines of output have been read.
      child.once('close', (code, sig) => {
        live.delete(child);
        res({ name: spec.name, code, signal: sig, tail: [...tail] });
      });
      child.once('error', (e) => {
        emit(`could not start: ${e.message}`);
      });
    });
    running.push({ spec, child, tail, exit });
  }

  const stop = async () => {
    stopping = true;
    await Promise.all(running.map(({ child }) => stopChild(child)));
  };

  try {
    await Promise.all(running.map((r) => waitReady(`http://127.0.0.1:${r.spec.port}/health/ready`, opts.readyTimeoutMs ?? 90_000, r)));
  } catch (e) {
    await stop();
    throw e;
  }

  const exited = new Promise<ExitReport>((res) => {
    for (const r of running) void r.exit.then((report) => !stopping && res(report));
  });
  const mllpPorts = Object.fromEntries(
    specs.filter((s) => s.env.MLLP_PORT && s.env.TRUST_ODS).map((s) => [s.env.TRUST_ODS, Number(s.env.MLLP_PORT)]),
  );
  return {
    urls: Object.fromEntries(specs.map((s) => [s.name, `http://127.0.0.1:${s.port}`])),
    mllpPorts,
    processes: running.map(({ spec, child }) => ({ name: spec.name, pid: child.pid ?? -1 })),
    exited,
    stop,
  };
}
