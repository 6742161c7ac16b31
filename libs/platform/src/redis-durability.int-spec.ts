/**
 * Start-up against a real Redis: in production a Redis without an append-only file is refused
 * (README "Running in production"), one with it accepted. A redis-server of its own, so the
 * setting can be changed without touching the shared one.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import IORedis from 'ioredis';
import { QueueService } from './queues';

const redisServer = (process.env.PATH ?? '').split(':').some((d) => d && existsSync(join(d, 'redis-server')));
const maybe = redisServer ? describe : describe.skip;

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

maybe('Redis persistence at start-up (production)', () => {
  let server: ChildProcess;
  let url: string;
  let dir: string;
  beforeAll(async () => {
    const port = await freePort();
    dir = mkdtempSync(join(tmpdir(), 'sx-redis-aof-'));
    server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction', '--dir', dir], { stdio: 'ignore' });
    url = `redis://127.0.0.1:${port}`;
    for (let i = 0; i < 100; i++) {
      const r = new IORedis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      r.on('error', () => undefined);
      const up = await r.connect().then(() => r.ping(), () => undefined).finally(() => r.disconnect());
      if (up) return;
      await new Promise((r2) => setTimeout(r2, 100));
    }
    throw new Error('redis-server did not start');
  });
  afterAll(async () => {
    if (server && server.exitCode === null) {
      const gone = new Promise((r) => server.once('exit', r));
      server.kill('SIGKILL');
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  async function init(requireAppendOnly: boolean): Promise<void> {
    const q = new QueueService(url, { requireNoEviction: true, requireAppendOnly });
    try {
      await q.onModuleInit();
    } finally {
      await q.onApplicationShutdown();
    }
  }

  it('refuses a Redis with appendonly no, and starts once it keeps an append-only file', async () => {
    await expect(init(true)).rejects.toThrow(/appendonly is no.*Refusing to start/);
    await expect(init(false)).resolves.toBeUndefined();
    const r = new IORedis(url);
    try {
      await r.config('SET', 'appendonly', 'yes');
    } finally {
      r.disconnect();
    }
    await expect(init(true)).resolves.toBeUndefined();
  });
});
