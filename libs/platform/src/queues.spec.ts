import { BACKOFF_MS, cappedBackoffMs, checkAppendOnly } from './queues';

describe('cappedBackoffMs (a job that keeps its own retry schedule)', () => {
  const none = () => 0; // no jitter
  const most = () => 1; // the largest jitter: half the wait

  it('doubles from the base back-off, and never waits more than 120 times it (a minute in production)', () => {
    expect([1, 2, 3, 4].map((t) => cappedBackoffMs(t, Infinity, none))).toEqual([BACKOFF_MS, 2 * BACKOFF_MS, 4 * BACKOFF_MS, 8 * BACKOFF_MS]);
    expect(cappedBackoffMs(40, Infinity, none)).toBe(120 * BACKOFF_MS);
    expect(cappedBackoffMs(40, Infinity, most)).toBe(60 * BACKOFF_MS);
  });

  it('never waits past the time left, so one last try falls on the limit', () => {
    expect(cappedBackoffMs(20, 1234, none)).toBe(1234);
    expect(cappedBackoffMs(20, -5, none)).toBe(0);
  });
});

describe('checkAppendOnly (Redis keeps its jobs across a restart)', () => {
  it('refuses a Redis without its append-only file in production, warns when it cannot tell, and says nothing elsewhere', () => {
    const warnings: string[] = [];
    const warn = (m: string) => warnings.push(m);
    expect(() => checkAppendOnly('no', true, warn)).toThrow(/appendonly is no.*Refusing to start \(NODE_ENV=production\)/);
    checkAppendOnly('yes', true, warn);
    checkAppendOnly(null, true, warn);
    checkAppendOnly('no', false, warn);
    checkAppendOnly(null, false, warn);
    expect(warnings).toEqual([expect.stringMatching(/could not read Redis appendonly/)]);
  });
});
