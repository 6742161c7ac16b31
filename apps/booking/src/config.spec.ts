import { BookingConfig } from './config';

describe('BookingConfig defaults', () => {
  it('leave room in the pool for the reply batches and lone replies, the write-back outcome worker (8), the relay and the reconciler', () => {
    const c = new BookingConfig();
    // A claim waiting on a slot lock holds its connection; a pool smaller than the workers would
    // make the outcome worker (which confirms bookings) wait behind a storm of replies. Replies hold
    // at most REPLIES_WRITERS batch connections and as many lone ones, whatever REPLIES_CONCURRENCY.
    expect(c.DATABASE_POOL_SIZE).toBeGreaterThanOrEqual(2 * c.REPLIES_WRITERS + 8 + 2);
  });
});
