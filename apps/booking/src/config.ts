import { PolicyConfig } from '@app/platform';
import { IsInt, Max, Min } from 'class-validator';

export class BookingConfig extends PolicyConfig {
  override SERVICE_NAME = 'booking';
  override PORT = 3003;

  /**
   * Patients' answers handled at once. On two shared cores the storm is CPU-bound (mostly
   * Postgres): 16 was no faster than 8 in the acceptance-storm bench, only longer per claim. Raise it
   * with the cores Postgres has.
   */
  @IsInt() @Min(1) @Max(64)
  REPLIES_CONCURRENCY = 8;

  /** Room for REPLIES_CONCURRENCY claims, the write-back outcome worker (8), the relay and the reconciler without waiting on each other. */
  override DATABASE_POOL_SIZE = 20;
}
