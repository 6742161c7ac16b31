/**
 * Typed configuration validated at boot (STYLE.md §7). Apps never read `process.env` directly:
 * each declares a class of the variables it needs and gets a validated instance, or the process
 * refuses to start with a message naming every bad variable.
 */
import 'reflect-metadata';
import { plainToInstance, Transform } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, Min, validateSync } from 'class-validator';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

/** Empty strings in the environment mean "not set" for optional values, as in most twelve-factor apps. */
export const EmptyAsUndefined = () => Transform(({ value }) => (value === '' ? undefined : value));

/** TRUST_PROXY's forms (see there): nothing, hops, or addresses / CIDR ranges / proxy-addr's names. */
const TRUST_PROXY_PATTERN = /^\s*(?:\d{1,2}|(?:loopback|linklocal|uniquelocal|[0-9a-fA-F.:]+(?:\/\d{1,3})?)(?:\s*,\s*(?:loopback|linklocal|uniquelocal|[0-9a-fA-F.:]+(?:\/\d{1,3})?))*)?\s*$/;

export class BaseConfig {
  @IsString()
  SERVICE_NAME = 'slot-exchange';

  @IsIn(['development', 'test', 'production'])
  NODE_ENV: 'development' | 'test' | 'production' = 'development';

  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL = 'info';

  @IsInt() @Min(0) @Max(65535)
  PORT = 3000;

  /** Bind address for HTTP and MLLP listeners. */
  @IsString()
  HOST = '0.0.0.0';

  @IsIn(['none', 'console', 'otlp', 'file'])
  OTEL_TRACES_EXPORTER: 'none' | 'console' | 'otlp' | 'file' = 'none';

  @IsOptional() @IsString() @EmptyAsUndefined()
  OTEL_EXPORTER_OTLP_ENDPOINT?: string;

  /** JSON lines of finished spans, with `OTEL_TRACES_EXPORTER=file`. */
  @IsOptional() @IsString() @EmptyAsUndefined()
  OTEL_TRACES_FILE?: string;

  /**
   * What this process runs, so that API pods and queue-worker pods scale apart (HPA on CPU for the
   * API, KEDA on queue depth for workers): `all` (default, one process does both), `api` (HTTP
   * routes and the outbox relay, no queue workers), `worker` (queue workers and the relay; HTTP
   * answers only /health and /metrics).
   */
  @IsIn(['all', 'api', 'worker'])
  PROCESS_ROLE: 'all' | 'api' | 'worker' = 'all';

  /**
   * How long an idle kept-alive HTTP connection stays open (Node's default is 5 s). Callers that
   * keep pools of connections (GOV.UK Notify's callbacks, a load balancer, the adapters) should
   * find theirs still open after a quiet spell rather than open new ones at the start of the next
   * burst, when connecting waits for CPU on both sides; longer than the usual 60 s idle timeout of
   * load balancers, so that the server is never the side that closes a connection a client is
   * about to reuse. Node announces it to clients (`Keep-Alive: timeout=…`).
   */
  @IsInt() @Min(1000) @Max(600_000)
  HTTP_KEEPALIVE_TIMEOUT_MS = 65_000;

  /**
   * Which proxies in front of this process to believe about the caller's address
   * (X-Forwarded-For), as Express's `trust proxy`: empty (default) believes none; a number, that
   * many hops (1 behind one ingress controller); or a comma list of addresses, CIDR ranges and
   * `loopback` / `linklocal` / `uniquelocal`. Without it every request behind an ingress comes
   * from the ingress's own address (the dashboard's audit trail records that). `true` (believe
   * anyone, so anyone can name their own address) is refused.
   */
  @Matches(TRUST_PROXY_PATTERN, { message: 'TRUST_PROXY: empty, a number of hops, or a comma list of addresses, CIDR ranges, loopback, linklocal, uniquelocal' })
  TRUST_PROXY = '';
}

/** Express's `trust proxy` value for a validated TRUST_PROXY. */
export function trustProxySetting(value: string): false | number | string[] {
  const v = value.trim();
  if (v === '') return false;
  if (/^\d+$/.test(v)) return Number(v);
  return v.split(',').map((x) => x.trim());
}

export class DataConfig extends BaseConfig {
  @IsString()
  DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/slot_exchange';

  @IsString()
  REDIS_URL = 'redis://127.0.0.1:6379';

