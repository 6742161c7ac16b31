/**
 * The dashboard in a real headless Chromium against the whole stack (built processes, real
 * sockets, fresh database): an operator signs in, watches a slot freed by HL7 appear in the live
 * feed and turn "filled" when the patient says YES, without reloading; opens the ranking
 * explanation; maps an unmapped clinic and resubmits the refused message from the failures page;
 * an administrator changes the policy. axe-core finds no WCAG 2.2 AA violations on any page, and
 * every step leaves a screenshot in test/artifacts/.
 */
import { buildSiu, sendMllp } from '@app/hl7';
import { SANDBOX_DASHBOARD_PASSWORD } from '@app/contracts';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import type { Browser, Page } from 'playwright-core';
import { FreshStack, startFreshStack } from '../../tools/stack/fresh-stack';
import { Stack } from '../../tools/stack/processes';
import { axeViolations, launchChromium, screenshot } from '../support/browser';
import { syntheticNhsNumber as nhs } from '@app/domain';

jest.setTimeout(240_000);

const OFFSET = 15000;
const REDIS_DB = 7;
const HOUR = 3_600_000;
const url = (p: number, path = '') => `http://127.0.0.1:${p + OFFSET}${path}`;
const MOBILE = '+447700900771';

let fresh: FreshStack;
let stack: Stack;
let pg: Client;
let browser: Browser;
let configDir: string;


