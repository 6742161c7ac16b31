/**
 * Where a profiled app spent its CPU, from the `.cpuprofile` files `bench/profile-hook.js` left:
 *
 *   node bench/profile-summary.js /tmp/bench-prof/notifier [top]
 *
 * Counts only the samples inside the measured span the hook recorded (window.json beside the
 * app folders), so start-up (module loading, compilation) does not drown the work measured.
 * Prints self time by package and by function. Time spent waiting for a core is charged to
 * whatever the process was running (often writev): compare with the hook's CPU ticks.
 */
const fs = require('node:fs');
const path = require('node:path');

const [dirOrFile, top = '30'] = process.argv.slice(2);
if (!dirOrFile) {
  console.error('usage: node bench/profile-summary.js <app profile folder or .cpuprofile> [top]');
  process.exit(2);
}
const files = fs.statSync(dirOrFile).isDirectory()
  ? fs.readdirSync(dirOrFile).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(dirOrFile, f))
  : [dirOrFile];
const windowFile = path.join(path.dirname(path.resolve(files[0] ?? dirOrFile)), '..', 'window.json');
const span = fs.existsSync(windowFile) ? JSON.parse(fs.readFileSync(windowFile, 'utf8')) : { start: null, stop: null };
const from = span.start ?? -Infinity;
const to = span.stop ?? Infinity;

const byFunction = new Map();
const byPackage = new Map();
let busy = 0;
let idle = 0;
const add = (m, k, t) => m.set(k, (m.get(k) ?? 0) + t);
for (const file of files) {
  const p = JSON.parse(fs.readFileSync(file, 'utf8'));
  const nodes = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    t += dt;
    if (t < from || t > to) continue;
    const cf = nodes.get(p.samples[i]);
    if (cf.functionName === '(idle)') { idle += dt; continue; }
    busy += dt;
    const where = cf.url.replace(/.*node_modules\//, '').replace(/.*\/dist\//, '');
    add(byFunction, `${cf.functionName || '(anonymous)'} ${where}:${cf.lineNumber + 1}`, dt);
    const pkg = cf.url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/)?.[1]
      ?? (cf.url.includes('/dist/') ? `ours: ${cf.url.replace(/.*\/dist\//, '').split('/').slice(0, 3).join('/')}`
        : cf.url.startsWith('node:') ? `node: ${cf.url.slice(5).split('/')[0]}` : cf.functionName.startsWith('(') ? cf.functionName : '(native)');
    add(byPackage, pkg, dt);
  }
}
const ms = (us) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
const show = (m) => [...m].sort((a, b) => b[1] - a[1]).slice(0, Number(top)).forEach(([k, v]) => console.log(`${ms(v)}  ${k}`));
console.log(`${span.start ? 'measured span only' : 'whole run (no window.json)'}: busy ${ms(busy).trim()}, idle ${ms(idle).trim()}`);
console.log('--- self time by package');
show(byPackage);
console.log('--- self time by function');
show(byFunction);