  /** Pool size per process; small because every app runs beside the others on one machine in the demo. */
  @IsInt() @Min(1) @Max(200)
  DATABASE_POOL_SIZE = 10;
}

/**
 * Build and validate a config object from the environment. Numbers and booleans arrive as
 * strings, so implicit conversion is on; defaults are the field initialisers.
 */
export function loadConfig<T extends object>(cls: new () => T, env: NodeJS.ProcessEnv = process.env): T {
  const defaults = new cls() as Record<string, unknown>;
  const plain: Record<string, unknown> = {};
  for (const key of Object.keys(defaults)) {
    const raw = env[key];
    if (raw !== undefined) plain[key] = raw;
  }
  // Optional fields without an initialiser are not enumerable on `defaults`: pick them up too.
  for (const [key, value] of Object.entries(env)) {
    if (!(key in plain) && value !== undefined && isDeclared(cls, key)) plain[key] = value;
  }
  // Environment values are strings: convert by the type of each field's default, so `PORT=3000`
  // becomes a number and `FLAG=false` a boolean; a value that does not convert is left as the
  // string and then named by validation.
  for (const [key, raw] of Object.entries(plain)) {
    const d = defaults[key];
    if (typeof raw !== 'string') continue;
    if (typeof d === 'number' && raw.trim() !== '' && !Number.isNaN(Number(raw))) plain[key] = Number(raw);
    if (typeof d === 'boolean' && /^(true|false|1|0|yes|no)$/i.test(raw.trim())) plain[key] = /^(true|1|yes)$/i.test(raw.trim());
  }
  const instance = plainToInstance(cls, { ...defaults, ...plain }, { exposeDefaultValues: true });
  const errors = validateSync(instance as object, { whitelist: false });
  if (errors.length > 0) {
    throw new ConfigError(
      errors.map((e) => `${e.property}=${shownValue(e.property, (plain as Record<string, unknown>)[e.property] ?? e.value)}: ${Object.values(e.constraints ?? {}).join('; ')}`),
    );
  }
  return instance;
}

/**
 * The refused value, quoted so the operator sees what was wrong, except a secret's: the message is
 * printed to the boot log (a too-short DASHBOARD_ADMIN_PASSWORD must not end up there).
 */
const SECRET_NAME = /TOKEN|SECRET|PASSWORD|API_KEY/;
function shownValue(name: string, value: unknown): string {
  return SECRET_NAME.test(name) && value !== undefined ? '(hidden)' : JSON.stringify(value);
}

/** Whether `loadConfig(cls)` reads `key` from the environment: a field with a default, or a declared optional one. */
export function readsVariable(cls: new () => object, key: string): boolean {
  return Object.keys(new cls()).includes(key) || isDeclared(cls, key);
}

function isDeclared(cls: new () => object, key: string): boolean {
  // class-validator keeps per-class metadata; any decorated property counts as declared.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { getMetadataStorage } = require('class-validator') as typeof import('class-validator');
  return getMetadataStorage()
    .getTargetValidationMetadatas(cls, '', true, false)
    .some((m) => m.propertyName === key);
}

/** Parses `A=1,B=2` lists used for per-trust settings in one variable. */
export function parseKeyValueList(s: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (s ?? '').split(/[,;]/)) {
    const [k, ...v] = part.split('=');
    if (k?.trim() && v.length) out[k.trim()] = v.join('=').trim();
  }
  return out;
}

/**
 * The matching policy's defaults from the environment (CONTRACT.md "Configuration the tests rely
 * on"). Used by every process that applies a rule: the exchange (matching), booking (notice at
 * acceptance) and the notifier (quiet hours).
 */
export class PolicyConfig extends DataConfig {
  @IsInt() @Min(0) @Max(24 * 14)
  MIN_NOTICE_HOURS = 24;

  @IsInt() @Min(1) @Max(50)
  WAVE_SIZE = 3;

  @IsInt() @Min(1) @Max(7 * 24 * 60)
  OFFER_TTL_MINUTES = 120;

  /** `HH:MM-HH:MM` Europe/London; empty for none. */
  @IsString()
  QUIET_HOURS = '20:00-08:00';

  @IsInt() @Min(0) @Max(365)
  MIN_GAIN_DAYS = 7;

  @IsIn(['broadcast', 'sequential'])
  OFFER_STRATEGY: 'broadcast' | 'sequential' = 'broadcast';

  @IsOptional() @IsString() @EmptyAsUndefined()
  ICS_CONFIG_DIR?: string;
}
