/**
 * The patient's side over real processes: two built notifier processes sharing one Redis and one
 * Notify key, and notify-sim as GOV.UK Notify.
 *
 * - Rate limit: both notifiers drain one burst of texts together; notify-sim's clock shows the
 *   shared limit held (in any window no more than NOTIFY_RATE_LIMIT), which two private limits
 *   would not have done.
 * - Replies by text through notify-sim's /sim/reply, the notifier's inbound callback and the
 *   booking service: one help text per offer however many unclear replies, a polite answer for a
 *   number with no offer, STOP and START.
 * - Offer page in real headless Chromium (Debian's chromium via playwright-core, one launch for
 *   every case): the link is read out of the offer text notify-sim rendered; accept, decline (also
 *   with JavaScript off), an expired link, and the preferences form, each checked with axe-core
 *   and kept as a screenshot under test/artifacts/.
 */
import { QueueName, SMS_TEMPLATES, jobId } from '@app/contracts';
import { Job, Queue } from 'bullmq';
import { createTestDatabase, TestDatabase } from '@app/persistence';
import IORedis from 'ioredis';
import { Client } from 'pg';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { emptyRedis, redisUrlForDb } from '../../tools/stack/fresh-stack';
import { startStack, Stack } from '../../tools/stack/processes';
import { axeViolations, launchChromium, screenshot } from '../support/browser';
import { createMessage, createOffer } from '../support/offer-fixtures';
import { until } from '../support/wait';

jest.setTimeout(180_000);

const OFFSET = 14000;
const SECOND_OFFSET = 14100;
const REDIS_DB = 6;
const RATE_LIMIT = 10;
const RATE_WINDOW_MS = 1000;
const notifierUrl = `http://127.0.0.1:${3002 + OFFSET}`;
const secondNotifierUrl = `http://127.0.0.1:${3002 + SECOND_OFFSET}`;
const simUrl = `http://127.0.0.1:${3300 + OFFSET}`;

interface SimMessage { id: string; phone_number: string; template_id: string; reference: string | null; created_at: string; body: string }

let db: TestDatabase;
let pg: Client;
let redisUrl: string;
const stacks: Stack[] = [];
let browser: Browser | undefined;


const simMessages = async (phone?: string): Promise<SimMessage[]> =>
  (await fetch(`${simUrl}/sim/messages${phone ? `?phone=${encodeURIComponent(phone)}` : ''}`)).json() as Promise<SimMessage[]>;

/** The offer text as the patient got it, and the link in it. */
async function offerLinkFromSms(phone: string): Promise<{ body: string; link: string }> {
  const sms = await until('the offer text in notify-sim', async () => (await simMessages(phone)).find((m) => m.template_id === SMS_TEMPLATES.offer.id));
  const link = /https?:\/\/\S+\/o\/[A-Za-z0-9_-]+/.exec(sms.body)?.[0];
  if (!link) throw new Error('no offer link in the text');
  return { body: sms.body, link };
}

async function sentCount(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return [...text.matchAll(/^sms_sent_total\{[^}]*outcome="sent"[^}]*\} (\d+)/gm)].reduce((s, m) => s + Number(m[1]), 0);
}

async function expectAccessible(page: Page, name: string): Promise<void> {
  await screenshot(page, `patient-${name}`);
  expect([name, await axeViolations(page)]).toEqual([name, []]);
}

beforeAll(async () => {
  db = await createTestDatabase('sx_patient');
  pg = new Client({ connectionString: db.url });
  await pg.connect();
  redisUrl = redisUrlForDb(REDIS_DB);
  await emptyRedis(redisUrl);
  const env = {
    DEMO: '0', QUIET_HOURS: '', SIM_AUTOREPLY: '0', LOG_LEVEL: 'warn', SIM_DELIVERY_DELAY_MS: '50',
    NOTIFY_RATE_LIMIT: String(RATE_LIMIT), NOTIFY_RATE_WINDOW_MS: String(RATE_WINDOW_MS),
  };
  // The second notifier instance shares the queue and the Notify key with the first.
  const started = await Promise.allSettled([
    startStack({ databaseUrl: db.url, redisUrl, portOffset: OFFSET, apps: ['notifier', 'notify-sim', 'booking'], env }),
    startStack({ databaseUrl: db.url, redisUrl, portOffset: SECOND_OFFSET, apps: ['notifier'], env: { ...env, NOTIFY_BASE_URL: simUrl } }),
    launchChromium(),
  ]);
  for (const s of started.slice(0, 2)) if (s.status === 'fulfilled') stacks.push(s.value as Stack);
  if (started[2].status === 'fulfilled') browser = started[2].value as Browser;
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
});

