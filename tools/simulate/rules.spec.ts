import { DEFAULT_POLICY, MatchingPolicy } from '@app/domain';
import { RuleAuditor } from './rules';

const policy: MatchingPolicy = { ...DEFAULT_POLICY, minNoticeHours: 24, quietHours: { start: '20:00', end: '08:00' } };
const H = 3_600_000;
// A winter Monday: Europe/London is UTC.
const noon = Date.UTC(2027, 0, 11, 12);
const start = noon + 72 * H;

describe('RuleAuditor', () => {
  it('counts nothing for offers and a booking that keep the rules', () => {
    const a = new RuleAuditor();
    a.offerMade(1, start, noon, policy);
    a.offerMade(2, start, noon, policy);
    a.offerEnded(2);
    a.offerEnded(1);
    a.offerMade(2, start, noon + H, policy);
    a.booked(10, 2, noon + 2 * H, start, policy);
    expect(a.total).toBe(0);
    expect(a.checks).toBe(12);
  });

  it('counts each broken rule', () => {
    const a = new RuleAuditor();
    a.offerMade(1, start, start - 24 * H, policy);
    expect(a.violations['offer-inside-notice']).toBe(1);
    a.offerMade(2, start, Date.UTC(2027, 0, 11, 21), policy);
    expect(a.violations['sms-in-quiet-hours']).toBe(1);
    a.offerMade(2, start, noon, policy);
    expect(a.violations['second-live-offer']).toBe(1);
    a.booked(10, 3, start - H, start, policy);
    expect(a.violations['booking-inside-notice']).toBe(1);
    a.booked(10, 4, noon, start, policy);
    expect(a.violations['slot-booked-twice']).toBe(1);
    a.booked(11, 4, noon, start, policy);
    expect(a.violations['pathway-booked-twice']).toBe(1);
    expect(a.total).toBe(6);
  });
});
