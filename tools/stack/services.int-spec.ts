/**
 * The launcher's service discovery against real servers: the environment's, the local defaults,
 * and the fallbacks a fresh machine gets (embedded Postgres, redis-server from PATH), plus the
 * message people see when Redis cannot be had at all. Fallbacks are forced by pointing the
 * "local default" at a port where nothing listens.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import IORedis from 'ioredis';
import { Client } from 'pg';
import { ensurePostgres, ensureRedis, freePort, onPath, postmasterHolder, REDIS_HELP, ServiceHandle } from './services';

jest.setTimeout(60_000);

const baseDatabaseUrl = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const dirs: string[] = [];

function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sx-stack-'));
  // When the tests run as root, the embedded server runs as another user, who must reach the folder.
  chmodSync(d, 0o755);
  dirs.push(d);
  return d;
}

async function query<T>(url: string, sql: string): Promise<T[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows as T[];
  } finally {
    await c.end();
  }
}

async function dropDatabase(url: string): Promise<void> {
  const admin = new URL(url);
  const name = admin.pathname.slice(1);
  admin.pathname = '/postgres';
  await query(admin.toString(), `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
}

/**
 * Where an embedded server is asked to listen: below Linux's ephemeral range (32768-60999), so no
 * outgoing connection on the machine takes the port as its source port during the seconds initdb
 * runs (ensurePostgres would then move to the next port, and the test would read that as a fault).
 */
const embeddedPortBase = () => 28000 + Math.floor(Math.random() * 2000);

/** A URL on a port where nothing listens, standing in for "no local server". */
async function nowhere(scheme: 'postgres' | 'redis', path = ''): Promise<string> {
  const port = await freePort(41000 + Math.floor(Math.random() * 5000));
  return scheme === 'postgres' ? `postgres://postgres@127.0.0.1:${port}/${path}` : `redis://127.0.0.1:${port}`;
}

/**
 * Two launchers on one embedded server: `npm test` starts it and `npm start` begins meanwhile and
 * finds it running. The tests ending must leave it to the demo; the demo ending stops it.
 * `reach` fails when the server at the URL does not answer.
 */