afterAll(async () => {
  await browser?.close();
  for (const s of stacks.reverse()) await s.stop();
  await pg?.end();
  await db?.drop();
});

describe('two notifier processes', () => {
  it('share one Notify rate limit', async () => {
    const burst = 30;
    const made = [];
    for (let i = 0; i < burst; i++) made.push(await createMessage(pg, 'no_offer'));
    const phones = new Set(made.map((m) => m.mobile));
    await until('the whole burst at notify-sim', async () => {
      const mine = (await simMessages()).filter((m) => phones.has(m.phone_number));
      return mine.length === burst && mine;
    });
    // When each send started, as BullMQ recorded it in the same Lua step that checks the limiter
    // (notify-sim's arrival times would add the jitter of a busy machine to what is measured).
    const queue = new Queue(QueueName.smsOutbound, { connection: new IORedis(redisUrl, { maxRetriesPerRequest: null }) });
    let times: number[];
    try {
      const jobs = await Promise.all(made.map((m) => Job.fromId(queue, jobId('send-sms', { smsId: m.smsId }))));
      times = jobs.map((j) => j?.processedOn ?? NaN).sort((x, y) => x - y);
    } finally {
      await queue.close();
      await (await queue.client).quit().catch(() => undefined);
    }
    expect(times.filter(Number.isFinite)).toHaveLength(burst);
    let most = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i] - times[j] >= RATE_WINDOW_MS) j++;
      most = Math.max(most, i - j + 1);
    }
    expect(most).toBeLessThanOrEqual(RATE_LIMIT);
    // 10 a second, split safely into 5 per fixed second for both processes together: a burst of
    // 30 needs five more windows after the first. Two private limits would have sent it in 2 s.
    expect(times[times.length - 1] - times[0]).toBeGreaterThanOrEqual(5 * RATE_WINDOW_MS - 50);
    // Both instances did real work.
    const [a, b] = [await sentCount(notifierUrl), await sentCount(secondNotifierUrl)];
    expect(a + b).toBeGreaterThanOrEqual(burst);
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(0);
  });
});

