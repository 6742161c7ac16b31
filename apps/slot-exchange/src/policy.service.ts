/**
 * The matching policy of this deployment: built from the validated configuration, recorded as a
 * version in `matching_policy` at start-up (a new version only when the configuration changed),
 * and read back by the matching worker for every slot, so that an administrator's change on the
 * dashboard takes effect for the next wave without a restart.
 */
import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { MatchingPolicy, TfcPolicyOverride, assertValidPolicy } from '@app/domain';
import { recordPolicy } from '@app/persistence';
import { ConfigError, policyFromConfig } from '@app/platform';
import { DataSource } from 'typeorm';
import { ExchangeConfig } from './config';
import { POLICY } from './tokens';

/** The configured policy, with the exchange's own settings; a bad override stops the process at boot. */
export function exchangePolicy(config: ExchangeConfig): MatchingPolicy {
  let overrides: Record<string, TfcPolicyOverride> = {};
  if (config.TFC_POLICY_OVERRIDES) {
    try {
      overrides = JSON.parse(config.TFC_POLICY_OVERRIDES) as Record<string, TfcPolicyOverride>;
    } catch {
      throw new ConfigError(['TFC_POLICY_OVERRIDES: not valid JSON (expected {"330":{"waveSize":5}})']);
    }
    if (!overrides || typeof overrides !== 'object' || Array.isArray(overrides)) {
      throw new ConfigError(['TFC_POLICY_OVERRIDES: expected a JSON object keyed by TFC']);
    }
  }
  try {
    return assertValidPolicy({ ...policyFromConfig(config), minOfferTtlMinutes: config.MIN_OFFER_TTL_MINUTES, tfcOverrides: overrides });
  } catch (e) {
    throw new ConfigError([(e as Error).message]);
  }
}

@Injectable()
export class PolicyService implements OnModuleInit {
  private readonly logger = new Logger('policy');

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(POLICY) private readonly configured: MatchingPolicy,
  ) {}

  async onModuleInit(): Promise<void> {
    const { version, created } = await this.ds.transaction((tx) =>
      recordPolicy(tx, this.configured, { source: 'config', changedBy: 'slot-exchange start-up', reason: 'configuration at start-up' }),
    );
    this.logger.log(created ? `matching policy version ${version} recorded from configuration` : `matching policy version ${version} in force`);
  }
}
