/** What each process is told (CONTRACT.md "Default ports"), with and without a port offset. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultDatabaseUrl, portOffsetFromEnv, processSpecs, stackStores } from './processes';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sx-ics-'));
  writeFileSync(
    join(dir, 'ics.json'),
    JSON.stringify({
      name: 'Test ICS',
      trusts: [
        { ods: 'RQM', name: 'A', httpPort: 3101, mllpPort: 2575, sites: [] },
        { ods: 'RAS', name: 'B', httpPort: 3102, mllpPort: 2576, sites: [] },
        { ods: 'R1K', name: 'C', httpPort: 3103, mllpPort: 2577, sites: [] },
        { ods: 'RYJ', name: 'D', httpPort: 3104, mllpPort: 2578, sites: [] },
      ],
    }),
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const byName = (offset = 0, env: Record<string, string> = {}) =>
  Object.fromEntries(processSpecs(offset, dir, env).map((s) => [s.name, s]));

describe('processSpecs', () => {
  it('lets simulated patients reply in the demo only, unless told otherwise', () => {
    expect(byName(0, {})['notify-sim'].env.SIM_AUTOREPLY).toBe('1');
    expect(byName(0, { DEMO: '0' })['notify-sim'].env.SIM_AUTOREPLY).toBe('0');
    expect(byName(0, { DEMO: '0', SIM_AUTOREPLY: '1' })['notify-sim'].env.SIM_AUTOREPLY).toBe('1');
  });

  it('names every process and gives each its default port', () => {
    const s = byName();
    expect(Object.keys(s)).toEqual(
      expect.arrayContaining(['slot-exchange', 'booking', 'notifier', 'trust-adapter-RQM', 'trust-adapter-RAS', 'trust-adapter-R1K', 'trust-adapter-RYJ', 'pas-sim', 'notify-sim']),
    );
    expect(s['slot-exchange'].env.PORT).toBe('3000');
    expect(s.booking.env.PORT).toBe('3003');
    expect(s.notifier.env).toMatchObject({ PORT: '3002', NOTIFY_BASE_URL: 'http://127.0.0.1:3300' });
    expect(s['trust-adapter-RYJ'].env).toEqual({
      TRUST_ODS: 'RYJ', PORT: '3104', MLLP_PORT: '2578', PAS_FHIR_BASE_URL: 'http://127.0.0.1:3200/RYJ/fhir', EXCHANGE_URL: 'http://127.0.0.1:3000',
    });
    expect(s['pas-sim'].env).toEqual({
      PORT: '3200', ADAPTER_HOST: '127.0.0.1', ADAPTER_MLLP_PORTS: 'RQM=2575,RAS=2576,R1K=2577,RYJ=2578', ADAPTER_HTTP_PORTS: 'RQM=3101,RAS=3102,R1K=3103,RYJ=3104',
      PAS_INBOUND_TOKENS: 'RQM=dev-RQM-token,RAS=dev-RAS-token,R1K=dev-R1K-token,RYJ=dev-RYJ-token',
    });
    expect(s['notify-sim'].env).toEqual({ PORT: '3300', NOTIFIER_BASE_URL: 'http://127.0.0.1:3002', SIM_AUTOREPLY: '1' });
  });

  it('shifts every port, HTTP and MLLP, and every URL built from one, by the offset', () => {
    const s = byName(20000);
    expect(s['slot-exchange'].port).toBe(23000);
    expect(s['trust-adapter-RQM'].env).toMatchObject({ PORT: '23101', MLLP_PORT: '22575', PAS_FHIR_BASE_URL: 'http://127.0.0.1:23200/RQM/fhir', EXCHANGE_URL: 'http://127.0.0.1:23000' });
    expect(s['pas-sim'].env.ADAPTER_MLLP_PORTS).toBe('RQM=22575,RAS=22576,R1K=22577,RYJ=22578');
    expect(s['notify-sim'].env.NOTIFIER_BASE_URL).toBe('http://127.0.0.1:23002');
  });

  it("hands a trust's own secrets to its adapter only", () => {
    const s = byName(0, { PAS_INBOUND_TOKEN_RAS: 'ras-inbound', EXCHANGE_TOKEN_RAS: 'ras-exchange' });
    expect(s['trust-adapter-RAS'].env).toMatchObject({ PAS_INBOUND_TOKEN: 'ras-inbound', EXCHANGE_TOKEN: 'ras-exchange' });
    expect(s['trust-adapter-RQM'].env.PAS_INBOUND_TOKEN).toBeUndefined();
  });

  it("gives pas-sim and the dashboard, which call the adapters, the adapters' own tokens", () => {
    const s = byName(0, { PAS_INBOUND_TOKEN_RAS: 'ras-inbound' });
    const expected = 'RQM=dev-RQM-token,RAS=ras-inbound,R1K=dev-R1K-token,RYJ=dev-RYJ-token';
    expect(s['pas-sim'].env.PAS_INBOUND_TOKENS).toBe(expected);
    if (s.dashboard) expect(s.dashboard.env.ADAPTER_TOKENS).toBe(expected);
    // One token for every adapter (inherited by each as PAS_INBOUND_TOKEN), a trust's own winning.
    const all = byName(0, { PAS_INBOUND_TOKEN: 'shared', PAS_INBOUND_TOKEN_RYJ: 'ryj' });
    expect(all['pas-sim'].env.PAS_INBOUND_TOKENS).toBe('RQM=shared,RAS=shared,R1K=shared,RYJ=ryj');
    // Lists set by hand are left alone (the process inherits them).
    const own = byName(0, { PAS_INBOUND_TOKENS: 'RQM=x', ADAPTER_TOKENS: 'RQM=y' });
    expect(own['pas-sim'].env.PAS_INBOUND_TOKENS).toBeUndefined();
    if (own.dashboard) expect(own.dashboard.env.ADAPTER_TOKENS).toBeUndefined();
  });
});

describe('stackStores', () => {
  it('gives a stack on shifted ports its own database and Redis database, so two stacks never share state', () => {
    expect(stackStores(0)).toEqual({ database: 'slot_exchange', redisDb: 0 });
    expect(stackStores(10000)).toEqual({ database: 'slot_exchange_10000', redisDb: 5 });
    // The offsets people pick get Redis databases of their own, none of them the one .ci/run empties.
    const picked = [10, 100, 1000, 10000].map((o) => stackStores(o).redisDb);
    expect(new Set(picked).size).toBe(picked.length);
    for (let offset = 1; offset < 200; offset++) expect(stackStores(offset).redisDb).not.toBe(9);
    for (const offset of [1, 100, 10000, 20000, 40000, 60000]) {
      const s = stackStores(offset);
      expect(s.database).not.toBe('slot_exchange');
      expect(s.redisDb).toBeGreaterThanOrEqual(1);
      expect(s.redisDb).toBeLessThanOrEqual(15);
    }
    expect(defaultDatabaseUrl(0)).toBe('postgres://postgres@127.0.0.1:5432/slot_exchange');
    expect(defaultDatabaseUrl(portOffsetFromEnv({ PORT_OFFSET: '10000' }))).toBe('postgres://postgres@127.0.0.1:5432/slot_exchange_10000');
    expect(() => portOffsetFromEnv({ PORT_OFFSET: '1.5' })).toThrow(/not a whole number/);
  });
});