describe('replies by text', () => {
  const texts = async (phone: string, kind: keyof typeof SMS_TEMPLATES) => (await simMessages(phone)).filter((m) => m.template_id === SMS_TEMPLATES[kind].id);
  const reply = async (phone: string, message: string) =>
    (await (await fetch(`${simUrl}/sim/reply`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ phone, message }) })).json()) as { delivered: boolean };
  // A text is stored with its number (it speaks for every patient who has it).
  const processed = (patientId: string, n: number) => until(`${n} replies processed`, async () =>
    (await pg.query(`SELECT count(*)::int AS n FROM patient_reply r JOIN patient p ON p.mobile = r.mobile WHERE p.id = $1 AND r.processed_at IS NOT NULL`, [patientId])).rows[0].n === n);
  const settle = () => new Promise((r) => setTimeout(r, 600));

  it('sends one help text per offer however many unclear replies, and leaves the offer alone', async () => {
    const offer = await createOffer(pg, { offerPageBaseUrl: notifierUrl });
    await offerLinkFromSms(offer.mobile);
    for (const m of ['maybe?', 'what is this', `YES 99${offer.code}`]) expect(await reply(offer.mobile, m)).toMatchObject({ delivered: true });
    await processed(offer.patientId, 3);
    const [help] = await until('the help text', async () => (await texts(offer.mobile, 'help')).length > 0 && texts(offer.mobile, 'help'));
    expect(help.body).toMatch(/did not understand/);
    await settle();
    expect(await texts(offer.mobile, 'help')).toHaveLength(1);
    expect((await pg.query(`SELECT status FROM offer WHERE id = $1`, [offer.offerId])).rows[0].status).toBe('live');
  });

  it('answers a number with no live offer politely, once', async () => {
    const ended = await createOffer(pg, { sms: false, status: 'expired', expiresAt: new Date(Date.now() - 60_000) });
    for (const m of ['YES', 'Yes please']) expect(await reply(ended.mobile, m)).toMatchObject({ delivered: true });
    await processed(ended.patientId, 2);
    const [polite] = await until('the polite answer', async () => (await texts(ended.mobile, 'no_offer')).length > 0 && texts(ended.mobile, 'no_offer'));
    expect(polite.body).toMatch(/no open offer/);
    await settle();
    expect(await simMessages(ended.mobile)).toHaveLength(1);
  });

  it('STOP ends offers by text and the live one with them; START brings them back', async () => {
    const offer = await createOffer(pg, { offerPageBaseUrl: notifierUrl });
    await offerLinkFromSms(offer.mobile);
    await reply(offer.mobile, 'Stop please!');
    const [stopped] = await until('the stopped text', async () => (await texts(offer.mobile, 'stopped')).length > 0 && texts(offer.mobile, 'stopped'));
    expect(stopped.body).toMatch(/not be sent any more offers/);
    expect((await pg.query(`SELECT sms_stopped FROM patient WHERE id = $1`, [offer.patientId])).rows[0].sms_stopped).toBe(true);
    expect((await pg.query(`SELECT status FROM offer WHERE id = $1`, [offer.offerId])).rows[0].status).toBe('declined');
    await reply(offer.mobile, 'START');
    await until('the started text', async () => (await texts(offer.mobile, 'started')).length > 0);
    expect((await pg.query(`SELECT sms_stopped FROM patient WHERE id = $1`, [offer.patientId])).rows[0].sms_stopped).toBe(false);
  });
});

