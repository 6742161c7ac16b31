/**
 * `npm start`: the whole ICS on this machine. Finds or starts Postgres and Redis, migrates, starts
 * every process, prints where everything is, and on Ctrl-C stops the apps first and the servers
 * it started last (so no app loses its database mid-drain).
 */
import { sandboxPasInboundToken, SANDBOX_DASHBOARD_ACCOUNTS, SANDBOX_DASHBOARD_PASSWORD, SANDBOX_NOTIFY_CALLBACK_TOKEN } from '@app/contracts';
import { DEFAULT_POLICY, isInQuietHours, parseQuietHours } from '@app/domain';
// The config module alone: the launcher needs the default, not Nest or telemetry.
import { PolicyConfig } from '@app/platform/config';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { migrate } from './migrate';
import { defaultDatabaseUrl, icsConfigDir, loadTrusts, portOffsetFromEnv, Stack, stackDataDir, stackStores, startStack, stopAllStacks } from './processes';
import { ensurePostgres, ensureRedis, ServiceHandle } from './services';

const out = (line: string) => process.stdout.write(`${line}\n`);

function icsName(): string {
  try {
    return (JSON.parse(readFileSync(join(icsConfigDir(), 'ics.json'), 'utf8')) as { name?: string }).name ?? '';
  } catch {
    return '';
  }
}

/** A secret the user set is never echoed: only the sandbox defaults are printed. */
function shownToken(envName: string, sandboxDefault: string): string {
  const v = process.env[envName];
  return v && v !== sandboxDefault ? `(set by ${envName})` : sandboxDefault;
}

function box(lines: string[]): string {
  const width = Math.max(...lines.map((l) => l.length));
  const rule = '═'.repeat(width + 2);
  return [`╔${rule}╗`, ...lines.map((l) => `║ ${l.padEnd(width)} ║`), `╚${rule}╝`].join('\n');
}

export function summary(stack: Stack, pg: ServiceHandle, redis: ServiceHandle): string {
  const u = stack.urls;
  const row = (label: string, value: string) => `${label.padEnd(20)}${value}`;
  const lines: string[] = [`ICS Slot Exchange is running${icsName() ? ` — ${icsName()}` : ''}`, ''];
  if (u['slot-exchange']) lines.push(row('Slot exchange API', `${u['slot-exchange']}   (OpenAPI: ${u['slot-exchange']}/docs)`));
  if (u.dashboard) {
    lines.push(row('Dashboard', u.dashboard));
    if ((process.env.DASHBOARD_DEMO_ACCOUNTS ?? '1') !== '0') {
      lines.push(row('', `sign in: ${SANDBOX_DASHBOARD_ACCOUNTS.map((a) => a.email).join(', ')} (admin, ICS operations, RQM viewer)`));
      lines.push(row('', `password: ${SANDBOX_DASHBOARD_PASSWORD}`));
    } else lines.push(row('', 'sign in with DASHBOARD_ADMIN_EMAIL / DASHBOARD_ADMIN_PASSWORD (demo accounts off)'));
  }
  if (u.notifier) lines.push(row('Notifier', `${u.notifier}   (patient pages /o/{token}, /notify/inbound, /notify/status)`));
  if (u.booking) lines.push(row('Booking', u.booking));
  const trusts = loadTrusts();
  for (const t of trusts) {
    const http = u[`trust-adapter-${t.ods}`];
    if (!http) continue;
    const mllp = stack.mllpPorts[t.ods];
    lines.push(
      row(`Trust adapter ${t.ods}`, `${http}   MLLP 127.0.0.1:${mllp}   token ${shownToken(process.env[`PAS_INBOUND_TOKEN_${t.ods}`] ? `PAS_INBOUND_TOKEN_${t.ods}` : 'PAS_INBOUND_TOKEN', sandboxPasInboundToken(t.ods))}`),
    );
  }
  if (u['pas-sim']) lines.push(row('PAS sandbox', `${u['pas-sim']}   (FHIR bases ${u['pas-sim']}/{ODS}/fhir)`));
  if (u['notify-sim']) lines.push(row('Notify sandbox', `${u['notify-sim']}   (sent SMS: ${u['notify-sim']}/sim/messages)`));
  lines.push('');
  lines.push(row('Notify callbacks', `token ${shownToken('NOTIFY_CALLBACK_TOKEN', SANDBOX_NOTIFY_CALLBACK_TOKEN)}`));
  const demo = (process.env.DEMO ?? '1') !== '0';
  lines.push(
    row('Demo', demo ? 'ON: demo patients are seeded and the sandbox PASs cancel appointments now and then (DEMO=0 for none)' : 'off (DEMO=0): no demo data, no generated cancellations'),
  );
  // Someone trying the demo in the evening would otherwise see cancellations and no offers.
  const quietHours = process.env.QUIET_HOURS ?? new PolicyConfig().QUIET_HOURS;
  const quiet = parseQuietHours(quietHours);
  if (quiet) {
    const now = isInQuietHours(new Date(), { ...DEFAULT_POLICY, quietHours: quiet });
    lines.push(row('Quiet hours', `${quietHours} Europe/London${now ? ' — IN FORCE NOW: offers and every other text wait until they end' : ''} (QUIET_HOURS= for none)`));
  }
  lines.push(row('Postgres', pg.describe));
  lines.push(row('Redis', redis.describe));
  lines.push('', 'Ctrl-C to stop');
  return box(lines);
}

