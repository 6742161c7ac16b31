/**
 * Profiling aid for a benchmark that starts the stack (not used by `npm run bench` itself):
 *
 *   node -r ./bench/profile-hook.js dist/bench/run.js --only accept_storm_p99_ms
 *
 * (under the stack lock, as any bench). NODE_OPTIONS may not carry --cpu-prof, so this hook adds
 * `--cpu-prof --cpu-prof-dir=$PROF_DIR/<process>` to every app the stack spawns (PROF_CPU=0: no
 * profiles). From the first `POST /notify/inbound` the bench sends until it prints its
 * "accept storm:" line it also records, in $PROF_DIR (default /tmp/bench-prof):
 * - ticks.json: CPU time (1/100 s) of each app, of all Postgres and redis-server processes and of
 *   the bench itself;
 * - waits.txt: what active Postgres backends of the bench databases were doing, sampled every
 *   50 ms (wait event and statement), most frequent first: lock queues show up here.
 * Profiles are written when the stack stops; they count wall time (a process waiting for a core
 * is charged to whatever it was running, often writev), so compare them with ticks.json.
 */
const cp = require('node:child_process');
const fs = require('node:fs');
const { Client } = require('pg');

const dir = process.env.PROF_DIR || '/tmp/bench-prof';
const kids = [];
let started = false;
let frozen = false;
let base = null;

const ticksOf = (stat) => {
  const f = stat.split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
};
const ticks = (pid) => {
  try { return ticksOf(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return NaN; }
};
/** CPU of every process with this command name (exited children included via cutime/cstime). */
const ticksNamed = (comm) => {
  let t = 0;
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try { const s = fs.readFileSync(`/proc/${p}/stat`, 'utf8'); if (s.includes(`(${comm})`)) t += ticksOf(s); } catch { /* gone */ }
  }
  return t;
};

const spawn = cp.spawn;
cp.spawn = function (cmd, args, opts) {
  if (cmd !== process.execPath || !(args || []).some((a) => typeof a === 'string' && a.includes('/dist/apps/'))) return spawn.call(this, cmd, args, opts);
  const name = (opts && opts.env && opts.env.SERVICE_NAME) || 'app';
  fs.mkdirSync(`${dir}/${name}`, { recursive: true });
  if (process.env.PROF_CPU !== '0') args = ['--cpu-prof', `--cpu-prof-dir=${dir}/${name}`, ...args];
  const child = spawn.call(this, cmd, args, opts);
  kids.push({ name, pid: child.pid });
  return child;
};

// The measured span on the clock V8's profiler stamps its samples with (CLOCK_MONOTONIC, µs),
// written to window.json so that a profile's samples can be cut to it.
const monotonicMicros = () => Number(process.hrtime.bigint() / 1000n);
const window = { start: null, stop: null };
const markStart = () => {
  if (!started) window.start = monotonicMicros();
  started = true;
};
const fetch0 = global.fetch;
global.fetch = function (url, ...rest) {
  if (String(url).includes('/notify/inbound')) markStart();
  return fetch0.call(this, url, ...rest);
};
// Other benches: PROF_START_ON / PROF_STOP_ON, patterns of the lines a bench prints as its
// measured part starts and ends (e.g. the burst's "burst: sending" and "burst: done").
const startOn = process.env.PROF_START_ON ? new RegExp(process.env.PROF_START_ON) : null;
const stopOn = new RegExp(process.env.PROF_STOP_ON || '^accept storm:');
const log0 = console.log;
console.log = function (...a) {
  if (startOn && startOn.test(String(a[0]))) {
    markStart();
    sample(); // the base at the very start, not up to one interval later (short benches)
  }
  if (stopOn.test(String(a[0])) && !frozen) {
    sample(); // and the very end
    window.stop = monotonicMicros();
    fs.writeFileSync(`${dir}/window.json`, JSON.stringify(window));
    frozen = true;
    try { log0(`CPU ticks (1/100 s) while measured: ${fs.readFileSync(`${dir}/ticks.json`, 'utf8').replace(/\s+/g, ' ')}`); } catch { /* none yet */ }
  }
  return log0.apply(this, a);
};

fs.mkdirSync(dir, { recursive: true });
function sample() {
  if (!started || frozen) return;
  const now = { pg: ticksNamed('postgres'), redis: ticksNamed('redis-server'), bench: ticks(process.pid) };
  for (const k of kids) now[k.name] = ticks(k.pid);
  if (!base) base = now;
  fs.writeFileSync(`${dir}/ticks.json`, JSON.stringify(Object.fromEntries(Object.keys(now).map((k) => [k, now[k] - base[k]])), null, 1));
}
setInterval(sample, 500).unref();

const pg = new Client({ connectionString: process.env.PROF_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres' });
pg.on('error', () => undefined);
const waits = new Map();
let samples = 0;
pg.connect().then(() => {
  setInterval(async () => {
    if (!started || frozen) return;
    try {
      const r = await pg.query(
        `SELECT coalesce(wait_event_type, 'CPU') || ':' || coalesce(wait_event, '-') AS w, left(regexp_replace(query, '\\s+', ' ', 'g'), 100) AS q
           FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() AND datname LIKE 'sx_bench%'`,
      );
      samples++;
      for (const x of r.rows) waits.set(`${x.w} | ${x.q}`, (waits.get(`${x.w} | ${x.q}`) || 0) + 1);
      fs.writeFileSync(`${dir}/waits.txt`, `${samples} samples\n${[...waits].sort((a, b) => b[1] - a[1]).slice(0, 40).map(([k, n]) => `${String(n).padStart(6)} ${k}`).join('\n')}\n`);
    } catch { /* next sample */ }
  }, 50).unref();
  pg.connection.stream.unref?.();
}, () => undefined);
