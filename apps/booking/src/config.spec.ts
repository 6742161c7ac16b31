import { BookingConfig } from './config';

describe('BookingConfig defaults', () => {
  it('leave room in the pool for every reply claim, the write-back outcome worker (8), the relay and the reconciler', () => {
    const c = new BookingConfig();
    // A claim waiting on a slot lock holds its connection; a pool smaller than the workers would
    // make the outcome worker (which confirms bookings) wait behind a storm of replies.
    expect(c.DATABASE_POOL_SIZE).toBeGreaterThanOrEqual(c.REPLIES_CONCURRENCY + 8 + 2);
  });
});
