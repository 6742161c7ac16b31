/**
 * `npm run adapter:replay -- --trust RQM --since 2026-11-23T00:00Z [--until …]`: re-processes the
 * trust's archived HL7 received in that window (after a clinic-mapping fix, or to re-send what
 * never reached the exchange). Safe to run twice. Uses the same configuration as the adapter
 * (DATABASE_URL, REDIS_URL, CLINIC_MAP_FILE, ICS_CONFIG_DIR); the running adapter forwards what it accepts.
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { loadConfig } from '@app/platform';
import { parseArgs } from 'node:util';
import { AdapterConfig } from '../../apps/trust-adapter/src/config';
import { ArchiveReplayer, ReplayModule } from '../../apps/trust-adapter/src/replay';

function instant(name: string, v: string | undefined): Date | undefined {
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new Error(`--${name} must be a date or date-time (ISO 8601), not "${v}"`);
  return d;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { trust: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' } } });
  if (!values.trust || !values.since) throw new Error('usage: npm run adapter:replay -- --trust <ODS> --since <ISO date-time> [--until <ISO date-time>]');
  const config = loadConfig(AdapterConfig, { ...process.env, TRUST_ODS: values.trust }).resolve();
  const app = await NestFactory.createApplicationContext(ReplayModule.forRoot(config), { logger: ['error', 'warn'] });
  try {
    const summary = await app.get(ArchiveReplayer).run(instant('since', values.since)!, instant('until', values.until));
    console.log(JSON.stringify(summary));
  } finally {
    await app.close();
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
