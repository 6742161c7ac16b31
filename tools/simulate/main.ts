/**
 * `npm run simulate -- --days 30 --seed 1`: the ICS outcome simulation (issue 8). Prints the
 * comparison table and writes simulation/results/ (latest.json, latest-run.json, report.md,
 * report.html). Any config value can be set as `--<dotted.path> <value>`; `--config <file>` reads
 * another config file; `--only a,b` runs some scenarios; `--out <dir>` writes elsewhere.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { applyOverride, ConfigError, loadConfigFile, SimConfig } from './config';
import { charts, comparisonTable, htmlReport, markdownReport, RunInfo } from './report';
import { PolicyResult } from './outcomes';
import { simulate } from './simulate';
import { simulateInWorkers } from './workers';

/** Flags of the tool itself; everything else is a config path. */
const TOOL_FLAGS = new Set(['config', 'only', 'out', 'workers', 'help']);

export function parseArgs(argv: string[]): { tool: Record<string, string>; overrides: Array<[string, string]> } {
  const tool: Record<string, string> = {};
  const overrides: Array<[string, string]> = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new ConfigError([`unexpected argument "${arg}" (flags are --name value)`]);
    let name = arg.slice(2);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    } else if (name === 'help') value = 'true';
    else {
      value = argv[++i];
      if (value === undefined) throw new ConfigError([`--${name} needs a value`]);
    }
    if (TOOL_FLAGS.has(name)) tool[name] = value;
    else overrides.push([name, value]);
  }
  return { tool, overrides };
}

/** The repository root (where package.json is), so the command works from any folder. */
function repositoryRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'simulation'))) return dir;
    if (dirname(dir) === dir) return process.cwd();
  }
}

async function main(): Promise<void> {
  const root = repositoryRoot(__dirname);
  const { tool, overrides } = parseArgs(process.argv.slice(2));
  if (tool.help) {
    console.log('npm run simulate -- [--days 30] [--seed 1] [--scale 1] [--config file] [--only name,name] [--out dir] [--<dotted.config.path> value]');
    return;
  }
  let config: SimConfig = loadConfigFile(tool.config ? resolve(tool.config) : join(root, 'simulation', 'config', 'default.json'));
  for (const [path, value] of overrides) config = applyOverride(config, path, value);
  if (tool.only) {
    const wanted = tool.only.split(',').map((s) => s.trim());
    const unknown = wanted.filter((w) => !config.scenarios.some((s) => s.name === w));
    if (unknown.length > 0) throw new ConfigError([`--only: no scenario ${unknown.join(', ')} (known: ${config.scenarios.map((s) => s.name).join(', ')})`]);
    config = { ...config, scenarios: config.scenarios.filter((s) => wanted.includes(s.name)) };
  }
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
  console.log(`ICS outcome simulation: config v${config.version}, seed ${config.seed}, ${config.days} days, scale ${config.scale}, ${config.scenarios.length} policies`);
  const workers = tool.workers === undefined ? Math.min(2, cpus().length) : Number(tool.workers);
  if (!Number.isInteger(workers) || workers < 1 || workers > 16) throw new ConfigError([`--workers must be a whole number from 1 to 16`]);
  const progress = (r: PolicyResult, ms: number) => console.log(`  ${r.policy.padEnd(18)} done in ${(ms / 1000).toFixed(1)} s (fill rate ${(100 * r.fill_rate).toFixed(1)}%)`);
  // Worker threads load the compiled worker file; from sources (ts-jest) run in this thread.
  const sim = workers > 1 && __filename.endsWith('.js') ? await simulateInWorkers(config, workers, progress) : simulate(config, progress);
  const info: RunInfo = {
    command: `npm run simulate -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine,
    loadAverage: loadavg()[0].toFixed(1),
    finishedAt: new Date().toISOString(),
    config,
    world: sim.world,
    timings: sim.timings,
  };
  const out = tool.out ? resolve(tool.out) : join(root, 'simulation', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'latest.json'), JSON.stringify(sim.results, null, 2) + '\n');
  writeFileSync(join(out, 'latest-run.json'), JSON.stringify({ ...info, config: undefined, config_version: config.version, seed: config.seed, days: config.days, scale: config.scale }, null, 2) + '\n');
  writeFileSync(join(out, 'report.md'), markdownReport(sim.results, info));
  writeFileSync(join(out, 'report.html'), htmlReport(sim.results, info));
  mkdirSync(join(out, 'charts'), { recursive: true });
  for (const ch of charts(sim.results)) writeFileSync(join(out, 'charts', ch.file), ch.svg + '\n');
  console.log('');
  console.log(comparisonTable(sim.results));
  console.log('');
  console.log(`World: ${sim.world.pathways.toLocaleString('en-GB')} pathways, ${sim.world.base_slots_freed.toLocaleString('en-GB')} cancellations over ${sim.world.working_days} working days.`);
  console.log(`Took ${(sim.timings.total_ms / 1000).toFixed(1)} s (${sim.timings.workers} worker${sim.timings.workers > 1 ? 's' : ''}; ${(sim.timings.cpu_ms / 1000).toFixed(0)} s of CPU; load average ${info.loadAverage}) on ${machine}. Wrote ${join(out, 'latest.json')}, report.md, report.html.`);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(2);
    }
    console.error(e);
    process.exit(1);
  });
}
