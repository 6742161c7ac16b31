/**
 * Edges of the dashboard found in review, against real Postgres and Redis over real HTTP: paging
 * through a burst of slots released at one instant, the live stream ending with the session,
 * filters that must be refused rather than ignored, the failures page's status box saying only
 * what the dashboard wrote, and two operators mapping clinics at once.
 */
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { DEMO_DASHBOARD_PASSWORD } from './config';
import { Agent } from './testing/agent';
import { startTestDashboard, TestDashboard } from './testing/dashboard-app';
import { Seed } from './testing/seed';

jest.setTimeout(60_000);

let dashboard: TestDashboard;
let pg: Client;
let base: string;
let seed: Seed;
let clinicDir: string;
let ops: Agent;

beforeAll(async () => {
  clinicDir = await mkdtemp(join(tmpdir(), 'sx-clinics-'));
  await copyFile(join(__dirname, '../../../config/clinics/RAS.json'), join(clinicDir, 'RAS.json'));
  dashboard = await startTestDashboard('sx_dash_edges', { CLINIC_MAP_DIR: clinicDir });
  ({ pg, base } = dashboard);
  seed = new Seed(pg);
  ops = await signedIn('ops@ics.example');
});

afterAll(async () => {
  await dashboard?.stop();
  if (clinicDir) await rm(clinicDir, { recursive: true, force: true });
});

async function signedIn(email: string): Promise<Agent> {
  const a = new Agent(base);
  expect((await a.signIn(email, DEMO_DASHBOARD_PASSWORD)).status).toBe(303);
  return a;
}

const slotIdsOn = (html: string) => [...html.matchAll(/href="\/slots\/([0-9a-f-]{36})"/g)].map((m) => m[1]);
const nextLink = (html: string) => /<a href="([^"]+)">Older slots<\/a>/.exec(html)?.[1].replace(/&amp;/g, '&');

describe('the slot feed', () => {
  it('pages through 120 slots released at one instant: every one once, none skipped', async () => {
    const burst: string[] = [];
    for (let i = 0; i < 120; i++) burst.push(await seed.slot({ trust: 'RYJ', site: 'RYJ02', tfc: '502' }));
    // A whole clinic cancelled: one release time for the lot, to the microsecond as Postgres keeps it.
    await pg.query(`UPDATE slot SET released_at = '2026-11-30T09:15:00.123456Z' WHERE id = ANY($1)`, [burst]);
    const seen: string[] = [];
    let link: string | undefined = '/slots?trust=RYJ&tfc=502';
    for (let pages = 0; link && pages < 10; pages++) {
      const page = await ops.get(link);
      expect(page.status).toBe(200);
      seen.push(...slotIdsOn(page.text));
      link = nextLink(page.text);
    }
    expect(seen.length).toBe(120);
    expect(new Set(seen)).toEqual(new Set(burst));
    // A link saved before cursors (a bare time) still pages; anything else is a 400.
    expect(slotIdsOn((await ops.get('/slots?trust=RYJ&tfc=502&before=2026-11-30T09:16:00Z')).text)).toHaveLength(50);
    expect((await ops.get('/slots?before=yesterday')).status).toBe(400);
    expect((await ops.get('/slots?before=2026-11-30T09:16:00Z&before=2026-11-30T09:17:00Z')).status).toBe(400);
  });
});

describe('a slot\'s page', () => {
  it('tells when a wave sends from in London time, like its other times', async () => {
    const patient = await seed.patient('RQM');
    const slot = await seed.slot({ trust: 'RQM', site: 'RQM01' });
    await seed.offer(slot, patient, { status: 'live' });
    await pg.query(`UPDATE offer_wave SET send_at = '2026-06-09T23:30:00Z' WHERE slot_id = $1`, [slot]);
    const page = (await ops.get(`/slots/${slot}`)).text;
    expect(page).toContain('sends from 10 Jun 2026, 00:30:00');
    expect(page).not.toContain('2026-06-09T23:30');
  });
});

