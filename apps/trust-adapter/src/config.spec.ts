import { loadConfig } from '@app/platform';
import { AdapterConfig } from './config';

describe('AdapterConfig', () => {
  it("defaults the PAS FHIR base to this trust's sandbox PAS, not another trust's", () => {
    expect(loadConfig(AdapterConfig, { TRUST_ODS: 'RAS' }).resolve().PAS_FHIR_BASE_URL).toBe('http://127.0.0.1:3200/RAS/fhir');
    expect(loadConfig(AdapterConfig, { TRUST_ODS: 'RYJ', PAS_FHIR_BASE_URL: '' }).resolve().PAS_FHIR_BASE_URL).toBe('http://127.0.0.1:3200/RYJ/fhir');
  });

  it('keeps a PAS FHIR base that is set', () => {
    expect(loadConfig(AdapterConfig, { TRUST_ODS: 'RAS', PAS_FHIR_BASE_URL: 'https://pas.example/fhir' }).resolve().PAS_FHIR_BASE_URL).toBe('https://pas.example/fhir');
  });

  it('gives write-backs 30 minutes by default, accepts a fraction of a minute (tests), and refuses none or a day and more', () => {
    expect(loadConfig(AdapterConfig, { TRUST_ODS: 'RAS' }).PAS_WRITEBACK_GIVE_UP_MINUTES).toBe(30);
    expect(loadConfig(AdapterConfig, { TRUST_ODS: 'RAS', PAS_WRITEBACK_GIVE_UP_MINUTES: '0.25' }).PAS_WRITEBACK_GIVE_UP_MINUTES).toBe(0.25);
    for (const bad of ['0', '-1', '1441', 'soon']) {
      expect(() => loadConfig(AdapterConfig, { TRUST_ODS: 'RAS', PAS_WRITEBACK_GIVE_UP_MINUTES: bad })).toThrow(/PAS_WRITEBACK_GIVE_UP_MINUTES/);
    }
  });

  it('caps MLLP connections and the time a frame may take, refusing values out of range', () => {
    const config = loadConfig(AdapterConfig, { TRUST_ODS: 'RAS' });
    expect([config.MLLP_MAX_CONNECTIONS, config.MLLP_FRAME_TIMEOUT_MS]).toEqual([100, 60_000]);
    expect(loadConfig(AdapterConfig, { TRUST_ODS: 'RAS', MLLP_MAX_CONNECTIONS: '8', MLLP_FRAME_TIMEOUT_MS: '5000' })).toMatchObject({ MLLP_MAX_CONNECTIONS: 8, MLLP_FRAME_TIMEOUT_MS: 5000 });
    for (const bad of ['0', '-1', '10001', 'many']) expect(() => loadConfig(AdapterConfig, { TRUST_ODS: 'RAS', MLLP_MAX_CONNECTIONS: bad })).toThrow(/MLLP_MAX_CONNECTIONS/);
    for (const bad of ['999', '3600001', 'soon']) expect(() => loadConfig(AdapterConfig, { TRUST_ODS: 'RAS', MLLP_FRAME_TIMEOUT_MS: bad })).toThrow(/MLLP_FRAME_TIMEOUT_MS/);
  });
});
