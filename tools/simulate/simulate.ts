/**
 * A whole simulation: build the world once from the config and seed, then run every scenario
 * (policy) against it. Pure apart from reading the clock for the timings it reports, which are
 * kept apart from the results so that a seed always gives the same results.
 */
import { assertValidConfig, SimConfig } from './config';
import { runScenario } from './engine';
import { PolicyResult, summarise } from './outcomes';
import { buildWorld } from './world';

export interface WorldSummary {
  pathways: number;
  offerable_pathways: number;
  base_slots_freed: number;
  working_days: number;
  start: string;
}

export interface Simulation {
  world: WorldSummary;
  results: PolicyResult[];
  timings: { world_ms: number; policies_ms: Record<string, number>; total_ms: number };
}

export function simulate(config: SimConfig, onPolicyDone: (r: PolicyResult, ms: number) => void = () => undefined): Simulation {
  assertValidConfig(config);
  const t0 = performance.now();
  const world = buildWorld(config);
  const worldMs = performance.now() - t0;
  const results: PolicyResult[] = [];
  const policiesMs: Record<string, number> = {};
  for (const scenario of config.scenarios) {
    const t = performance.now();
    const { tally, auditor } = runScenario(world, scenario);
    const result = summarise(world, config, scenario, tally, auditor);
    policiesMs[scenario.name] = Math.round(performance.now() - t);
    results.push(result);
    onPolicyDone(result, policiesMs[scenario.name]);
  }
  const workingDays = new Set(world.releases.map((r) => Math.floor((r.releaseMs - world.startMs) / 86_400_000))).size;
  return {
    world: {
      pathways: world.pathways.length,
      offerable_pathways: world.pathways.filter((p) => p.offerable).length,
      base_slots_freed: world.releases.length,
      working_days: workingDays,
      start: new Date(world.startMs).toISOString(),
    },
    results,
    timings: { world_ms: Math.round(worldMs), policies_ms: policiesMs, total_ms: Math.round(performance.now() - t0) },
  };
}