describe('the live stream', () => {
  /** Opens /events as `agent`; `ended()` resolves true when the server ends the stream, false if it is still open after `ms`. */
  async function stream(agent: Agent) {
    const res = await fetch(`${base}/events`, { headers: { cookie: `dashboard_session=${agent.cookies.get('dashboard_session')}` } });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    let done = false;
    const reading = (async () => {
      for (;;) {
        const r = await reader.read().catch(() => ({ done: true, value: undefined }));
        if (r.done) return (done = true);
        text += new TextDecoder().decode(r.value);
      }
    })();
    return {
      text: () => text,
      async ended(ms = 3000): Promise<boolean> {
        await Promise.race([reading, new Promise((r) => setTimeout(r, ms))]);
        const endedByServer = done;
        if (!endedByServer) await reader.cancel();
        return endedByServer;
      },
    };
  }

  it('ends when the session is signed out in another tab', async () => {
    const a = await signedIn('ops@ics.example');
    const s = await stream(a);
    await a.get('/sign-out');
    expect((await a.post('/sign-out')).status).toBe(303);
    expect(await s.ended()).toBe(true);
    expect(s.text()).toContain('event: signed-out');
  });

  it('ends when the session expires or the account is disabled, and not before', async () => {
    const a = await signedIn('ops@ics.example');
    const open = await stream(a);
    expect(await open.ended(1000)).toBe(false);

    const expiring = await stream(a);
    await pg.query(`UPDATE dashboard_session SET expires_at = now() - interval '1 second' WHERE token_hash = encode(sha256($1::bytea), 'hex')`, [a.cookies.get('dashboard_session')]);
    expect(await expiring.ended()).toBe(true);

    const viewer = await signedIn('rqm-viewer@ics.example');
    const disabled = await stream(viewer);
    await pg.query(`UPDATE dashboard_user SET disabled = true WHERE email = 'rqm-viewer@ics.example'`);
    try {
      expect(await disabled.ended()).toBe(true);
    } finally {
      await pg.query(`UPDATE dashboard_user SET disabled = false WHERE email = 'rqm-viewer@ics.example'`);
    }
  });
});

describe('the queues board', () => {
  it('its polling does not keep an idle session alive; opening the board does', async () => {
    const admin = await signedIn('admin@ics.example');
    const token = admin.cookies.get('dashboard_session');
    const where = `token_hash = encode(sha256($1::bytea), 'hex')`;
    const expiresIn = async () => Number((await pg.query(`SELECT extract(epoch FROM expires_at - now()) AS s FROM dashboard_session WHERE ${where}`, [token])).rows[0].s);
    await pg.query(`UPDATE dashboard_session SET expires_at = now() + interval '2 minutes' WHERE ${where}`, [token]);
    for (let i = 0; i < 3; i++) expect((await admin.get('/admin/queues/api/queues?page=1&jobsPerPage=10', false)).status).toBe(200);
    expect(await expiresIn()).toBeLessThan(121);
    expect((await admin.get('/admin/queues')).status).toBe(200);
    expect(await expiresIn()).toBeGreaterThan(20 * 60);
    // Once the session has expired, polling does not bring it back.
    await pg.query(`UPDATE dashboard_session SET expires_at = now() - interval '1 second' WHERE ${where}`, [token]);
    expect((await admin.get('/admin/queues/api/queues', false)).status).toBe(303);
  });
});

