import { DEFAULT_POLICY, MatchingPolicy } from './policy';
import { NO_CANDIDATE_RETRY_MINUTES, noCandidateRetryAt, planMatch } from './match-step';

const policy: MatchingPolicy = { ...DEFAULT_POLICY, quietHours: { start: '20:00', end: '08:00' }, minNoticeHours: 24, offerTtlMinutes: 120, waveSize: 3 };
// Mondays in winter: Europe/London is UTC.
const at = (iso: string) => new Date(iso);

describe('planMatch', () => {
  it('makes a wave of the policy size now, in the day, living the TTL', () => {
    const step = planMatch(at('2027-03-10T12:00:00Z'), at('2027-01-11T10:00:00Z'), policy);
    expect(step).toEqual({ kind: 'offer', sendAt: at('2027-01-11T10:00:00Z'), expiresAt: at('2027-01-11T12:00:00Z'), waveSize: 3 });
  });

  it('offers one patient at a time when sequential', () => {
    const step = planMatch(at('2027-03-10T12:00:00Z'), at('2027-01-11T10:00:00Z'), { ...policy, strategy: 'sequential' });
    expect(step).toMatchObject({ kind: 'offer', waveSize: 1 });
  });

  it('closes at and after the cut-off', () => {
    const start = at('2027-01-12T10:00:00Z');
    expect(planMatch(start, at('2027-01-11T10:00:00Z'), policy)).toEqual({ kind: 'close', reason: 'cut-off' });
    expect(planMatch(start, at('2027-01-11T09:59:59Z'), policy).kind).toBe('offer');
  });

  it('defers to the end of quiet hours, or closes when they outlast the cut-off', () => {
    expect(planMatch(at('2027-01-20T10:00:00Z'), at('2027-01-11T22:00:00Z'), policy)).toEqual({ kind: 'defer', until: at('2027-01-12T08:00:00Z') });
    expect(planMatch(at('2027-01-13T07:00:00Z'), at('2027-01-11T22:00:00Z'), policy)).toEqual({ kind: 'close', reason: 'quiet-hours-until-cut-off' });
  });

  it('makes the wave now when quiet hours end within a minute', () => {
    const step = planMatch(at('2027-01-20T10:00:00Z'), at('2027-01-12T07:59:30Z'), policy);
    expect(step).toMatchObject({ kind: 'offer', sendAt: at('2027-01-12T08:00:00Z') });
  });
});

describe('noCandidateRetryAt', () => {
  it('looks again a quarter of an hour later, never past the cut-off', () => {
    const now = at('2027-01-11T10:00:00Z');
    expect(noCandidateRetryAt(at('2027-01-20T10:00:00Z'), now, policy)).toEqual(new Date(now.getTime() + NO_CANDIDATE_RETRY_MINUTES * 60_000));
    expect(noCandidateRetryAt(at('2027-01-12T10:10:00Z'), now, policy)).toBeNull();
  });
});
