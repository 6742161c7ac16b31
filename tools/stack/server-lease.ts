/**
 * Who may stop an embedded server (Postgres or Redis) that several launchers use at once.
 *
 * `npm start` (and a second one beside it with PORT_OFFSET), `npm test` and `npm run bench` look
 * for the embedded servers in the same `<repo>/.data` folders, and one that finds a server already
 * running from its folder uses it (starting a second on the same files would fail). So the server
 * must be stopped by the last launcher to finish, never by whichever started it: otherwise tests
 * ending take the database away from a demo started meanwhile.
 *
 * Each launcher using the server holds a lease, a file `use-<pid>-<nonce>` in `<server dir>.leases/`.
 * Releasing deletes it, and stops the server only when no lease of a live process is left. A
 * launcher killed outright (SIGKILL) leaves its file behind; its process is gone, so the file is
 * ignored, and the next launcher to finish stops the server it left running, as before. The
 * process's start time is kept in the file, so a pid the system has since reused is not mistaken
 * for the launcher.
 *
 * Looking for others and stopping are two steps, and a launcher arriving in between would find the
 * server running just as it is stopped. So the stopper first writes `stop-<pid>-<nonce>` and keeps
 * it until the server is down, while a newcomer first writes its lease and then waits while any
 * stop file of a live process exists. Whichever writes first is seen by the other: either the
 * stopper sees the lease and leaves the server running, or the newcomer sees the stop, waits for
 * it, and then starts a fresh server. That needs no lock (Node has no portable file lock, and a
 * lock file left by a killed launcher would need the same liveness test anyway).
 *
 * Why not a folder per command instead (as `npm test` had for Redis, 'redis-ephemeral'): two runs
 * of one command still share it (`npm test` beside `npm run bench`, two `npm start`s), and a
 * folder per run costs an initdb every time and leaves clusters behind when a run is killed.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

type Log = (line: string) => void;
type Mark = 'use' | 'stop';

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}

/** When `pid` started, as `ps` tells it; '' when it cannot (no such process, or no `ps`). */
function startedAt(pid: number): string {
  try {
    return execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

function remove(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    /* already gone (removed as stale by another launcher) */
  }
}

function write(dir: string, mark: Mark, pid: number): string {
  const file = join(dir, `${mark}-${pid}-${randomBytes(4).toString('hex')}`);
  writeFileSync(file, `${startedAt(pid)}\n`);
  return file;
}

/** Whether a live process holds a `mark` file in `dir`; files of dead processes are removed. */
function held(dir: string, mark: Mark): boolean {
  let found = false;
  for (const name of readdirSync(dir)) {
    const [kind, pidText] = name.split('-');
    if (kind !== mark) continue;
    const pid = Number(pidText);
    const file = join(dir, name);
    let recorded = '';
    try {
      recorded = readFileSync(file, 'utf8').trim();
    } catch {
      continue; // removed meanwhile
    }
    // An empty start time (the file is being written, or `ps` failed) trusts the pid alone.
    if (pid > 0 && alive(pid) && (!recorded || recorded === startedAt(pid))) found = true;
    else remove(file);
  }
  return found;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ServerLease {
  /** Leases this process holds: at exit, the last resort for any not released. */
  private static readonly held = new Set<ServerLease>();
  private kill?: () => void;

  private constructor(
    private readonly dir: string,
    private readonly file: string,
  ) {}

  /**
   * Registers this process (or `pid`) as a user of the server kept in `serverDir`, waiting while
   * another launcher is stopping it. Take it before looking for the server.
   */
  static async take(serverDir: string, opts: { log?: Log; pid?: number; waitMs?: number } = {}): Promise<ServerLease> {
    const dir = `${serverDir}.leases`;
    mkdirSync(dir, { recursive: true });
    const lease = new ServerLease(dir, write(dir, 'use', opts.pid ?? process.pid));
    ServerLease.held.add(lease);
    if (ServerLease.held.size === 1) process.once('exit', ServerLease.atExit);
    // Stopping waits at most 30 s for the server before SIGKILL.
    const deadline = Date.now() + (opts.waitMs ?? 45_000);
    for (let said = false; held(dir, 'stop'); said = true) {
      if (!said) opts.log?.(`waiting for another launcher to finish stopping the server in ${serverDir}`);
      if (Date.now() > deadline) {
        lease.drop();
        throw new Error(`another launcher has been stopping the server in ${serverDir} for too long (its stop-* file in ${dir})`);
      }
      await sleep(100);
    }
    return lease;
  }

  /**
   * Sets how to stop the server at once should this process exit still holding the lease (a
   * forced exit); used only when no one else holds one. Set it as soon as the server runs.
   */
  guard(kill: () => void): void {
    this.kill = kill;
  }

  /** Gives the lease up and, if no live launcher holds another, stops the server with `stop`. */
  async release(stop: () => Promise<void>): Promise<void> {
    if (!this.drop()) return;
    const stopping = write(this.dir, 'stop', process.pid);
    try {
      if (!held(this.dir, 'use')) await stop();
    } finally {
      remove(stopping);
    }
  }

  /** Gives the lease up without stopping anything (e.g. the server could not be started). False if already given up. */
  drop(): boolean {
    if (!ServerLease.held.delete(this)) return false;
    remove(this.file);
    if (ServerLease.held.size === 0) process.removeListener('exit', ServerLease.atExit);
    return true;
  }

  private static atExit(this: void): void {
    for (const lease of [...ServerLease.held]) {
      lease.drop();
      if (lease.kill && !held(lease.dir, 'use')) lease.kill();
    }
  }
}