async function until<T>(fn: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function expectAccessible(page: Page, what: string): Promise<void> {
  const violations = await axeViolations(page);
  expect([what, violations]).toEqual([what, []]);
}

async function signIn(page: Page, email: string): Promise<void> {
  await page.goto(url(3001, '/'));
  await page.waitForURL(/\/sign-in/);
  await page.fill('#email', email);
  await page.fill('#password', SANDBOX_DASHBOARD_PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForSelector('#overview');
}

beforeAll(async () => {
  // The failures page edits a trust's clinic mapping: give the stack its own copy of config/.
  configDir = mkdtempSync(join(tmpdir(), 'dash-e2e-config-'));
  cpSync(join(__dirname, '..', '..', 'config'), configDir, { recursive: true });
  fresh = await startFreshStack({
    dbPrefix: 'sx_dash_e2e', redisDb: REDIS_DB, portOffset: OFFSET,
    env: { DEMO: '0', QUIET_HOURS: '', SIM_AUTOREPLY: '0', LOG_LEVEL: 'warn', ICS_CONFIG_DIR: configDir, PASSWORD_COST_LOG2: '12', LIVE_INTERVAL_MS: '500' },
  });
  stack = fresh.stack;
  pg = new Client({ connectionString: fresh.db.url });
  await pg.connect();
  browser = await launchChromium();
}, 200_000);

afterAll(async () => {
  await browser?.close();
  await pg?.end();
  await fresh?.stop();
  if (configDir) rmSync(configDir, { recursive: true, force: true });
}, 60_000);

describe('the operations dashboard in a browser', () => {
  let ops: Page;

  it('signs in, and the sign-in page and overview are accessible', async () => {
    ops = await (await browser.newContext()).newPage();
    await ops.goto(url(3001, '/sign-in'));
    await expectAccessible(ops, 'sign-in');
    await screenshot(ops, 'dashboard-01-sign-in');
    await signIn(ops, 'ops@ics.example');
    await expectAccessible(ops, 'overview');
    await screenshot(ops, 'dashboard-02-overview-empty');
  });

  it('shows a slot freed by HL7 appear and turn "filled" without a reload, then its ranking explanation', async () => {
    const csv = [
      'PATIENT_PATHWAY_IDENTIFIER,NHS_NUMBER,PERSON_BIRTH_DATE,ACTIVITY_TREATMENT_FUNCTION_CODE,APPOINTMENT_TYPE,REFERRAL_TO_TREATMENT_PERIOD_START_DATE,Outpatient_Priority_Code,MOBILE_NUMBER,OFFER_CONSENT,ICS_WIDE_CONSENT,ACCEPTABLE_SITES',
      `PW-DASH-1,${nhs(300001)},1970-05-01,330,NEW,2026-03-01,P2,${MOBILE},Y,Y,ANY`,
    ].join('\n');
    const up = await fetch(url(3104, '/v1/ptl?mode=delta'), { method: 'POST', body: csv, headers: { 'content-type': 'text/csv', authorization: 'Bearer dev-RYJ-token' } });
    expect(up.status).toBe(200);

    // A mark on the page: it survives only if the page is never reloaded.
    await ops.evaluate('window.__notReloaded = true');
    const start = new Date(Math.ceil((Date.now() + 72 * HOUR) / HOUR) * HOUR);
    const s15 = buildSiu({ event: 'S15', controlId: `DASH${Date.now()}`, sendingFacility: 'RQM', fillerId: `F-DASH-${Date.now()}`, start, minutes: 20, clinic: '330-NEW', siteOds: 'RQM01', now: new Date() });
    expect(await sendMllp('127.0.0.1', 2575 + OFFSET, s15)).toMatch(/MSA\|AA\|/);
    const row = ops.locator('#slot-feed-body tr[data-slot-id]').first();
    await row.waitFor({ timeout: 30_000 });
    await ops.locator('#slot-feed-body [data-state]', { hasText: 'offered' }).waitFor({ timeout: 30_000 });
    await screenshot(ops, 'dashboard-03-slot-offered');

    const offer = await until(async () => {
      const list = (await (await fetch(url(3300, `/sim/messages?phone=${encodeURIComponent(MOBILE)}`))).json()) as Array<{ body: string }>;
      return list.map((m) => /YES\s+(\w+)/.exec(m.body)?.[1]).find(Boolean);
    });
    await fetch(url(3300, '/sim/reply'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ phone: MOBILE, message: `YES ${offer}` }) });
    await ops.locator('#slot-feed-body [data-state]', { hasText: 'filled' }).waitFor({ timeout: 30_000 });
    expect(await ops.evaluate('window.__notReloaded')).toBe(true);
    expect(await ops.locator('[data-window="today"][data-metric="filled"]').textContent()).toBe('1');
    await screenshot(ops, 'dashboard-04-slot-filled');

    await row.locator('a').click();
    await ops.waitForSelector('#slot-events');
    await ops.click('summary:has-text("Explanation")');
    await expect(ops.locator('.explanation').first().isVisible()).resolves.toBe(true);
    const explanation = await ops.locator('.explanation').first().textContent();
    expect(explanation).toContain('P2');
    expect(explanation).toContain('2026-03-01');
    expect(await ops.content()).not.toContain(nhs(300001)); // operations see masked NHS numbers
    await expectAccessible(ops, 'slot page');
    await screenshot(ops, 'dashboard-05-slot-explanation');
  });

  it('maps an unmapped clinic and resubmits the refused message from the failures page', async () => {
    const start = new Date(Math.ceil((Date.now() + 96 * HOUR) / HOUR) * HOUR);
    const controlId = `DASHUNMAPPED${Date.now()}`;
    const msg = buildSiu({ event: 'S15', controlId, sendingFacility: 'RQM', fillerId: `F-UNM-${Date.now()}`, start, minutes: 20, clinic: '330-XNEW', siteOds: 'RQM01', now: new Date() });
    expect(await sendMllp('127.0.0.1', 2575 + OFFSET, msg)).toMatch(/MSA\|AE\|/);

    await ops.goto(url(3001, '/failures'));
    const card = ops.locator('.failure[data-kind="hl7"]', { hasText: controlId });
    await card.waitFor();
    await expectAccessible(ops, 'failures');
    await screenshot(ops, 'dashboard-06-failures');
    await card.locator('input[name=tfc]').fill('330');
    await card.locator('select[name=appointmentType]').selectOption('NEW');
    await card.locator('button', { hasText: 'Add clinic mapping' }).click();
    await ops.waitForSelector('#flash');
    expect(await ops.locator('#flash').textContent()).toContain('Clinic 330-XNEW is now mapped at RQM');

    // The adapter reloads its mapping within a few seconds; until then a resubmission is refused again.
    await until(async () => {
      await ops.goto(url(3001, '/failures?resolved=1'));
      const c = ops.locator('.failure[data-kind="hl7"]', { hasText: controlId });
      if ((await c.count()) === 0) return true; // accepted: no longer a failure
      // A resubmission made before the adapter reloaded is refused again: the same card, now "2 times".
      await c.first().locator('button', { hasText: 'Retry' }).click();
      await ops.waitForSelector('#flash');
      return /accepted it \(AA\)/.test((await ops.locator('#flash').textContent()) ?? '');
    }, 60_000);
    await screenshot(ops, 'dashboard-07-failure-retried');
    const actions = (await pg.query(`SELECT action, user_email FROM failure_action ORDER BY id`)).rows;
    expect(actions[0]).toEqual({ action: 'clinic-mapped', user_email: 'ops@ics.example' });
    expect(actions.some((a) => a.action === 'retried')).toBe(true);
    expect((await pg.query(`SELECT 1 FROM hl7_message WHERE control_id = $1 AND status = 'accepted'`, [controlId])).rowCount).toBe(1);
  });

  it('lets an administrator change the policy, and shows the new version and its history', async () => {
    const admin = await (await browser.newContext()).newPage();
    await signIn(admin, 'admin@ics.example');
    await admin.goto(url(3001, '/policy'));
    const before = Number(await admin.locator('#policy-version').textContent());
    await expectAccessible(admin, 'policy');
    await admin.fill('#waveSize', '4');
    await admin.fill('#reason', 'Busier clinics: four patients per wave');
    await admin.click('button:has-text("Save as a new version")');
    await admin.waitForSelector('#flash');
    expect(Number(await admin.locator('#policy-version').textContent())).toBe(before + 1);
    expect(await admin.locator('#policy-history').textContent()).toContain('Busier clinics');
    await screenshot(admin, 'dashboard-08-policy-changed');
    const [row] = (await pg.query(`SELECT settings->>'waveSize' AS wave, changed_by FROM matching_policy ORDER BY version DESC LIMIT 1`)).rows;
    expect(row).toEqual({ wave: '4', changed_by: 'admin@ics.example' });

    await admin.goto(url(3001, '/flows'));
    await admin.waitForSelector('#flow-matrix');
    await expectAccessible(admin, 'flows');
    await screenshot(admin, 'dashboard-09-flows');
    await admin.goto(url(3001, '/audit'));
    expect(await admin.locator('#audit').textContent()).toContain('failure-clinic-mapped');
    await expectAccessible(admin, 'audit');
    await admin.goto(url(3001, '/waiting-list-imports'));
    await admin.waitForSelector('#ptl-trusts');
    await expectAccessible(admin, 'waiting list imports');
  });
});
