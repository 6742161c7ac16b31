import { BaseConfig, EmptyAsUndefined } from '@app/platform';
import { IsIn, IsInt, IsOptional, IsString, Max, Min } from 'class-validator';

export class PasSimConfig extends BaseConfig {
  override SERVICE_NAME = 'pas-sim';
  override PORT = 3200;

  @IsString()
  ADAPTER_HOST = '127.0.0.1';

  /** `RQM=2575,…`: where each trust's adapter listens for MLLP. */
  @IsString()
  ADAPTER_MLLP_PORTS = 'RQM=2575,RAS=2576,R1K=2577,RYJ=2578';

  /** `RQM=3101,…`: each adapter's HTTP port, for PTL pushes. */
  @IsString()
  ADAPTER_HTTP_PORTS = 'RQM=3101,RAS=3102,R1K=3103,RYJ=3104';

  /** `RQM=<token>,…`; sandbox tokens when unset. */
  @IsOptional() @IsString() @EmptyAsUndefined()
  PAS_INBOUND_TOKENS?: string;

  @IsOptional() @IsString() @EmptyAsUndefined()
  ICS_CONFIG_DIR?: string;

  @IsIn(['0', '1'])
  DEMO: '0' | '1' = '1';

  @IsInt() @Min(1) @Max(250)
  DEMO_PATIENTS_PER_TRUST = 200;

  @IsInt() @Min(500) @Max(3_600_000)
  DEMO_CANCEL_EVERY_MS = 15000;

  @IsInt() @Min(0)
  SIM_SEED = 1;
}
