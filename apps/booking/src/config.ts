import { PolicyConfig } from '@app/platform';
import { IsInt, Max, Min } from 'class-validator';

export class BookingConfig extends PolicyConfig {
  override SERVICE_NAME = 'booking';
  override PORT = 3003;

  /**
   * Patients' answers handled at once. In a storm most of them wait on a lock rather than use a
   * core: a slot's simultaneous YES queue on its winner's slot lock (sampled in the acceptance-storm
   * bench: about 6 of 16 claims waiting at any moment). 16 took the replies queue's wait
   * (published → started) from 2–11 s to 0.6–1.4 s (p50) there on two shared cores.
   */
  @IsInt() @Min(1) @Max(64)
  REPLIES_CONCURRENCY = 16;

  /** Room for REPLIES_CONCURRENCY claims, the write-back outcome worker (8), the relay and the reconciler without waiting on each other. */
  override DATABASE_POOL_SIZE = 28;
}
