/**
 * A whole simulation: build the world once from the config and seed, then run every scenario
 * (policy) against it. Pure apart from reading the clock for the timings it reports, which are
 * kept apart from the results so that a seed always gives the same results.
 */
import { assertValidConfig, Scenario, SimConfig } from './config';
import { runScenario } from './engine';
import { PolicyResult, summarise } from './outcomes';
import { buildWorld, World } from './world';

export interface WorldSummary {
  pathways: number;
  offerable_pathways: number;
  base_slots_freed: number;
  working_days: number;
  start: string;
}

export interface Timings {
  world_ms: number;
  policies_ms: Record<string, number>;
  /** CPU time of the whole run, every thread: what it costs when other work shares the cores. */
  cpu_ms: number;
  total_ms: number;
  workers: number;
}

export interface Simulation {
  world: WorldSummary;
  results: PolicyResult[];
  timings: Timings;
}

export function summariseWorld(world: World): WorldSummary {
  const workingDays = new Set(world.releases.map((r) => Math.floor((r.releaseMs - world.startMs) / 86_400_000))).size;
  return {
    pathways: world.pathways.length,
    offerable_pathways: world.pathways.filter((p) => p.offerable).length,
    base_slots_freed: world.releases.length,
    working_days: workingDays,
    start: new Date(world.startMs).toISOString(),
  };
}

export function runPolicies(world: World, scenarios: Scenario[], onPolicyDone: (r: PolicyResult, ms: number) => void): PolicyResult[] {
  return scenarios.map((scenario) => {
    const t = performance.now();
    const { tally, auditor } = runScenario(world, scenario);
    const result = summarise(world, world.config, scenario, tally, auditor);
    onPolicyDone(result, Math.round(performance.now() - t));
    return result;
  });
}

/** CPU used by this process (all its threads) since `since`, in ms. */
export function cpuMsSince(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return Math.round((u.user + u.system) / 1000);
}

/** In this thread, one policy after another (tests, and machines with one core). */
export function simulate(config: SimConfig, onPolicyDone: (r: PolicyResult, ms: number) => void = () => undefined): Simulation {
  assertValidConfig(config);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const world = buildWorld(config);
  const worldMs = performance.now() - t0;
  const policiesMs: Record<string, number> = {};
  const results = runPolicies(world, config.scenarios, (r, ms) => {
    policiesMs[r.policy] = ms;
    onPolicyDone(r, ms);
  });
  return {
    world: summariseWorld(world),
    results,
    timings: { world_ms: Math.round(worldMs), policies_ms: policiesMs, cpu_ms: cpuMsSince(cpu0), total_ms: Math.round(performance.now() - t0), workers: 1 },
  };
}
