import { BOOKING_IDENTIFIER_SYSTEM, sandboxExchangeToken, sandboxPasInboundToken } from '@app/contracts';
import { DataConfig, EmptyAsUndefined, defaultConfigDir } from '@app/platform';
import { IsInt, IsNumber, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { join } from 'node:path';

export class AdapterConfig extends DataConfig {
  override SERVICE_NAME = 'trust-adapter';

  /** The trust this adapter serves, e.g. RQM. */
  @Matches(/^[A-Z0-9]{3}$/, { message: 'TRUST_ODS must be a 3-character trust ODS code such as RQM' })
  TRUST_ODS = '';

  override PORT = 3101;

  @IsInt() @Min(0) @Max(65535)
  MLLP_PORT = 2575;

  /** Largest HL7 message accepted over MLLP or HTTP; anything larger is refused with AR. */
  @IsInt() @Min(1024) @Max(64 * 1024 * 1024)
  MLLP_MAX_MESSAGE_BYTES = 1024 * 1024;

  /** MLLP connections open at once; one more is closed as it is accepted (each may hold a frame of MLLP_MAX_MESSAGE_BYTES). */
  @IsInt() @Min(1) @Max(10_000)
  MLLP_MAX_CONNECTIONS = 100;

  /** How long one MLLP frame may take from its start to its end block; a slower sender's connection is closed. */
  @IsInt() @Min(1000) @Max(3_600_000)
  MLLP_FRAME_TIMEOUT_MS = 60_000;

  @IsOptional() @IsString() @EmptyAsUndefined()
  PAS_INBOUND_TOKEN?: string;

  /** Empty: this trust's base in pas-sim, filled by `resolve()` (a fixed default would send every trust's write-backs to one PAS). */
  @IsString()
  PAS_FHIR_BASE_URL = '';

  @IsInt() @Min(100) @Max(120000)
  PAS_TIMEOUT_MS = 10000;

  /**
   * How long a write-back keeps being retried while the PAS is unreachable, times out or answers
   * 5xx, counted from when it was ordered. A PAS restart or failover takes minutes, far longer than
   * the queues' default retries (about a minute): giving up then would fail, for good, every
   * booking accepted in that window. Past this the PAS is asked once more whether it holds the
   * appointment, and only then is the failure reported as permanent. Fractions allowed (tests).
   */
  @IsNumber() @Min(0.05) @Max(24 * 60)
  PAS_WRITEBACK_GIVE_UP_MINUTES = 30;

  @IsString()
  EXCHANGE_URL = 'http://127.0.0.1:3000';

  @IsOptional() @IsString() @EmptyAsUndefined()
  EXCHANGE_TOKEN?: string;

  @IsOptional() @IsString() @EmptyAsUndefined()
  CLINIC_MAP_FILE?: string;

  @IsOptional() @IsString() @EmptyAsUndefined()
  ICS_CONFIG_DIR?: string;

  @IsString()
  BOOKING_IDENTIFIER_SYSTEM = BOOKING_IDENTIFIER_SYSTEM;

  /** Days the raw HL7 archive keeps a message (an accepted one only once it has been forwarded). */
  @IsInt() @Min(1) @Max(3650)
  HL7_ARCHIVE_RETENTION_DAYS = 90;

  /**
   * A snapshot in which more than this percentage of the data rows is rejected closes nothing (and
   * says so in its answer and on its import record). Why: the rejected rows whose pathway id can
   * be read keep their pathways open, but a row whose PATIENT_PATHWAY_IDENTIFIER cannot be read
   * protects nothing, and a file with most rows rejected is likely an extract whose format changed
   * (dates in another format, shifted columns), not the trust's list with a few bad cells. Closing
   * from it would take patients off the list wholesale; re-sending a fixed file is cheap. 100 turns
   * the safeguard off; 0 closes nothing whenever any row is rejected.
   */
  @IsInt() @Min(0) @Max(100)
  PTL_SNAPSHOT_MAX_REJECTED_PERCENT = 10;

  /** Fills the per-trust defaults (sandbox tokens, mapping file), refusing sandbox secrets in production. */
  resolve(): this {
    if (this.NODE_ENV === 'production' && (!this.PAS_INBOUND_TOKEN || !this.EXCHANGE_TOKEN)) {
      throw new Error('PAS_INBOUND_TOKEN and EXCHANGE_TOKEN must be set in production');
    }
    this.PAS_INBOUND_TOKEN ??= sandboxPasInboundToken(this.TRUST_ODS);
    this.EXCHANGE_TOKEN ??= sandboxExchangeToken(this.TRUST_ODS);
    this.PAS_FHIR_BASE_URL ||= `http://127.0.0.1:3200/${this.TRUST_ODS}/fhir`;
    this.CLINIC_MAP_FILE ??= join(this.ICS_CONFIG_DIR ?? defaultConfigDir(), 'clinics', `${this.TRUST_ODS}.json`);
    if (this.SERVICE_NAME === 'trust-adapter') this.SERVICE_NAME = `trust-adapter-${this.TRUST_ODS}`;
    return this;
  }
}