describe('exports', () => {
  const lines = (csv: string) => csv.split('\r\n').filter((l) => l !== '');

  it('the audit export keeps the page\'s filters, and says so when it is cut at 50,000 rows', async () => {
    const admin = await signedIn('admin@ics.example');
    await pg.query(`INSERT INTO audit_log (user_email, action, detail) SELECT 'bulk@ics.example', 'bulk-export-test', jsonb_build_object('n', i) FROM generate_series(1, 50001) i`);
    await pg.query(`INSERT INTO audit_log (user_email, action) VALUES ('bulk@ics.example', 'another-action')`);
    const page = await admin.get('/audit?user=BULK@ics.example&action=bulk-export-test');
    expect(page.text).toContain('href="/audit/export.csv?user=bulk%40ics.example&amp;action=bulk-export-test"');
    const csv = await admin.get('/audit/export.csv?user=bulk%40ics.example&action=bulk-export-test', false);
    expect(csv.headers.get('x-export-truncated')).toBe('50000');
    const rows = lines(csv.text);
    expect(rows).toHaveLength(1 + 50_000 + 1);
    expect(rows.slice(1, -1).every((r) => r.includes(',bulk@ics.example,') && r.includes(',bulk-export-test,'))).toBe(true);
    expect(rows[rows.length - 1]).toMatch(/^TRUNCATED: this export stops at 50000 rows and more matched/);
    // Under the limit, nothing is added.
    const small = await admin.get('/audit/export.csv?action=another-action', false);
    expect([small.headers.get('x-export-truncated'), lines(small.text).length]).toEqual([null, 2]);
    const [exported] = (await pg.query(`SELECT detail FROM audit_log WHERE action = 'export-audit' ORDER BY id LIMIT 1`)).rows;
    expect(exported.detail).toMatchObject({ rows: 50_000, truncated: true, user: 'bulk@ics.example', filterAction: 'bulk-export-test' });
  });

  it('the slots export says so when it is cut at 10,000 rows', async () => {
    await pg.query(
      `INSERT INTO slot (trust_ods, site_ods, clinic_code, tfc, appointment_type, start_at, duration_minutes, filler_appointment_id, source_event_id, status, cutoff_at, released_at)
       SELECT 'RYJ', 'RYJ01', '120-NEW', '120', 'NEW', now() + interval '3 days', 20, 'F-' || gen_random_uuid(), gen_random_uuid(), 'open', now() + interval '2 days', now() - i * interval '1 second'
         FROM generate_series(1, 10001) i`,
    );
    const csv = await ops.get('/slots/export.csv?tfc=120', false);
    expect(csv.headers.get('x-export-truncated')).toBe('10000');
    const rows = lines(csv.text);
    expect(rows).toHaveLength(1 + 10_000 + 1);
    expect(rows[rows.length - 1]).toMatch(/^TRUNCATED: this export stops at 10000 rows/);
    expect(lines((await ops.get('/slots/export.csv?tfc=120&trust=RQM', false)).text)).toHaveLength(1);
  });

  it('the failures page\'s links keep the kind asked for', async () => {
    const page = await ops.get('/failures?kind=hl7');
    expect(page.text).toContain('href="/failures/export.csv?kind=hl7"');
    expect(page.text).toContain('href="/failures?kind=hl7&amp;resolved=1"');
    const all = await ops.get('/failures?kind=booking&resolved=1');
    expect(all.text).toContain('href="/failures/export.csv?kind=booking&amp;resolved=1"');
    expect(all.text).toContain('href="/failures?kind=booking"');
  });
});

describe('filters are refused, never silently ignored', () => {
  it('a status that is only an object\'s inherited property is a 400', async () => {
    for (const status of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const r = await ops.get(`/slots?status=${status}`, false);
      expect([status, r.status]).toEqual([status, 400]);
      expect(r.json.message).toContain('status: one of');
    }
    expect((await ops.get('/slots?status=booked', false)).status).toBe(200);
  });

  it('a filter given twice is a 400 naming it, not the whole ICS', async () => {
    for (const path of ['/slots?trust=RQM&trust=RAS', '/waiting-list-imports?trust=RQM&trust=RAS', '/flows/data.json?trust=RQM&trust=RAS', '/slots?tfc=330&tfc=502', '/failures?resolved=1&resolved=1']) {
      const r = await ops.get(path, false);
      expect([path, r.status]).toEqual([path, 400]);
      expect(r.json.message).toMatch(/(trust|tfc|resolved): give it once/);
    }
  });
});

