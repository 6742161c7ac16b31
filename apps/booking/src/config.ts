import { PolicyConfig } from '@app/platform';
import { IsInt, Max, Min } from 'class-validator';

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
  override DATABASE_POOL_SIZE = 28;
}
