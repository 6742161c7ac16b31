import { join } from 'node:path';
import { compareCandidates } from '@app/domain';
import { applyOverride, ConfigError, configProblems, loadConfigFile, SimConfig } from './config';
import { parseArgs } from './main';
import { comparisonTable, htmlReport, markdownReport } from './report';
import { simulate } from './simulate';
import { buildWorld } from './world';

const DEFAULT = loadConfigFile(join(__dirname, '..', '..', 'simulation', 'config', 'default.json'));

/** A small ICS (1% of the pathways, a working week) with two policies: fast enough for a unit test. */
function small(over: Array<[string, string]> = []): SimConfig {
  let c: SimConfig = { ...structuredClone(DEFAULT), scale: 0.01, days: 5, seed: 7 };
  c.scenarios = c.scenarios.filter((s) => ['ics-w3-ttl120', 'local-w3-ttl120'].includes(s.name));
  for (const [k, v] of over) c = applyOverride(c, k, v);
  return c;
}

describe('outcome simulator', () => {
  it('gives identical results for the same seed, and different ones for another seed', () => {
    const a = simulate(small());
    const b = simulate(small());
    expect(JSON.stringify(b.results)).toBe(JSON.stringify(a.results));
    expect(JSON.stringify(b.world)).toBe(JSON.stringify(a.world));
    expect(a.results[0].slots_reofferable).toBeGreaterThan(20);
    const other = simulate(small([['seed', '8']]));
    expect(JSON.stringify(other.results)).not.toBe(JSON.stringify(a.results));
  });

  it('fills nothing when nobody accepts, though offers go out', () => {
    const { results } = simulate(small([['patients.acceptShare', '0']]));
    for (const r of results) {
      expect(r.offers).toBeGreaterThan(0);
      expect(r.slots_filled).toBe(0);
      expect(r.fill_rate).toBe(0);
      expect(r.rule_violations).toBe(0);
    }
  });

  it('fills every slot someone can take when everyone answers YES at once and there are no notice limits', () => {
    const { results } = simulate(
      small([
        ['patients.acceptShare', '1'], ['patients.smsDeliveredShare', '1'], ['patients.responseMedianMinutes', '1'], ['patients.responseP90Minutes', '1'],
        ['deprivation.respondWithinWindowByQuintile', '[1,1,1,1,1]'], ['policy.minNoticeHours', '0'], ['policy.quietHours', ''],
      ]),
    );
    for (const r of results) {
      expect(r.slots_too_late).toBe(0);
      expect(r.slots_filled).toBeGreaterThan(0);
      expect(r.unfilled['cut-off']).toBe(0);
      expect(r.unfilled['quiet-hours-until-cut-off']).toBe(0);
      // Unfilled only where nobody on the lists could take the slot at all.
      expect(r.slots_filled + r.unfilled['no-eligible-patient']).toBe(r.slots_reofferable);
      expect(r.offers_per_fill).toBeLessThanOrEqual(3); // one wave each: nobody declines
      expect(r.rule_violations).toBe(0);
    }
    const [ics, local] = results;
    expect(local.cross_trust_moves).toBe(0);
    expect(ics.slots_filled).toBeGreaterThanOrEqual(local.slots_filled);
  });

  it('counts its rule checks and reports every figure latest.json promises', () => {
    const { results } = simulate(small());
    for (const r of results) {
      expect(r.rule_checks).toBeGreaterThan(r.offers);
      expect(r.rule_violations).toBe(0);
      expect(Object.keys(r).slice(0, 8)).toEqual(['policy', 'fill_rate', 'median_days_sooner', 'sms_per_fill', 'cross_trust_moves', 'breaches_avoided_52w', 'fill_rate_by_imd_quintile', 'rule_violations']);
      expect(r.fill_rate_by_imd_quintile).toHaveLength(5);
      expect(Object.keys(r.fill_rate_by_notice)).toEqual(['< 3 days', '3-7 days', '1-4 weeks', '4+ weeks']);
      expect(r.fill_rate).toBeGreaterThan(0);
      expect(r.fill_rate).toBeLessThanOrEqual(1);
      expect(r.sms.total).toBeGreaterThanOrEqual(r.offers + r.slots_filled);
    }
  });

  it('keeps every index list in the domain ranking order', () => {
    const world = buildWorld(small());
    for (const list of world.localIndex.values()) {
      for (let i = 1; i < list.length; i++) {
        expect(compareCandidates(world.pathways[list[i - 1]].candidate, world.pathways[list[i]].candidate)).toBeLessThan(0);
      }
    }
  });

  it('writes a table and reports naming every policy', () => {
    const c = small();
    const sim = simulate(c);
    const info = { command: 'test', machine: 'test', loadAverage: '0', finishedAt: 'now', config: c, world: sim.world, timings: sim.timings };
    for (const text of [comparisonTable(sim.results), markdownReport(sim.results, info), htmlReport(sim.results, info)]) {
      for (const s of c.scenarios) expect(text).toContain(s.name);
    }
    expect(htmlReport(sim.results, info)).toContain('<svg');
  });
});

describe('simulator config', () => {
  it('the shipped config is valid', () => {
    expect(configProblems(DEFAULT)).toEqual([]);
    expect(DEFAULT.version).toBeGreaterThanOrEqual(1);
  });

  it('overrides any value by its dotted path, typed as in the file', () => {
    const c = applyOverride(applyOverride(DEFAULT, 'patients.acceptShare', '0.2'), 'trusts.0.pathways', '100');
    expect(c.patients.acceptShare).toBe(0.2);
    expect(c.trusts[0].pathways).toBe(100);
    expect(DEFAULT.patients.acceptShare).toBe(0.3);
    expect(applyOverride(DEFAULT, 'deprivation.quintileShares', '[0.3,0.2,0.2,0.2,0.1]').deprivation.quintileShares[0]).toBe(0.3);
  });

  it('refuses unknown names, words for numbers and impossible values', () => {
    expect(() => applyOverride(DEFAULT, 'patients.acceptRate', '0.2')).toThrow(ConfigError);
    expect(() => applyOverride(DEFAULT, 'days', 'thirty')).toThrow(/not a number/);
    expect(configProblems(applyOverride(DEFAULT, 'patients.acceptShare', '1.5'))).toContain('patients.acceptShare must be from 0 to 1');
    expect(configProblems(applyOverride(DEFAULT, 'policy.quietHours', '25:00-08:00')).join()).toMatch(/quietHours/);
    expect(configProblems(applyOverride(DEFAULT, 'deprivation.respondWithinWindowByQuintile', '[0.9,0.9,0.9,0.9,0.9]')).join()).toMatch(/can answer within/);
  });

  it('reads --name value and --name=value, keeping its own flags apart', () => {
    expect(parseArgs(['--days', '30', '--seed=1', '--only', 'ics-w3-ttl120', '--patients.acceptShare', '0'])).toEqual({
      tool: { only: 'ics-w3-ttl120' },
      overrides: [['days', '30'], ['seed', '1'], ['patients.acceptShare', '0']],
    });
    expect(() => parseArgs(['--days'])).toThrow(/needs a value/);
    expect(() => parseArgs(['30'])).toThrow(/unexpected argument/);
  });
});
