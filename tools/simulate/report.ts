/**
 * The simulation's outputs for people: a plain-text table for the terminal, and a Markdown and an
 * HTML report with charts (inline SVG, no script, so the report opens anywhere and can be attached
 * to a board paper).
 */
import { SimConfig } from './config';
import { DAYS_SOONER_BUCKETS, PolicyResult } from './outcomes';
import { Timings, WorldSummary } from './simulate';

export interface RunInfo {
  command: string;
  machine: string;
  /** 1-minute load average when the run ended: other work sharing the cores stretches wall time. */
  loadAverage: string;
  finishedAt: string;
  config: SimConfig;
  world: WorldSummary;
  timings: Timings;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const int = (x: number) => x.toLocaleString('en-GB');

const COLUMNS: Array<[string, (r: PolicyResult) => string]> = [
  ['policy', (r) => r.policy],
  ['fill rate', (r) => pct(r.fill_rate)],
  ['filled', (r) => int(r.slots_filled)],
  ['fill < 3 days notice', (r) => pct(r.fill_rate_by_notice['< 3 days'] ?? 0)],
  ['median days sooner', (r) => r.median_days_sooner.toFixed(1)],
  ['SMS per fill', (r) => r.sms_per_fill.toFixed(2)],
  ['offers per fill', (r) => r.offers_per_fill.toFixed(2)],
  ['cross-trust moves', (r) => int(r.cross_trust_moves)],
  ['52w breaches avoided', (r) => int(r.breaches_avoided_52w)],
  ['P2 breaches avoided', (r) => int(r.p2_breaches_avoided)],
  ['offered→booked by IMD q1..q5', (r) => r.fill_rate_by_imd_quintile.map((x) => (100 * x).toFixed(0)).join('/') + '%'],
  ['rule violations', (r) => String(r.rule_violations)],
];

export function comparisonTable(results: PolicyResult[]): string {
  const rows = [COLUMNS.map(([h]) => h), ...results.map((r) => COLUMNS.map(([, f]) => f(r)))];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const line = (row: string[]) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

export function markdownTable(results: PolicyResult[]): string {
  return [
    `| ${COLUMNS.map(([h]) => h).join(' | ')} |`,
    `|${COLUMNS.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...results.map((r) => `| ${COLUMNS.map(([, f]) => f(r)).join(' | ')} |`),
  ].join('\n');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const PALETTE = ['#005eb8', '#41b6e6', '#007f3b', '#ffb81c', '#d5281b', '#330072', '#768692', '#ae2573'];

/** Horizontal bars, one per policy. */
export function barChart(title: string, labels: string[], values: number[], format: (x: number) => string): string {
  const rowH = 26;
  const left = 150;
  const width = 640;
  const barMax = width - left - 70;
  const max = Math.max(...values, 1e-9);
  const h = 34 + labels.length * rowH;
  const bars = labels.map((l, i) => {
    const y = 28 + i * rowH;
    const w = Math.max(1, (values[i] / max) * barMax);
    return `<text x="${left - 8}" y="${y + 15}" text-anchor="end" font-size="12">${esc(l)}</text><rect x="${left}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${PALETTE[0]}"/><text x="${(left + w + 6).toFixed(1)}" y="${y + 15}" font-size="12">${esc(format(values[i]))}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h}" viewBox="0 0 ${width} ${h}" role="img" aria-label="${esc(title)}"><text x="0" y="16" font-size="14" font-weight="bold">${esc(title)}</text>${bars.join('')}</svg>`;
}

/** Grouped bars: for each policy, one bar per series (e.g. IMD quintile). */
export function groupedChart(title: string, labels: string[], series: string[], values: number[][], format: (x: number) => string): string {
  const groupW = Math.max(70, series.length * 14 + 16);
  const left = 40;
  const chartH = 180;
  const width = left + labels.length * groupW + 20;
  const max = Math.max(...values.flat(), 1e-9);
  const barW = (groupW - 16) / series.length;
  const parts: string[] = [`<text x="0" y="16" font-size="14" font-weight="bold">${esc(title)}</text>`];
  const base = 30 + chartH;
  parts.push(`<line x1="${left}" y1="${base}" x2="${width - 10}" y2="${base}" stroke="#425563"/>`, `<text x="${left - 4}" y="${34}" text-anchor="end" font-size="10">${esc(format(max))}</text>`);
  labels.forEach((l, g) => {
    const x0 = left + g * groupW + 8;
    series.forEach((_, s) => {
      const v = values[g][s];
      const h = (v / max) * chartH;
      parts.push(`<rect x="${(x0 + s * barW).toFixed(1)}" y="${(base - h).toFixed(1)}" width="${(barW - 1).toFixed(1)}" height="${h.toFixed(1)}" fill="${PALETTE[s % PALETTE.length]}"><title>${esc(`${l} ${series[s]}: ${format(v)}`)}</title></rect>`);
    });
    parts.push(`<text x="${x0 + (groupW - 16) / 2}" y="${base + 14}" text-anchor="middle" font-size="10">${esc(l)}</text>`);
  });
  const legendY = base + 34;
  series.forEach((s, i) => parts.push(`<rect x="${left + i * 110}" y="${legendY - 9}" width="10" height="10" fill="${PALETTE[i % PALETTE.length]}"/><text x="${left + i * 110 + 14}" y="${legendY}" font-size="11">${esc(s)}</text>`));
  const h = legendY + 10;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h}" viewBox="0 0 ${width} ${h}" role="img" aria-label="${esc(title)}">${parts.join('')}</svg>`;
}

export function charts(results: PolicyResult[]): Array<{ file: string; title: string; svg: string }> {
  const labels = results.map((r) => r.policy);
  const buckets = DAYS_SOONER_BUCKETS.map(([b]) => b);
  return [
    { file: 'fill-rate.svg', title: 'Share of re-offerable freed slots filled', svg: barChart('Share of re-offerable freed slots filled', labels, results.map((r) => r.fill_rate), pct) },
    { file: 'sms-per-fill.svg', title: 'SMS sent per filled slot', svg: barChart('SMS sent per filled slot', labels, results.map((r) => r.sms_per_fill), (x) => x.toFixed(2)) },
    { file: 'days-sooner.svg', title: 'Median days brought forward', svg: barChart('Median days brought forward', labels, results.map((r) => r.median_days_sooner), (x) => x.toFixed(1)) },
    {
      file: 'days-sooner-distribution.svg', title: 'Bookings by days brought forward',
      svg: groupedChart('Bookings by days brought forward', labels, buckets, results.map((r) => buckets.map((b) => r.days_sooner_distribution[b])), (x) => int(Math.round(x))),
    },
    {
      file: 'imd.svg', title: 'Of patients offered, share booked, by IMD quintile (1 = most deprived)',
      svg: groupedChart('Of patients offered, share booked, by IMD quintile (1 = most deprived)', labels, ['q1', 'q2', 'q3', 'q4', 'q5'], results.map((r) => r.fill_rate_by_imd_quintile), pct),
    },
    {
      file: 'imd-per-1000.svg', title: 'Patients booked per 1,000 waiting, by IMD quintile',
      svg: groupedChart('Patients booked per 1,000 waiting, by IMD quintile', labels, ['q1', 'q2', 'q3', 'q4', 'q5'], results.map((r) => r.patients_helped_per_1000_waiting_by_imd_quintile), (x) => x.toFixed(1)),
    },
  ];
}

const HOW_TO_READ = [
  '- **fill rate**: of the freed slots that could still be offered (at least the minimum notice left when released, including slots freed when a patient moved), the share booked.',
  '- **fill < 3 days notice**: the same for slots freed with less than three days left (but at least the minimum notice): where waves, TTL and reach make the difference. All bands are in latest.json (`fill_rate_by_notice`).',
  '- **median days sooner**: for each booking, the days between the new slot and the date the patient would otherwise have been seen (their booked appointment, or an expected date when not yet booked).',
  '- **SMS per fill**: every text sent (offers, "expired", "no longer available", confirmations, answers to late replies) divided by bookings. **offers per fill** counts offers only.',
  '- **cross-trust moves**: bookings into another trust\'s slot (each carries an inter-provider transfer).',
  '- **52w / P2 breaches avoided**: bookings that land on or before the day the patient would pass 52 weeks (or their P2 four-week target) when their other date was after it.',
  '- **offered→booked by IMD q1..q5**: of the patients in each deprivation quintile (1 = most deprived) who were offered at least one slot, the share who were booked. Per-head rates are in latest.json (`patients_helped_per_1000_waiting_by_imd_quintile`).',
  '- **rule violations**: offers inside the minimum notice or in quiet hours, a second live offer, bookings inside the notice, a slot or a pathway booked twice, counted by an auditor outside the engine. Anything but 0 is a bug.',
  '- Every policy meets the same waiting list, cancellations and patient choices (common random numbers from the seed), so differences are the policy\'s. Sequential and waves of 1 are the same rule in `@app/domain` (`effectiveWaveSize`), so they agree exactly.',
].join('\n');

export function markdownReport(results: PolicyResult[], info: RunInfo): string {
  const c = info.config;
  return [
    '# ICS outcome simulation',
    '',
    `\`${info.command}\` — config v${c.version}, seed ${c.seed}, ${c.days} days from ${c.startDate}, scale ${c.scale}. Finished ${info.finishedAt} on ${info.machine}; took ${(info.timings.total_ms / 1000).toFixed(1)} s.`,
    '',
    `World: ${int(info.world.pathways)} open pathways (${int(info.world.offerable_pathways)} with consent and a mobile), ${int(info.world.base_slots_freed)} cancelled appointments over ${info.world.working_days} working days.`,
    '',
    markdownTable(results),
    '',
    '## How to read it',
    '',
    HOW_TO_READ,
    '',
    '## Per policy',
    '',
    '| policy | freed | too late | re-offerable | filled | unfilled: cut-off / no eligible / quiet hours | freed by moves (filled) | median hours to fill | fill rate by trust |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---|',
    ...results.map((r) => `| ${r.policy} | ${int(r.slots_freed)} | ${int(r.slots_too_late)} | ${int(r.slots_reofferable)} | ${int(r.slots_filled)} | ${int(r.unfilled['cut-off'])} / ${int(r.unfilled['no-eligible-patient'])} / ${int(r.unfilled['quiet-hours-until-cut-off'])} | ${int(r.slots_freed_by_moves)} (${int(r.slots_filled_freed_by_moves)}) | ${r.median_hours_to_fill} | ${Object.entries(r.fill_rate_by_trust).map(([t, v]) => `${t} ${pct(v)}`).join(', ')} |`),
    '',
    '## Charts',
    '',
    ...charts(results).map((ch) => `![${ch.title}](charts/${ch.file})`),
    '',
    '## Timings',
    '',
    `${info.timings.workers} worker thread(s); wall time ${(info.timings.total_ms / 1000).toFixed(1)} s, CPU time (all threads) ${(info.timings.cpu_ms / 1000).toFixed(1)} s; the machine's load average at the end was ${info.loadAverage}. ` +
      `Building the world: ${(info.timings.world_ms / 1000).toFixed(1)} s. Per policy (wall): ` +
      Object.entries(info.timings.policies_ms).map(([p, ms]) => `${p} ${(ms / 1000).toFixed(1)} s`).join('; ') + '.',
    '',
  ].join('\n');
}

export function htmlReport(results: PolicyResult[], info: RunInfo): string {
  const c = info.config;
  const table = `<table><thead><tr>${COLUMNS.map(([h]) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${results.map((r) => `<tr>${COLUMNS.map(([, f]) => `<td>${esc(f(r))}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
  const read = HOW_TO_READ.split('\n').map((l) => `<li>${esc(l.replace(/^- /, '')).replace(/\*\*(.+?)\*\*/g, '<strong>$1</strong>').replace(/`(.+?)`/g, '<code>$1</code>')}</li>`).join('');
  return `<!doctype html>
<html lang="en-GB"><head><meta charset="utf-8"><title>ICS outcome simulation</title>
<style>body{font-family:Arial,sans-serif;color:#212b32;max-width:1100px;margin:2rem auto;padding:0 1rem}table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #d8dde0;padding:4px 8px;text-align:right}th:first-child,td:first-child{text-align:left}th{background:#f0f4f5}figure{margin:1.5rem 0}</style></head>
<body><h1>ICS outcome simulation</h1>
<p><code>${esc(info.command)}</code> — config v${c.version}, seed ${c.seed}, ${c.days} days from ${esc(c.startDate)}, scale ${c.scale}. Finished ${esc(info.finishedAt)} on ${esc(info.machine)}; took ${(info.timings.total_ms / 1000).toFixed(1)} s.</p>
<p>World: ${int(info.world.pathways)} open pathways (${int(info.world.offerable_pathways)} with consent and a mobile), ${int(info.world.base_slots_freed)} cancelled appointments over ${info.world.working_days} working days.</p>
${table}
<h2>How to read it</h2><ul>${read}</ul>
<h2>Charts</h2>
${charts(results).map((ch) => `<figure>${ch.svg}</figure>`).join('\n')}
</body></html>
`;
}
