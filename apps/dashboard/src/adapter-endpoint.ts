/** Where the dashboard reaches a trust's adapter (to resubmit a refused HL7 message), and with which token. */
import { sandboxPasInboundToken } from '@app/contracts';
import { AppError, IcsDirectory, parseKeyValueList } from '@app/platform';
import { DashboardConfig } from './config';

/**
 * ADAPTER_URLS / ADAPTER_TOKENS for the trust; outside production, the sandbox's (the adapter's
 * port from ics.json on this machine, its published `dev-<ODS>-token`). In production neither
 * fallback is true — the adapter is never on the dashboard's loopback and the sandbox token is
 * public — so a missing setting is answered with what to set, not a connection refused or a 401.
 */
export function adapterEndpoint(config: DashboardConfig, ics: IcsDirectory, ods: string): { url: string; token: string } {
  const url = parseKeyValueList(config.ADAPTER_URLS)[ods];
  const token = parseKeyValueList(config.ADAPTER_TOKENS)[ods];
  if (config.NODE_ENV === 'production') {
    const missing = [!url && `ADAPTER_URLS (${ods}=https://…)`, !token && `ADAPTER_TOKENS (${ods}=<its PAS_INBOUND_TOKEN>)`].filter(Boolean);
    if (missing.length > 0) throw new AppError('adapter_not_configured', `The dashboard has no way to reach ${ods}'s adapter: set ${missing.join(' and ')}`, 503);
  }
  const trust = ics.trust(ods);
  if (!url && !trust) throw new AppError('unknown_trust', `No trust ${ods} in the ICS configuration`, 500);
  return { url: (url ?? `http://127.0.0.1:${trust!.httpPort}`).replace(/\/$/, ''), token: token ?? sandboxPasInboundToken(ods) };
}