describe('flows', () => {
  /** A freed slot of `trust` (TFC 110), booked by a patient of `home` unless `home` is null. */
  async function freed(trust: string, home: string | null, releasedAt: Date): Promise<void> {
    const site = `${trust}01`;
    if (!home) {
      await seed.slot({ trust, site, tfc: '110', releasedAt, status: 'unfilled', closedReason: 'cutoff' });
      return;
    }
    const patient = await seed.patient(home);
    const slot = await seed.slot({ trust, site, tfc: '110', releasedAt, status: 'booked' });
    const offer = await seed.offer(slot, patient, { status: 'accepted' });
    await seed.booking(slot, offer.offerId, patient, { owning: trust, home });
  }
  const tfc110 = async (agent: Agent, q: string) => (await agent.get(`/flows/data.json?tfc=110&from=2026-02-01&to=2026-02-28${q}`, false)).json;

  it('a trust\'s specialty table counts the slots it freed (they add up to the ICS\'s); the matrix shows it on either side', async () => {
    const at = new Date('2026-02-10T12:00:00Z');
    // RQM frees one slot, taken by an RQM patient; RAS frees two, one taken by an RQM patient.
    await freed('RQM', 'RQM', at);
    await freed('RAS', 'RQM', at);
    await freed('RAS', null, at);
    const row = (j: { tfc: Array<Record<string, unknown>> }) => j.tfc.find((r) => r.tfc === '110');
    const [all, rqm, ras] = [await tfc110(ops, ''), await tfc110(ops, '&trust=RQM'), await tfc110(ops, '&trust=RAS')];
    expect([row(rqm)!.freed, row(ras)!.freed, row(all)!.freed]).toEqual([1, 2, 3]);
    expect(row(all)).toMatchObject({ freed: 3, eligible: 3, filled: 2, cross_trust: 1, received: null });
    expect(row(rqm)).toMatchObject({ freed: 1, eligible: 1, filled: 1, cross_trust: 0, fill_rate: 1, received: 1 });
    expect(row(ras)).toMatchObject({ freed: 2, eligible: 2, filled: 1, cross_trust: 1, fill_rate: 0.5, received: 0 });
    // The matrix keeps both sides: RQM's own slot, and RAS's slot an RQM patient took.
    expect(rqm.matrix).toEqual([{ from_trust: 'RAS', to_trust: 'RQM', bookings: 1 }, { from_trust: 'RQM', to_trust: 'RQM', bookings: 1 }]);
    // A trust viewer sees the same as an operator filtering by their trust.
    const viewer = await signedIn('rqm-viewer@ics.example');
    expect(row(await tfc110(viewer, ''))).toEqual(row(rqm));
    const csv = (await ops.get('/flows/tfc.csv?tfc=110&from=2026-02-01&to=2026-02-28&trust=RQM', false)).text.split('\r\n');
    expect(csv[0]).toBe('tfc,freed,eligible,filled,cross_trust,fill_rate,received');
    expect(csv[1]).toBe('110,1,1,1,0,1,1');
  });

  it('dates are London days: a slot freed at 00:30 BST on 10 June is in 10 June, and clock-change days are whole', async () => {
    const on = async (day: string) => (await ops.get(`/flows/data.json?tfc=111&from=${day}&to=${day}`, false)).json.tfc.find((r: { tfc: string }) => r.tfc === '111')?.freed ?? 0;
    const slot = (releasedAt: string) => seed.slot({ trust: 'RYJ', site: 'RYJ01', tfc: '111', releasedAt: new Date(releasedAt), status: 'unfilled', closedReason: 'cutoff' });
    await slot('2026-06-09T23:30:00Z'); // 00:30 BST, 10 June
    await slot('2026-03-29T23:30:00Z'); // 00:30 BST, 30 March: the day after the clocks went forward
    await slot('2026-03-29T00:30:00Z'); // 00:30 GMT, 29 March
    await slot('2026-10-24T23:30:00Z'); // 00:30 BST, 25 October: the day the clocks go back
    await slot('2026-10-25T23:30:00Z'); // 23:30 GMT, 25 October
    expect([await on('2026-06-09'), await on('2026-06-10')]).toEqual([0, 1]);
    expect([await on('2026-03-29'), await on('2026-03-30')]).toEqual([1, 1]);
    expect([await on('2026-10-24'), await on('2026-10-25'), await on('2026-10-26')]).toEqual([0, 2, 0]);
  });
});

