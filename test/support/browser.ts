/**
 * Headless Chromium for the browser tests: Debian's `chromium` driven by playwright-core (never a
 * downloaded browser), with axe-core for accessibility and screenshots kept as test artifacts
 * under test/artifacts/ (gitignored).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { chromium } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS_DIR = join(__dirname, '..', 'artifacts');

/** Without background networking Chromium stops calling home, which this closed network refuses. */
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

export function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`No Chromium at ${CHROMIUM_PATH}: install Debian's package (apt-get install chromium) or set CHROMIUM_PATH`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: FLAGS });
}

/** axe-core's violations on the page as it is now, against WCAG 2.x A and AA (2.2 included). */
export async function axeViolations(page: Page): Promise<Array<{ id: string; impact?: string | null; help: string; nodes: number }>> {
  const source = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  // Evaluated rather than added as a <script>: pages with a strict Content-Security-Policy (the
  // dashboard's) refuse inline script tags, but not the debugger's own evaluation.
  await page.evaluate(source);
  // A string, not a function: this project compiles without the DOM's types.
  const result = (await page.evaluate(
    `axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } })`,
  )) as { violations: Array<{ id: string; impact?: string | null; help: string; nodes: unknown[] }> };
  return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length }));
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
