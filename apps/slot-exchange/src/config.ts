import { EmptyAsUndefined, PolicyConfig } from '@app/platform';
import { IsInt, IsOptional, IsString, Max, Min } from 'class-validator';

export class ExchangeConfig extends PolicyConfig {
  override SERVICE_NAME = 'slot-exchange';
  override PORT = 3000;

  /** `RQM=<token>,RAS=<token>,…`: each adapter's credential, which acts on its own trust only. Sandbox tokens when unset outside production. */
  @IsOptional() @IsString() @EmptyAsUndefined()
  EXCHANGE_TOKENS?: string;

  /** Where patients open offer links (the notifier's public address). */
  @IsString()
  OFFER_PAGE_BASE_URL = 'http://127.0.0.1:3002';

  /** The shortest a wave's time-to-live is cut to as the cut-off nears. */
  @IsInt() @Min(1) @Max(7 * 24 * 60)
  MIN_OFFER_TTL_MINUTES = 15;

  /**
   * How often a worker process's matching sweep (`matching-sweep.ts`) looks for waves past their
   * expiry, slots past their cut-off and slots left with no next look, whose job failed for good
   * or was lost, and orders that job again.
   */
  @IsInt() @Min(1_000) @Max(3_600_000)
  MATCHING_SWEEP_MS = 60_000;

  /**
   * How long past its time the matching sweep leaves work to its own job (a wave's expiry, a
   * slot's cut-off close, a slot's next match), and what `matching_overdue` counts beyond: a job
   * runs at its time and retries for about a minute, and the relay publishes a new row within
   * seconds. Shorter only re-checks BullMQ sooner (a job still waiting or retrying is never ordered
   * twice, whichever of its ids it runs under: a close-slot for a moved cut-off has its own); a
   * fault test shortens it to show recovery by the sweep itself. At most an hour: longer
   * leaves a wave's patients held that long past their offer's end.
   */
  @IsInt() @Min(1_000) @Max(3_600_000)
  MATCHING_SWEEP_GRACE_MS = 120_000;

  /**
   * Per-specialty policy, JSON: `{"330":{"waveSize":5},"130":{"strategy":"sequential"}}`. Keys are
   * TFCs; values may set waveSize, offerTtlMinutes, minOfferTtlMinutes, minGainDays, strategy.
   * Checked at boot with the rest of the policy.
   */
  @IsOptional() @IsString() @EmptyAsUndefined()
  TFC_POLICY_OVERRIDES?: string;

  /**
   * CSV of postcode (or outward code) centroids, `postcode,latitude,longitude`, e.g. cut from the
   * ONS Postcode Directory. Without it travel distances are unknown and other trusts' sites are
   * offered only to patients who named them (or said ANY).
   */
  @IsOptional() @IsString() @EmptyAsUndefined()
  POSTCODE_CENTROIDS_FILE?: string;

  /**
   * A trust runs one PTL snapshot at a time; another one started meanwhile is refused (409). A
   * running snapshot not heard from (no batch, no completion) for this long is taken as abandoned
   * (its adapter died mid-upload) when the trust starts the next one, and can no longer complete.
   */
  @IsInt() @Min(1) @Max(24 * 60)
  PTL_SNAPSHOT_IDLE_MINUTES = 10;
}
