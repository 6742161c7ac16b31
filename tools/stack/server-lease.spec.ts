/** Leases on an embedded server's folder: the last live launcher to finish stops the server. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerLease } from './server-lease';

let root: string;
let serverDir: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'sx-lease-'));
  serverDir = join(root, 'postgres');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** Counts the calls of a server's stop. */
function server() {
  const s = { stops: 0, stop: async () => void s.stops++ };
  return s;
}

describe('ServerLease', () => {
  it('stops the server only when the last lease is released', async () => {
    const pg = server();
    const tests = await ServerLease.take(serverDir);
    const demo = await ServerLease.take(serverDir);
    await tests.release(pg.stop);
    expect(pg.stops).toBe(0);
    await demo.release(pg.stop);
    expect(pg.stops).toBe(1);
    await demo.release(pg.stop); // twice is once
    expect(pg.stops).toBe(1);
  });

  it('leaves the server to a launcher that is still alive, and ignores one killed outright', async () => {
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    const gone = new Promise((r) => other.once('exit', r));
    const pg = server();
    await ServerLease.take(serverDir, { pid: other.pid });

    const first = await ServerLease.take(serverDir);
    await first.release(pg.stop);
    expect(pg.stops).toBe(0);

    other.kill('SIGKILL');
    await gone;
    const second = await ServerLease.take(serverDir);
    await second.release(pg.stop);
    expect(pg.stops).toBe(1);
  });

  it('makes a newcomer wait while the last launcher stops the server, so it never picks up a dying one', async () => {
    let finishStopping = () => undefined as void;
    const stopping = new Promise<void>((r) => (finishStopping = r));
    const last = await ServerLease.take(serverDir);
    const released = last.release(() => stopping);

    let taken = false;
    const newcomer = ServerLease.take(serverDir).then((l) => ((taken = true), l));
    await new Promise((r) => setTimeout(r, 300));
    expect(taken).toBe(false);

    finishStopping();
    await released;
    const lease = await newcomer;
    expect(taken).toBe(true);
    lease.drop();
  });
});