async function expectLastLauncherStops(open: () => Promise<ServiceHandle>, reach: (url: string) => Promise<unknown>): Promise<void> {
  const tests = await open();
  let demo: ServiceHandle | undefined;
  try {
    demo = await open();
    expect(tests).toMatchObject({ started: true, source: 'embedded' });
    expect(demo).toMatchObject({ started: false, source: 'embedded', url: tests.url });
    await tests.stop();
    await reach(demo.url);
  } finally {
    await tests.stop();
    await demo?.stop();
  }
  await expect(reach(tests.url)).rejects.toThrow();
}

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('ensurePostgres', () => {
  it('creates the database named in DATABASE_URL when it does not exist yet', async () => {
    const u = new URL(baseDatabaseUrl);
    u.pathname = `/sx_stack_${randomBytes(4).toString('hex')}`;
    const url = u.toString();
    const logs: string[] = [];
    try {
      const pg = await ensurePostgres({ url, dataDir: dataDir(), log: (l) => logs.push(l) });
      expect(pg).toMatchObject({ url, started: false, source: 'env' });
      const [row] = await query<{ db: string }>(url, 'SELECT current_database() AS db');
      expect(row.db).toBe(u.pathname.slice(1));
      expect(logs.join('\n')).toContain('created database');
      await pg.stop(); // not ours: a no-op
      expect((await query<{ one: number }>(url, 'SELECT 1 AS one'))[0].one).toBe(1);
    } finally {
      await dropDatabase(url);
    }
  });

  it('says plainly when DATABASE_URL cannot be used, without echoing the password', async () => {
    const url = (await nowhere('postgres', 'slot_exchange')).replace('postgres@', 'postgres:s3cret@');
    await expect(ensurePostgres({ url, dataDir: dataDir() })).rejects.toThrow(/Cannot use PostgreSQL at .*DATABASE_URL/);
    await expect(ensurePostgres({ url, dataDir: dataDir() })).rejects.not.toThrow(/s3cret/);
  });

  it('starts an embedded server when there is neither DATABASE_URL nor a local server, and reuses its folder', async () => {
    const dir = dataDir();
    const defaultUrl = await nowhere('postgres', 'sx_embedded');
    const embeddedPort = await freePort(embeddedPortBase());
    const logs: string[] = [];
    const first = await ensurePostgres({ dataDir: dir, defaultUrl, embeddedPort, log: (l) => logs.push(l) });
    try {
      expect(first).toMatchObject({ started: true, source: 'embedded' });
      expect(new URL(first.url).port).toBe(String(embeddedPort));
      const [row] = await query<{ one: number; db: string }>(first.url, 'SELECT 1 AS one, current_database() AS db');
      expect(row).toEqual({ one: 1, db: 'sx_embedded' });
      expect(logs.join('\n')).toContain('creating the embedded cluster');
    } finally {
      await first.stop();
    }
    await expect(query(first.url, 'SELECT 1')).rejects.toThrow(/ECONNREFUSED/);

    // A second start finds the cluster (no initdb) and its password file.
    logs.length = 0;
    const second = await ensurePostgres({ dataDir: dir, defaultUrl, embeddedPort, log: (l) => logs.push(l) });
    try {
      expect((await query<{ one: number }>(second.url, 'SELECT 1 AS one'))[0].one).toBe(1);
      expect(logs.join('\n')).not.toContain('creating the embedded cluster');
    } finally {
      await second.stop();
    }
  });

  it('starts over a postmaster.pid whose pid now belongs to an unrelated process (a reboot reused it)', async () => {
    const dir = dataDir();
    const defaultUrl = await nowhere('postgres', 'sx_stale');
    const embeddedPort = await freePort(embeddedPortBase());
    const first = await ensurePostgres({ dataDir: dir, defaultUrl, embeddedPort });
    await first.stop();
    const cluster = join(dir, 'postgres');
    expect(existsSync(join(cluster, 'postmaster.pid'))).toBe(false);
    // What a server killed without a clean stop leaves, its pid now some other program's.
    const unrelated = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      writeFileSync(join(cluster, 'postmaster.pid'), `${unrelated.pid}\n${cluster}\n1700000000\n${embeddedPort}\n\n127.0.0.1\n`);
      const logs: string[] = [];
      const second = await ensurePostgres({ dataDir: dir, defaultUrl, embeddedPort, log: (l) => logs.push(l) });
      try {
        expect(second).toMatchObject({ started: true, source: 'embedded' });
        expect((await query<{ one: number }>(second.url, 'SELECT 1 AS one'))[0].one).toBe(1);
        expect(logs.join('\n')).toContain('no longer a Postgres');
        expect(readFileSync(join(cluster, 'postmaster.pid'), 'utf8').split('\n')[0]).not.toBe(String(unrelated.pid));
      } finally {
        await second.stop();
      }
    } finally {
      unrelated.kill('SIGKILL');
    }
  });

  it('keeps an embedded server running while another launcher uses it; the last one to finish stops it', async () => {
    const dir = dataDir();
    const defaultUrl = await nowhere('postgres', 'sx_shared');
    const embeddedPort = await freePort(embeddedPortBase());
    await expectLastLauncherStops(
      () => ensurePostgres({ dataDir: dir, defaultUrl, embeddedPort }),
      (url) => query(url, 'SELECT 1'),
    );
  });
});

