/**
 * The policies of one simulation shared between worker threads (issue 8: two cores). Each worker
 * builds the same world from the same config and seed (cheaper than copying 275,000 pathways
 * between threads) and runs its share of the scenarios; results come back in config order, so the
 * output does not depend on how many workers ran it.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { assertValidConfig, SimConfig } from './config';
import { PolicyResult } from './outcomes';
import { cpuMsSince, runPolicies, Simulation, summariseWorld } from './simulate';
import { buildWorld } from './world';

interface Job {
  config: SimConfig;
  scenarios: string[];
}

type Message = { kind: 'world'; ms: number; summary: Simulation['world'] } | { kind: 'policy'; result: PolicyResult; ms: number };

/** Heaviest first (one patient per wave makes the most waves), dealt so each worker gets a fair share. */
function deal(config: SimConfig, workers: number): string[][] {
  const cost = (s: SimConfig['scenarios'][number]) => (s.strategy === 'sequential' ? 1 : s.waveSize) ** -1 * (120 / s.offerTtlMinutes) ** 0.3;
  const sorted = [...config.scenarios].sort((a, b) => cost(b) - cost(a));
  const shares: string[][] = Array.from({ length: workers }, () => []);
  const load = new Array(workers).fill(0);
  for (const s of sorted) {
    const w = load.indexOf(Math.min(...load));
    shares[w].push(s.name);
    load[w] += cost(s);
  }
  return shares.filter((x) => x.length > 0);
}

export async function simulateInWorkers(config: SimConfig, workers: number, onPolicyDone: (r: PolicyResult, ms: number) => void = () => undefined): Promise<Simulation> {
  assertValidConfig(config);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const results = new Map<string, PolicyResult>();
  const policiesMs: Record<string, number> = {};
  let world: Simulation['world'] | undefined;
  let worldMs = 0;
  await Promise.all(
    deal(config, workers).map(
      (scenarios) =>
        new Promise<void>((resolve, reject) => {
          const w = new Worker(__filename, { workerData: { config, scenarios } satisfies Job });
          w.on('message', (m: Message) => {
            if (m.kind === 'world') {
              world = m.summary;
              worldMs = Math.max(worldMs, m.ms);
            } else {
              results.set(m.result.policy, m.result);
              policiesMs[m.result.policy] = m.ms;
              onPolicyDone(m.result, m.ms);
            }
          });
          w.on('error', reject);
          w.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`simulation worker exited with ${code}`))));
        }),
    ),
  );
  return {
    world: world as Simulation['world'],
    results: config.scenarios.map((s) => results.get(s.name) as PolicyResult),
    timings: { world_ms: Math.round(worldMs), policies_ms: policiesMs, cpu_ms: cpuMsSince(cpu0), total_ms: Math.round(performance.now() - t0), workers },
  };
}

if (!isMainThread && parentPort) {
  const { config, scenarios } = workerData as Job;
  const port = parentPort;
  const t = performance.now();
  const world = buildWorld(config);
  port.postMessage({ kind: 'world', ms: Math.round(performance.now() - t), summary: summariseWorld(world) } satisfies Message);
  const chosen = config.scenarios.filter((s) => scenarios.includes(s.name));
  runPolicies(world, chosen, (result, ms) => port.postMessage({ kind: 'policy', result, ms } satisfies Message));
}
