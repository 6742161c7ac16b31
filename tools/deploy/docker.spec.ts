/**
 * Docker cannot build or run here, so the Dockerfile and the compose file are checked statically:
 * the image is multi-stage, prunes dev dependencies, runs as a non-root user through the entrypoint
 * that names an app; compose runs every app of the image read-only, with Postgres, Redis (AOF,
 * noeviction), an OpenTelemetry collector and Jaeger, and every reference in it resolves.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseKeyValueList, readsVariable } from '@app/platform';
import { APP_CONFIGS, isProductionApp } from './app-configs';
import { APPS } from './entrypoint';

const ROOT = join(__dirname, '..', '..');
const dockerfile = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
const compose = parse(readFileSync(join(ROOT, 'deploy', 'compose.yaml'), 'utf8'), { merge: true }) as {
  'x-app': { environment: Record<string, string> };
  services: Record<string, { image?: string; command?: string[]; read_only?: boolean; environment?: Record<string, string>; depends_on?: Record<string, unknown> | string[]; network_mode?: string; ports?: string[]; volumes?: string[] }>;
};
const trusts = (JSON.parse(readFileSync(join(ROOT, 'config', 'ics.json'), 'utf8')) as { trusts: Array<{ ods: string; httpPort: number; mllpPort: number }> }).trusts;

describe('deploy/Dockerfile', () => {
  const stages = dockerfile.split(/^FROM /m).slice(1);

  it('builds in one stage and runs production dependencies only, as a non-root user, in another', () => {
    expect(stages.length).toBe(2);
    expect(stages[0]).toMatch(/npm ci/);
    expect(stages[0]).toMatch(/npm prune --omit=dev/);
    const runtime = stages[1];
    expect(runtime).not.toMatch(/npm (ci|install)/);
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/^ENV NODE_ENV=production$/m);
    expect(runtime).toMatch(/^ENTRYPOINT \["node", "dist\/tools\/deploy\/entrypoint\.js"\]$/m);
    const cmd = JSON.parse(/^CMD (.+)$/m.exec(runtime)![1]) as string[];
    expect(APPS).toContain(cmd[0]);
  });

  it('copies only paths that exist', () => {
    for (const m of dockerfile.matchAll(/^COPY (?!--from)(?:--\S+ )*(.+) \S+$/gm)) {
      for (const src of m[1].split(' ')) expect({ src, exists: existsSync(join(ROOT, src)) }).toEqual({ src, exists: true });
    }
  });
});

describe('deploy/compose.yaml', () => {
  const services = compose.services;

  it('runs every app of the image read-only, and each trust adapter on its own ports', () => {
    const appServices = Object.entries(services).filter(([, s]) => s.image === 'ics-slot-exchange:local' && s.command);
    const started = new Set(appServices.map(([, s]) => s.command![0]));
    expect([...started].sort()).toEqual([...APPS, 'migrate'].sort());
    for (const [name, s] of appServices) expect({ name, readOnly: s.read_only }).toEqual({ name, readOnly: true });
    for (const t of trusts) {
      const adapter = appServices.find(([, s]) => s.environment?.TRUST_ODS === t.ods)?.[1];
      expect(adapter?.environment).toMatchObject({ PORT: String(t.httpPort), MLLP_PORT: String(t.mllpPort) });
    }
  });

  it('tells the dashboard where each trust\'s adapter is, to resubmit refused HL7 to it', () => {
    const urls = parseKeyValueList(services.dashboard.environment?.ADAPTER_URLS);
    for (const t of trusts) {
      const [name, adapter] = Object.entries(services).find(([, s]) => s.environment?.TRUST_ODS === t.ods)!;
      // The host that answers for the adapter: its own service, or the one whose network it shares.
      const host = adapter.network_mode?.startsWith('service:') ? adapter.network_mode.slice(8) : name;
      expect({ ods: t.ods, url: urls[t.ods] }).toEqual({ ods: t.ods, url: `http://${host}:${t.httpPort}` });
    }
  });

  it('runs the demo as `npm start` does: cancellations (DEMO=1) and simulated patients who answer them', () => {
    expect(services['pas-sim'].environment?.DEMO).toBe('1');
    expect(services['notify-sim'].environment?.SIM_AUTOREPLY).toBe('1');
  });

  it('gives each app only variables it reads, beyond the settings every service shares', () => {
    const shared = new Set(Object.keys(compose['x-app'].environment));
    const problems: string[] = [];
    for (const [name, s] of Object.entries(services)) {
      const app = s.command?.[0];
      if (!app || !isProductionApp(app)) continue;
      for (const key of Object.keys(s.environment ?? {})) if (!shared.has(key) && !readsVariable(APP_CONFIGS[app], key)) problems.push(`${name}: ${app} does not read ${key}`);
    }
    expect(problems).toEqual([]);
  });

  it('has Postgres, Redis with AOF and noeviction, an OpenTelemetry collector and Jaeger, and every reference resolves', () => {
    expect(services.postgres).toBeDefined();
    const redis = services.redis.command!.join(' ');
    expect(redis).toMatch(/--appendonly yes/);
    expect(redis).toMatch(/--maxmemory-policy noeviction/);
    expect(services['otel-collector']).toBeDefined();
    expect(services.jaeger).toBeDefined();
    expect(existsSync(join(ROOT, 'deploy', 'otel-collector.yaml'))).toBe(true);
    for (const [name, s] of Object.entries(services)) {
      const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
      for (const d of deps) expect({ name, dep: d, exists: d in services }).toEqual({ name, dep: d, exists: true });
      if (s.network_mode?.startsWith('service:')) expect(services[s.network_mode.slice(8)]).toBeDefined();
      for (const [k, v] of Object.entries(s.environment ?? {})) {
        const host = /^\w+:\/\/(?:[^@/]+@)?([^:/]+)/.exec(String(v))?.[1];
        if (host && k !== 'OFFER_PAGE_BASE_URL') expect({ name, k, host, service: host in services }).toEqual({ name, k, host, service: true });
      }
    }
    // Published host ports never collide.
    const published = Object.values(services).flatMap((s) => s.ports ?? []).flatMap((p) => {
      const [from, to] = p.split(':')[0].split('-').map(Number);
      return Array.from({ length: (to ?? from) - from + 1 }, (_, i) => from + i);
    });
    expect(new Set(published).size).toBe(published.length);
  });
});
