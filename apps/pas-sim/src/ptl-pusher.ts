/** The PAS's PTL export, pushed to its adapter as a WLMDS-shaped CSV snapshot. */
import { Injectable } from '@nestjs/common';
import { sandboxPasInboundToken } from '@app/contracts';
import { parseKeyValueList } from '@app/platform';
import { PasSimConfig } from './config';
import type { DemoPatient } from './demo';

const COLUMNS = [
  'PATIENT_PATHWAY_IDENTIFIER', 'NHS_NUMBER', 'PERSON_BIRTH_DATE', 'ACTIVITY_TREATMENT_FUNCTION_CODE', 'APPOINTMENT_TYPE',
  'REFERRAL_TO_TREATMENT_PERIOD_START_DATE', 'Outpatient_Priority_Code', 'MOBILE_NUMBER', 'POSTCODE', 'PERSON_STATED_GENDER_CODE',
  'Outpatient_Future_Appointment_Date', 'CURRENT_APPOINTMENT_ID', 'OFFER_CONSENT', 'ICS_WIDE_CONSENT', 'ACCEPTABLE_SITES',
];

export function ptlCsv(patients: DemoPatient[]): string {
  const rows = patients.map((p) => [
    p.pathwayId, p.nhsNumber, p.birthDate, p.tfc, p.type, p.rttStart, p.priority, p.mobile, p.postcode, p.sex === 'F' ? '2' : '1',
    p.appointment.start, p.appointment.id, p.offerConsent ? 'Y' : 'N', p.icsWideConsent ? 'Y' : 'N', p.sites,
  ].join(','));
  return [COLUMNS.join(','), ...rows].join('\n') + '\n';
}

@Injectable()
export class PtlPusher {
  private readonly ports: Record<string, string>;
  private readonly tokens: Record<string, string>;

  constructor(private readonly config: PasSimConfig) {
    this.ports = parseKeyValueList(config.ADAPTER_HTTP_PORTS);
    this.tokens = parseKeyValueList(config.PAS_INBOUND_TOKENS);
  }

  async push(ods: string, patients: DemoPatient[]): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`http://${this.config.ADAPTER_HOST}:${this.ports[ods]}/v1/ptl?mode=snapshot`, {
      method: 'POST',
      headers: { 'content-type': 'text/csv', authorization: `Bearer ${this.tokens[ods] ?? sandboxPasInboundToken(ods)}` },
      body: ptlCsv(patients),
      signal: AbortSignal.timeout(120_000),
    });
    const text = await res.text();
    let body: unknown = text;
    try { body = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, body };
  }
}
