import { ConfigError, loadConfig } from '@app/platform';
import { BookingConfig, bookingPoolMinimum } from './config';

describe('BookingConfig defaults', () => {
  it('leave room in the pool for the reply batches and lone replies, the write-back outcome worker (8), the relay and the reconciler', () => {
    const c = new BookingConfig();
    // A claim waiting on a slot lock holds its connection; a pool smaller than the workers would
    // make the outcome worker (which confirms bookings) wait behind a storm of replies. Replies hold
    // at most REPLIES_WRITERS batch connections and as many lone ones, whatever REPLIES_CONCURRENCY.
    expect(c.DATABASE_POOL_SIZE).toBeGreaterThanOrEqual(2 * c.REPLIES_WRITERS + 8 + 2);
    expect(bookingPoolMinimum(c.REPLIES_WRITERS)).toBe(16);
  });
});

describe('BookingConfig at boot', () => {
  const load = (env: Record<string, string>) => loadConfig(BookingConfig, env);

  it('refuses a pool too small for the work booking does at once, naming what it needs', () => {
    expect(() => load({ DATABASE_POOL_SIZE: '4' })).toThrow(ConfigError);
    expect(() => load({ DATABASE_POOL_SIZE: '4' })).toThrow(/DATABASE_POOL_SIZE=4: booking needs at least 16 connections with REPLIES_WRITERS=3/);
    expect(() => load({ DATABASE_POOL_SIZE: '16', REPLIES_WRITERS: '16' })).toThrow(/at least 42 connections with REPLIES_WRITERS=16/);
  });

  it('accepts the minimum, and the defaults', () => {
    expect(load({ DATABASE_POOL_SIZE: '16' }).DATABASE_POOL_SIZE).toBe(16);
    expect(load({ DATABASE_POOL_SIZE: '42', REPLIES_WRITERS: '16' }).REPLIES_WRITERS).toBe(16);
    expect(load({}).DATABASE_POOL_SIZE).toBe(28);
  });

  it('names a bad REPLIES_WRITERS by its own rule, not by the pool', () => {
    expect(() => load({ REPLIES_WRITERS: '0' })).toThrow(/REPLIES_WRITERS=0/);
    expect(() => load({ REPLIES_WRITERS: '0' })).not.toThrow(/booking needs/);
  });
});
