// The domain library's promises about itself (ARCHITECTURE.md "Rules of the road"), checked on
// the source so a slip fails here, in milliseconds, rather than in review.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as domain from './index';

const root = __dirname;
const sources = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') && !path.endsWith('.spec.ts') ? [path] : [];
  });

describe('libs/domain stays pure', () => {
  const files = sources(root).map((path) => ({ path: relative(root, path), text: readFileSync(path, 'utf8') }));

  it('has source files to check', () => {
    expect(files.length).toBeGreaterThan(10);
  });

  it.each(['@nestjs', 'typeorm', 'bullmq', 'ioredis', 'pg', 'node:', 'fs', 'net', 'http', 'crypto', '@app/'])('imports nothing from %s', (pkg) => {
    const offenders = files.filter(({ text }) => new RegExp(`from '${pkg.replace('/', '\\/')}[^']*'|require\\('${pkg}`).test(text)).map((f) => f.path);
    expect(offenders).toEqual([]);
  });

  it('never reads the wall clock or global randomness', () => {
    const offenders = files.filter(({ text }) => /Date\.now\(\)|new Date\(\)|Math\.random\(|process\.env|performance\.now/.test(text)).map((f) => f.path);
    expect(offenders).toEqual([]);
  });

  it('exports every module from the index', () => {
    const index = readFileSync(join(root, 'index.ts'), 'utf8');
    const modules = files.map((f) => f.path.replace(/\.ts$/, '')).filter((m) => m !== 'index' && !m.startsWith('testing'));
    for (const m of modules) expect(index).toContain(`export * from './${m}';`);
    expect(typeof domain.rankCandidates).toBe('function');
  });
});
