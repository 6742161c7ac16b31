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
});
