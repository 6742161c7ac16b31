import { AppError, loadConfig, loadIcsDirectory } from '@app/platform';
import { adapterEndpoint } from './adapter-endpoint';
import { DashboardConfig } from './config';

const ics = loadIcsDirectory();
const config = (env: Record<string, string>) => loadConfig(DashboardConfig, env);

describe('where the dashboard resubmits a refused HL7 message', () => {
  it('uses ADAPTER_URLS and ADAPTER_TOKENS for the trust', () => {
    const c = config({ NODE_ENV: 'production', ADAPTER_URLS: 'RQM=https://rqm-adapter.slotx.svc:3100/,RAS=https://ras', ADAPTER_TOKENS: 'RQM=s3cret,RAS=other' });
    expect(adapterEndpoint(c, ics, 'RQM')).toEqual({ url: 'https://rqm-adapter.slotx.svc:3100', token: 's3cret' });
  });

  it('falls back to the sandbox adapter on this machine outside production', () => {
    const rqm = ics.trust('RQM')!;
    expect(adapterEndpoint(config({}), ics, 'RQM')).toEqual({ url: `http://127.0.0.1:${rqm.httpPort}`, token: 'dev-RQM-token' });
  });

  it('in production never sends the published sandbox token nor tries loopback: it says what to set', () => {
    const noToken = config({ NODE_ENV: 'production', ADAPTER_URLS: 'RQM=https://rqm' });
    expect(() => adapterEndpoint(noToken, ics, 'RQM')).toThrow(/set ADAPTER_TOKENS \(RQM=/);
    const nothing = config({ NODE_ENV: 'production' });
    let error: unknown;
    try {
      adapterEndpoint(nothing, ics, 'RAS');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).message).toMatch(/ADAPTER_URLS \(RAS=https:.*\) and ADAPTER_TOKENS \(RAS=/);
  });

  it('refuses a trust the ICS does not have', () => {
    expect(() => adapterEndpoint(config({}), ics, 'XXX')).toThrow(/No trust XXX/);
  });
});