describe('failures', () => {
  it('the status box shows only the dashboard\'s own words for a known outcome, never text from the link', async () => {
    const spoof = 'Your account is locked: call 0800 000 000';
    const page = await ops.get(`/failures?done=${encodeURIComponent(spoof)}`);
    expect(page.status).toBe(200);
    expect(page.text).not.toContain('0800 000 000');
    expect(page.text).not.toContain('id="flash"');
    expect((await ops.get('/failures?done=resolved')).text).toContain('<p id="flash">Marked as resolved.</p>');
    expect((await ops.get('/failures?done=toString')).text).not.toContain('id="flash"');
  });

  it('two operators mapping different clinics at once both land in the mapping, and each is told which clinic', async () => {
    const [first, second] = [await seed.refusedHl7('RAS', 'AIS-3: clinic 330-EDGE1 is not in the clinic mapping'), await seed.refusedHl7('RAS', 'AIS-3: clinic 330-EDGE2 is not in the clinic mapping')];
    const other = await signedIn('ops@ics.example');
    await ops.get('/failures');
    await other.get('/failures');
    const [a, b] = await Promise.all([
      ops.post(`/failures/hl7/${first}/map-clinic`, { clinicCode: '330-EDGE1', tfc: '330', appointmentType: 'NEW' }),
      other.post(`/failures/hl7/${second}/map-clinic`, { clinicCode: '330-EDGE2', tfc: '330', appointmentType: 'FUP' }),
    ]);
    expect([a.status, b.status]).toEqual([303, 303]);
    const mapping = JSON.parse(await readFile(join(clinicDir, 'RAS.json'), 'utf8'));
    expect(mapping.clinics['330-EDGE1']).toEqual({ tfc: '330', appointmentType: 'NEW' });
    expect(mapping.clinics['330-EDGE2']).toEqual({ tfc: '330', appointmentType: 'FUP' });
    expect((await ops.get(a.headers.get('location')!)).text).toContain('Clinic 330-EDGE1 is now mapped at RAS');
  });

  it('an open refusal stays on the list however old it is; a resolved one ages off after 30 days', async () => {
    const oldOpen = await seed.refusedHl7('RQM', 'PID-3: an old refusal nobody dealt with');
    const oldResolved = await seed.refusedHl7('RQM', 'PID-3: an old refusal dealt with');
    const recentResolved = await seed.refusedHl7('RQM', 'PID-3: a recent refusal dealt with');
    await pg.query(`UPDATE hl7_message SET received_at = now() - interval '40 days' WHERE id = ANY($1)`, [[oldOpen, oldResolved]]);
    await pg.query(`INSERT INTO failure_action (kind, ref_id, action, note, user_email) SELECT 'hl7', unnest($1::text[]), 'resolved', 'done', 'ops@ics.example'`, [[oldResolved, recentResolved]]);
    const refsOn = (html: string) => [...html.matchAll(/data-ref="([0-9a-f-]{36})"/g)].map((m) => m[1]);
    const open = refsOn((await ops.get('/failures?kind=hl7')).text);
    expect(open).toContain(oldOpen);
    expect(open).not.toContain(recentResolved);
    const all = refsOn((await ops.get('/failures?kind=hl7&resolved=1')).text);
    expect(all).toEqual(expect.arrayContaining([oldOpen, recentResolved]));
    expect(all).not.toContain(oldResolved);
  });

  it('maps only the clinic an open refusal names, and a clinic called like an object\'s property is not "already mapped"', async () => {
    const mapping = async () => JSON.parse(await readFile(join(clinicDir, 'RAS.json'), 'utf8'));
    const before = JSON.stringify(await mapping());
    const map = (id: string, clinicCode: string) => ops.request('POST', `/failures/hl7/${id}/map-clinic`, { html: false, form: { _csrf: ops.csrf, clinicCode, tfc: '330', appointmentType: 'NEW' } });
    // A refusal for another reason has no clinic to map.
    const badField = await seed.refusedHl7('RAS', 'PID-3: no NHS number');
    await ops.get('/failures'); // its forms carry the CSRF token
    expect([(await map(badField, '330-EDGE3')).status, (await map(badField, '330-EDGE3')).json.error]).toEqual([400, 'not_mappable']);
    // Another clinic than the one refused.
    const edge4 = await seed.refusedHl7('RAS', 'AIS-3: clinic 330-EDGE4 is not in the clinic mapping');
    const other = await map(edge4, '330-SOMETHING-ELSE');
    expect([other.status, other.json.error]).toEqual([400, 'invalid_mapping']);
    // A resolved refusal.
    await ops.post(`/failures/hl7/${edge4}/resolve`, { note: 'mapped by hand' });
    expect((await map(edge4, '330-EDGE4')).status).toBe(409);
    expect(JSON.stringify(await mapping())).toBe(before);
    // `constructor` is in every object, but not in the mapping until mapped.
    const ctor = await seed.refusedHl7('RAS', 'AIS-3: clinic constructor is not in the clinic mapping');
    expect((await map(ctor, 'constructor')).status).toBe(200);
    expect(Object.hasOwn((await mapping()).clinics, 'constructor')).toBe(true);
    expect((await mapping()).clinics.constructor).toEqual({ tfc: '330', appointmentType: 'NEW' });
  });
});