async function main(): Promise<void> {
  const dataDir = stackDataDir();
  const started: ServiceHandle[] = [];
  let stack: Stack | undefined;
  let shuttingDown = false;

  const stopServices = async () => {
    // Reverse order: Redis (started second) first, Postgres last.
    for (const s of started.reverse()) await s.stop().catch((e: unknown) => out(`could not stop a server: ${String(e)}`));
    started.length = 0;
  };
  const shutdown = async (code: number) => {
    if (shuttingDown) return;
    shuttingDown = true;
    out('Stopping…');
    await (stack ? stack.stop() : stopAllStacks());
    await stopServices();
    out('Stopped.');
    process.exit(code);
  };
  let firstSignalAt = 0;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      if (!firstSignalAt) {
        firstSignalAt = Date.now();
        void shutdown(0);
        return;
      }
      // One stop request can arrive twice (the whole process group is signalled, and npm forwards
      // what it gets); a second Ctrl-C a moment later means "now": the exit hooks still SIGKILL
      // the apps and stop the servers.
      if (Date.now() - firstSignalAt < 1000) return;
      out('Forced exit.');
      process.exit(1);
    });
  }

  try {
    // PORT_OFFSET shifts every port, so a second stack can run beside one already running; unless
    // DATABASE_URL / REDIS_URL say otherwise it gets its own database and Redis database too, or
    // the two stacks would take each other's jobs and rows.
    const portOffset = portOffsetFromEnv();
    const pg = await ensurePostgres({ url: process.env.DATABASE_URL, dataDir, log: out, defaultUrl: defaultDatabaseUrl(portOffset) });
    started.push(pg);
    const redis = await ensureRedis({ url: process.env.REDIS_URL, dataDir, log: out, persistent: true, db: stackStores(portOffset).redisDb || undefined });
    started.push(redis);
    out(`postgres: ${pg.describe}`);
    out(`redis: ${redis.describe}`);
    await migrate(pg.url, out);
    if (shuttingDown) return;
    out('Starting the ICS processes…');
    stack = await startStack({ databaseUrl: pg.url, redisUrl: redis.url, log: out, portOffset });
    out(summary(stack, pg, redis));
    const died = await stack.exited;
    if (shuttingDown) return;
    out(`${died.name} stopped unexpectedly (${died.signal ? `signal ${died.signal}` : `exit code ${died.code}`}); its last lines:`);
    for (const line of died.tail) out(`  ${line}`);
    await shutdown(1);
  } catch (e) {
    if (shuttingDown) return;
    out(`\n${e instanceof Error ? e.message : String(e)}\n`);
    await shutdown(1);
  }
}

if (require.main === module) void main();