describe('ensureRedis', () => {
  it('uses the local default (or starts one from PATH when there is none) and answers PING', async () => {
    const redis = await ensureRedis({ dataDir: dataDir() });
    try {
      expect(['local', 'embedded']).toContain(redis.source);
      const r = new IORedis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1, disconnectTimeout: 100 });
      await r.connect();
      try {
        expect(await r.ping()).toBe('PONG');
      } finally {
        r.disconnect();
      }
    } finally {
      await redis.stop();
    }
  });

  const withRedisServer = onPath('redis-server') ? it : it.skip;
  withRedisServer('starts redis-server from PATH when nothing answers, with noeviction, and stops it', async () => {
    const defaultUrl = await nowhere('redis');
    const logs: string[] = [];
    const redis = await ensureRedis({ dataDir: dataDir(), defaultUrl, port: await freePort(46000 + Math.floor(Math.random() * 1000)), log: (l) => logs.push(l) });
    const r = new IORedis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, disconnectTimeout: 100 });
    r.on('error', () => undefined);
    try {
      expect(redis).toMatchObject({ started: true, source: 'embedded' });
      await r.connect();
      expect(await r.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
      expect(logs.join('\n')).not.toContain('WARNING');
    } finally {
      r.disconnect();
      await redis.stop();
    }
    const after = new IORedis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, disconnectTimeout: 100 });
    after.on('error', () => undefined);
    await expect(after.connect()).rejects.toThrow();
    after.disconnect();
  });

  withRedisServer('keeps a started redis-server running while another launcher uses it; the last one to finish stops it', async () => {
    const dir = dataDir();
    const defaultUrl = await nowhere('redis');
    const port = await freePort(46000 + Math.floor(Math.random() * 1000));
    const ping = async (url: string) => {
      const r = new IORedis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, disconnectTimeout: 100 });
      r.on('error', () => undefined);
      try {
        await r.connect();
        return await r.ping();
      } finally {
        r.disconnect();
      }
    };
    await expectLastLauncherStops(() => ensureRedis({ dataDir: dir, defaultUrl, port }), ping);
  });

  it('tells people how to install Redis when none answers and there is no redis-server on PATH', async () => {
    const defaultUrl = await nowhere('redis');
    const path = process.env.PATH;
    process.env.PATH = '';
    try {
      await expect(ensureRedis({ dataDir: dataDir(), defaultUrl })).rejects.toThrow(REDIS_HELP);
    } finally {
      process.env.PATH = path;
    }
    expect(REDIS_HELP).toMatch(/sudo apt-get install redis-server.*brew install redis.*REDIS_URL=redis:\/\/host:6379/);
  });

  it('uses its own Redis database when told one (a stack on shifted ports)', async () => {
    const local = await ensureRedis({ dataDir: dataDir(), db: 14 });
    try {
      expect(new URL(local.url).pathname).toBe('/14');
      expect(local.describe).toContain('db 14');
    } finally {
      await local.stop();
    }
  });

  withRedisServer('gives a started redis-server the Redis database it was told', async () => {
    const redis = await ensureRedis({ dataDir: dataDir(), defaultUrl: await nowhere('redis'), port: await freePort(46000 + Math.floor(Math.random() * 1000)), db: 14 });
    try {
      expect(redis.source).toBe('embedded');
      expect(new URL(redis.url).pathname).toBe('/14');
    } finally {
      await redis.stop();
    }
  });

  describe('a listener that accepts and never answers (a stopped redis-server, another program)', () => {
    let silent: Server;
    const sockets: Socket[] = [];
    let url: string;
    beforeAll(async () => {
      silent = createServer((s) => sockets.push(s));
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      url = `redis://127.0.0.1:${(silent.address() as { port: number }).port}`;
    });
    afterAll(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    });

    it('does not hang the launcher, and says it cannot use that port rather than that nothing is there', async () => {
      const path = process.env.PATH;
      process.env.PATH = '';
      const t = Date.now();
      try {
        const failure = await ensureRedis({ dataDir: dataDir(), defaultUrl: url }).then(() => undefined, (e: Error) => e);
        expect(failure?.message).toContain(REDIS_HELP);
        expect(failure?.message).toMatch(/cannot use 127\.0\.0\.1:\d+: no answer to PING/);
        expect(failure?.message).not.toContain('nothing answered');
      } finally {
        process.env.PATH = path;
      }
      expect(Date.now() - t).toBeLessThan(10_000);
    }, 15_000);

    withRedisServer('starts redis-server instead, saying why the one there was not used', async () => {
      const logs: string[] = [];
      const redis = await ensureRedis({ dataDir: dataDir(), defaultUrl: url, port: await freePort(46000 + Math.floor(Math.random() * 1000)), log: (l) => logs.push(l) });
      try {
        expect(redis.source).toBe('embedded');
        expect(logs.join('\n')).toMatch(/redis: cannot use 127\.0\.0\.1:\d+: no answer to PING.*; starting/);
      } finally {
        await redis.stop();
      }
    }, 30_000);

    it('refuses it as REDIS_URL within the probe\'s time', async () => {
      await expect(ensureRedis({ url, dataDir: dataDir() })).rejects.toThrow(/Cannot use Redis at .*REDIS_URL.*no answer to PING/);
    }, 15_000);
  });

  it('refuses a REDIS_URL that does not answer rather than falling back', async () => {
    await expect(ensureRedis({ url: await nowhere('redis'), dataDir: dataDir() })).rejects.toThrow(/Cannot use Redis at .*REDIS_URL/);
  });
});
