/**
 * `npm run bench`: measures the figures the issues name and writes bench/results/latest.json
 * (an array of { name, value, unit, target, better, conditions }) and latest.md. `-- --only <name>`
 * runs one. Benchmarks start their own stack on shifted ports against a fresh database, so they
 * never disturb a running demo.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@app/platform';
import { BENCHMARKS, BenchResult } from './benchmarks';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
  const selected = BENCHMARKS.filter((b) => !only || b.produces.includes(only));
  if (only && selected.length === 0) {
    console.error(`No benchmark produces "${only}". Known: ${BENCHMARKS.flatMap((b) => b.produces).join(', ')}`);
    process.exit(2);
  }
  const dir = join(repoRoot(), 'bench', 'results');
  // `--only` refreshes one figure and keeps the others from the last full run, so that the
  // results file always lists every benchmark the issues ask for.
  const previous: BenchResult[] = only && existsSync(join(dir, 'latest.json')) ? (JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8')) as BenchResult[]) : [];
  const fresh: BenchResult[] = [];
  for (const b of selected) {
    console.log(`running ${b.produces.join(', ')} …`);
    const out = await b.run();
    // Every figure the selected benchmark measured is fresh, not only the one asked for.
    fresh.push(...out);
  }
  const results = [...previous.filter((p) => !fresh.some((r) => r.name === p.name)), ...fresh];
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.json'), JSON.stringify(results, null, 2) + '\n');
  const meets = (r: BenchResult) => (r.target == null ? '' : (r.better === 'lower' ? r.value <= r.target : r.value >= r.target) ? 'yes' : 'NO');
  const md = [
    `# Benchmarks`,
    ``,
    `Machine: ${machine}. Run: ${new Date().toISOString()}.`,
    ``,
    `| name | value | unit | target | better | meets | conditions |`,
    `|---|---|---|---|---|---|---|`,
    ...results.map((r) => `| ${r.name} | ${r.value} | ${r.unit} | ${r.target ?? ''} | ${r.better} | ${meets(r)} | ${r.conditions} |`),
    ``,
  ].join('\n');
  writeFileSync(join(dir, 'latest.md'), md);
  console.log(md);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