describe('the offer page in headless Chromium', () => {
  let context: BrowserContext;
  let noScript: BrowserContext;
  // One tab each, reused by every case: a new page costs seconds on a busy machine.
  let page: Page;
  let noScriptPage: Page;

  beforeAll(async () => {
    context = await browser!.newContext();
    noScript = await browser!.newContext({ javaScriptEnabled: false });
    [page, noScriptPage] = await Promise.all([context.newPage(), noScript.newPage()]);
  });

  afterAll(async () => {
    await context?.close();
    await noScript?.close();
  });

  it('opens the link from the offer text, accepts, and shows the confirmation', async () => {
    const offer = await createOffer(pg, { offerPageBaseUrl: notifierUrl });
    const { body, link } = await offerLinkFromSms(offer.mobile);
    expect(body).toContain(`YES ${offer.code}`);
    expect(link).toBe(`${notifierUrl}/o/${offer.token}`);
    const res = await page.goto(link);
    expect(res?.status()).toBe(200);
    await expect(page.locator('h1').textContent()).resolves.toContain('An earlier Dermatology appointment');
    for (const text of ['Chelsea and Westminster', '369 Fulham Rd', 'Offer ends', 'current appointment']) expect(await page.textContent('main')).toContain(text);
    await expectAccessible(page, 'offer');
    await page.getByRole('button', { name: 'Accept this appointment' }).click();
    await page.waitForLoadState();
    await expect(page.locator('h1').textContent()).resolves.toContain('We are booking your appointment');
    await expectAccessible(page, 'accepted');
    expect((await pg.query(`SELECT intent FROM patient_reply WHERE channel = 'web' AND offer_id = $1`, [offer.offerId])).rows).toEqual([{ intent: 'yes' }]);
    // The used link now says so.
    await page.goto(link);
    // Booking may already have claimed it by now.
    await expect(page.locator('h1').textContent()).resolves.toMatch(/We already have your answer|You have accepted this appointment/);
  });

  it('declines: the current appointment and place on the list stay', async () => {
    const offer = await createOffer(pg, { offerPageBaseUrl: notifierUrl });
    const { link } = await offerLinkFromSms(offer.mobile);
    await page.goto(link);
    await page.getByRole('button', { name: 'Keep my current appointment' }).click();
    await page.waitForLoadState();
    await expect(page.locator('h1').textContent()).resolves.toContain('You have kept your current appointment');
    expect(await page.textContent('main')).toContain('place on the waiting list have not changed');
    await expectAccessible(page, 'declined');
    expect((await pg.query(`SELECT intent FROM patient_reply WHERE channel = 'web' AND offer_id = $1`, [offer.offerId])).rows).toEqual([{ intent: 'no' }]);
  });

  it('works with JavaScript turned off', async () => {
    const offer = await createOffer(pg, { offerPageBaseUrl: notifierUrl });
    const { link } = await offerLinkFromSms(offer.mobile);
    await noScriptPage.goto(link);
    await noScriptPage.getByRole('button', { name: 'Accept this appointment' }).click();
    await noScriptPage.waitForLoadState();
    await expect(noScriptPage.locator('h1').textContent()).resolves.toContain('We are booking your appointment');
    await screenshot(noScriptPage, 'patient-accepted-without-javascript');
    expect((await pg.query(`SELECT intent FROM patient_reply WHERE channel = 'web' AND offer_id = $1`, [offer.offerId])).rows).toEqual([{ intent: 'yes' }]);
  });

  it('shows a clear page for an expired link', async () => {
    const offer = await createOffer(pg, { offerPageBaseUrl: notifierUrl });
    const { link } = await offerLinkFromSms(offer.mobile);
    // What the wave's expiry does to it.
    await pg.query(`UPDATE offer SET status = 'expired', ended_at = now() WHERE id = $1`, [offer.offerId]);
    const res = await page.goto(link);
    expect(res?.status()).toBe(410);
    await expect(page.locator('h1').textContent()).resolves.toBe('This offer has expired');
    expect(await page.textContent('main')).toContain('have not changed');
    expect(await page.getByRole('button').count()).toBe(0);
    await expectAccessible(page, 'expired');
  });

  it('lets the patient change what they are offered, with accessible errors', async () => {
    const offer = await createOffer(pg, { offerPageBaseUrl: notifierUrl });
    const { link } = await offerLinkFromSms(offer.mobile);
    await page.goto(link);
    await page.getByRole('link', { name: /hospitals you can get to/ }).click();
    await page.waitForLoadState();
    await expectAccessible(page, 'preferences');
    await page.getByLabel(/St Mary's/).check();
    // An impossible date first: the error summary, then fixed.
    const from = page.getByRole('group', { name: 'First date you cannot make' });
    await from.getByLabel('Day').fill('31');
    await from.getByLabel('Month').fill('2');
    await from.getByLabel('Year').fill(String(new Date().getUTCFullYear() + 1));
    await page.getByRole('button', { name: 'Save my choices' }).click();
    await page.waitForLoadState();
    await expect(page.locator('.nhsuk-error-summary').textContent()).resolves.toContain('real date');
    await expectAccessible(page, 'preferences-error');
    const soon = new Date(Date.now() + 10 * 86_400_000);
    await from.getByLabel('Day').fill(String(soon.getUTCDate()));
    await from.getByLabel('Month').fill(String(soon.getUTCMonth() + 1));
    await from.getByLabel('Year').fill(String(soon.getUTCFullYear()));
    await page.getByRole('button', { name: 'Save my choices' }).click();
    await page.waitForLoadState();
    await expect(page.locator('h1').textContent()).resolves.toContain('Your choices have been saved');
    await screenshot(page, 'patient-preferences-saved');
    const [entry] = (await pg.query(`SELECT acceptable_sites, unavailable FROM waiting_list_entry WHERE id = $1`, [offer.entryId])).rows;
    const day = soon.toISOString().slice(0, 10);
    expect(entry).toEqual({ acceptable_sites: ['RYJ01'], unavailable: [{ from: day, to: day }] });
  });
});
