import { CircuitBreaker, CircuitOpenError, CircuitState } from './circuit-breaker';

describe('CircuitBreaker', () => {
  let t = 0;
  const changes: CircuitState[] = [];
  const make = () => new CircuitBreaker({ threshold: 3, coolDownMs: 1000, now: () => t, onStateChange: (s) => changes.push(s) });
  const fail = () => Promise.reject(new Error('ECONNRESET'));
  const ok = () => Promise.resolve({ status: 201 });
  beforeEach(() => { t = 0; changes.length = 0; });

  it('opens after N consecutive failures and then fails fast without calling the PAS', async () => {
    const b = make();
    for (let i = 0; i < 3; i++) await expect(b.run(fail)).rejects.toThrow('ECONNRESET');
    expect(b.current).toBe('open');
    const fn = jest.fn(ok);
    await expect(b.run(fn)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(fn).not.toHaveBeenCalled();
  });

  it('counts answers that say the PAS is unwell, and a success resets the count', async () => {
    const b = make();
    const unwell = (r: { status: number }) => r.status >= 500;
    await b.run(() => Promise.resolve({ status: 503 }), unwell);
    await b.run(() => Promise.resolve({ status: 503 }), unwell);
    await b.run(ok, unwell);
    await b.run(() => Promise.resolve({ status: 503 }), unwell);
    await b.run(() => Promise.resolve({ status: 400 }), unwell); // a refusal is the PAS working
    expect(b.current).toBe('closed');
  });

  it('lets one probe through after the cool-down: success closes, failure opens again', async () => {
    const b = make();
    for (let i = 0; i < 3; i++) await b.run(fail).catch(() => undefined);
    t = 1000;
    let release!: () => void;
    const probe = b.run(() => new Promise<{ status: number }>((r) => (release = () => r({ status: 201 }))));
    expect(b.current).toBe('half-open');
    await expect(b.run(ok)).rejects.toBeInstanceOf(CircuitOpenError); // only one probe at a time
    release();
    await probe;
    expect(b.current).toBe('closed');

    for (let i = 0; i < 3; i++) await b.run(fail).catch(() => undefined);
    t = 2500;
    await expect(b.run(fail)).rejects.toThrow('ECONNRESET');
    expect(b.current).toBe('open');
    t = 3000;
    await expect(b.run(ok)).rejects.toBeInstanceOf(CircuitOpenError); // a new cool-down from the failed probe
    expect(changes).toEqual(['open', 'half-open', 'closed', 'open', 'half-open', 'open']);
  });
});
