import { OutboxRelay } from './outbox';

/** When a wake-up's relay pass comes (the pass itself is outbox.int-spec.ts's business). */
describe('OutboxRelay.wake', () => {
  let relay: OutboxRelay;
  let drain: jest.SpyInstance;
  beforeEach(() => {
    jest.useFakeTimers();
    relay = new OutboxRelay(undefined as never, undefined as never, undefined as never);
    drain = jest.spyOn(relay, 'drain').mockResolvedValue(0);
  });
  afterEach(() => jest.useRealTimers());

  it('gathers the commits of a busy moment into one pass 50 ms on', () => {
    relay.wake(['a']);
    relay.wake(['b']);
    jest.advanceTimersByTime(49);
    expect(drain).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    expect(drain).toHaveBeenCalledTimes(1);
  });

  it('comes sooner for a caller that asks (a patient waits on the job), and brings a later pass forward', () => {
    relay.wake(['a']);
    relay.wake(['offer-replies'], 5);
    jest.advanceTimersByTime(5);
    expect(drain).toHaveBeenCalledTimes(1);
    jest.advanceTimersByTime(100);
    expect(drain).toHaveBeenCalledTimes(1);
  });
});
