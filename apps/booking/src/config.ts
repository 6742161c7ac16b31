import { PolicyConfig, WORKER_DEFAULTS } from '@app/platform';
import { IsInt, Max, Min, ValidateBy, ValidationArguments } from 'class-validator';

/** The write-back outcome worker's jobs at once (writeback-outcomes.worker.ts), each in its own transaction. */
const OUTCOME_WORKER_CONNECTIONS = WORKER_DEFAULTS.concurrency ?? 8;

/**
 * The fewest connections booking's pool needs for its own work to go on side by side: the replies
 * path holds at most REPLIES_WRITERS batch transactions and as many replies decided alone
 * (replies.worker.ts), the write-back outcome worker one per job in hand, and the outbox relay and
 * the reconciler one each. With fewer, a storm of replies waiting on a slot lock holds every
 * connection and the outcome worker, which confirms the bookings, waits behind it.
 */
export function bookingPoolMinimum(repliesWriters: number): number {
  return 2 * repliesWriters + OUTCOME_WORKER_CONNECTIONS + 2;
}

export class BookingConfig extends PolicyConfig {
  override SERVICE_NAME = 'booking';
  override PORT = 3003;

  /**
   * Reply jobs taken at once. They wait in memory for a batch (REPLIES_WRITERS) rather than each
   * holding a connection, so more jobs in hand make bigger batches, not more database work.
   */
  @IsInt() @Min(1) @Max(256)
  REPLIES_CONCURRENCY = 64;

  /**
   * Replies are decided in batches (replies.worker.ts `decideBatch`): at most this many batch
   * transactions at once; the replies that arrive meanwhile wait and go together in the next one.
   * With REPLIES_CONCURRENCY jobs taken at once, a storm's replies come in batches of dozens.
   */
  @IsInt() @Min(1) @Max(16)
  REPLIES_WRITERS = 3;

  /** Most replies decided in one transaction. */
  @IsInt() @Min(1) @Max(1000)
  REPLIES_BATCH_MAX = 64;

  /** Room for the replies' connections (2 × REPLIES_WRITERS), the write-back outcome worker (8), the relay and the reconciler without waiting on each other. */
  @ValidateBy({
    name: 'fitsBookingWork',
    validator: {
      validate: (size: unknown, args?: ValidationArguments) => {
        const writers = (args?.object as BookingConfig | undefined)?.REPLIES_WRITERS;
        // A bad REPLIES_WRITERS is named by its own rule.
        return typeof size !== 'number' || typeof writers !== 'number' || size >= bookingPoolMinimum(writers);
      },
      defaultMessage: (args?: ValidationArguments) => {
        const writers = (args?.object as BookingConfig).REPLIES_WRITERS;
        return (
          `booking needs at least ${bookingPoolMinimum(writers)} connections with REPLIES_WRITERS=${writers}: ` +
          `2 × REPLIES_WRITERS for the replies (batches and replies decided alone), ${OUTCOME_WORKER_CONNECTIONS} for the write-back outcome worker, ` +
          'one each for the outbox relay and the reconciler; raise DATABASE_POOL_SIZE or lower REPLIES_WRITERS'
        );
      },
    },
  })
  override DATABASE_POOL_SIZE = 28;
}
