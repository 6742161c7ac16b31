import { DEFAULT_POLICY, MatchingPolicy, assertValidPolicy, parseQuietHours } from '@app/domain';
import { PolicyConfig } from './config';

/** The policy in force, from configuration. (Versioned, editable policy arrives with the dashboard.) */
export function policyFromConfig(c: PolicyConfig): MatchingPolicy {
  return assertValidPolicy({
    ...DEFAULT_POLICY,
    waveSize: c.WAVE_SIZE,
    offerTtlMinutes: c.OFFER_TTL_MINUTES,
    minNoticeHours: c.MIN_NOTICE_HOURS,
    minGainDays: c.MIN_GAIN_DAYS,
    quietHours: parseQuietHours(c.QUIET_HOURS),
    strategy: c.OFFER_STRATEGY,
  });
}
