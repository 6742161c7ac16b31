/**
 * The demo, as `npm start` runs it, left to itself: the sandbox PASs cancel appointments, simulated
 * patients answer their offers, and bookings flow with nobody touching anything. Sped up (a
 * cancellation every 700 ms, patients who always answer within seconds) so that a minute shows
 * what five do at the default pace. Then the exchange's records must agree with the PASs
 * (tools/stack/demo-audit): no slot booked twice, every confirmed booking exactly once in the
 * owning PAS, old appointments cancelled — and the chain must have turned at least once (a
 * booking's old appointment, cancelled at home, came back as a freed slot of its own).
 */
import { Client } from 'pg';
import { audit, collect } from '../../tools/stack/demo-audit';
import { FreshStack, startFreshStack } from '../../tools/stack/fresh-stack';

jest.setTimeout(300_000);

const OFFSET = 21000;
const REDIS_DB = 12;
const PAS_SIM = `http://127.0.0.1:${3200 + OFFSET}`;

let fresh: FreshStack;
let pg: Client;

beforeAll(async () => {
  fresh = await startFreshStack({
    dbPrefix: 'sx_demo', redisDb: REDIS_DB, portOffset: OFFSET,
    env: {
      DEMO: '1', QUIET_HOURS: '', LOG_LEVEL: 'warn', DEMO_PATIENTS_PER_TRUST: '80', DEMO_CANCEL_EVERY_MS: '700',
      SIM_AUTOREPLY: '1', SIM_REPLY_RATE: '0.9', SIM_ACCEPT_RATE: '0.6', SIM_REPLY_DELAY_MS_MEDIAN: '500', SIM_REPLY_DELAY_MS_MAX: '3000', SIM_SEED: '7',
    },
  });
  pg = new Client({ connectionString: fresh.db.url });
  await pg.connect();
}, 180_000);

afterAll(async () => {
  await pg?.end();
  await fresh?.stop();
}, 60_000);

const count = async (sql: string) => Number((await pg.query(sql)).rows[0].n);

describe('the demo left running', () => {
  it('books patients on its own, and the exchange and the PASs agree', async () => {
    const deadline = Date.now() + 120_000;
    let confirmed = 0;
    let chained = 0;
    while (Date.now() < deadline && (confirmed < 6 || chained < 1)) {
      await new Promise((r) => setTimeout(r, 2000));
      confirmed = await count(`SELECT count(*) AS n FROM booking WHERE status = 'confirmed'`);
      // A slot freed at a booking's home trust by cancelling that booking's old appointment.
      chained = await count(
        `SELECT count(*) AS n FROM slot s JOIN booking b ON s.trust_ods = b.home_trust_ods AND s.filler_appointment_id = b.previous_appointment_id`,
      );
    }
    expect(confirmed).toBeGreaterThanOrEqual(6);
    expect(chained).toBeGreaterThanOrEqual(1);

    // Bookings still in flight may lag their PAS for a moment; a few looks settle them.
    let problems: string[] = [];
    for (let i = 0; i < 5; i++) {
      const report = audit(await collect(fresh.db.url, PAS_SIM));
      problems = report.problems;
      if (problems.length === 0) {
        expect(report.pasAppointmentsWithBookingId).toBeGreaterThanOrEqual(confirmed);
        break;
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
    expect(problems).toEqual([]);
  });
});
