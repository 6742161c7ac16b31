/**
 * The PAS's outbound HL7: an SIU^S15 to the trust's adapter when an appointment is cancelled.
 * Sent in the background with a few retries, as an integration engine would, so a FHIR update
 * never waits on the adapter.
 */
import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { buildSiu, readAck, sendMllp } from '@app/hl7';
import { parseKeyValueList, errorMessage } from '@app/platform';
import { randomUUID } from 'node:crypto';
import { Appointment, clinicOf, patientOf, siteOf } from './appointment-store';
import { PasSimConfig } from './config';

@Injectable()
export class SiuSender implements OnApplicationShutdown {
  private readonly logger = new Logger('siu-sender');
  private readonly ports: Record<string, string>;
  private stopped = false;

  constructor(private readonly config: PasSimConfig) {
    this.ports = parseKeyValueList(config.ADAPTER_MLLP_PORTS);
  }

  onApplicationShutdown(): void {
    this.stopped = true;
  }

  /** Sends the S15 and returns the ACK code, or null when the adapter never answered. */
  async cancelled(ods: string, a: Appointment, attempts = 5): Promise<string | null> {
    const port = Number(this.ports[ods]);
    if (!port) return null;
    const start = new Date(a.start!);
    const minutes = a.minutesDuration ?? (a.end ? Math.max(1, Math.round((Date.parse(a.end) - start.getTime()) / 60000)) : 15);
    const clinic = clinicOf(a) ?? 'UNKNOWN';
    const message = buildSiu({
      event: 'S15', controlId: `PAS${randomUUID().replace(/-/g, '').slice(0, 16)}`, sendingFacility: ods, fillerId: a.id, start, minutes, clinic,
      appointmentType: clinic.endsWith('FUP') ? 'FUP' : 'NEW', siteOds: siteOf(a) ?? '', nhsNumber: patientOf(a),
      eventReason: a.cancelationReason?.coding?.[0]?.code ?? 'PATCAN', status: 'Cancelled', now: new Date(),
    });
    for (let i = 0; i < attempts && !this.stopped; i++) {
      try {
        const ack = await sendMllp(this.config.ADAPTER_HOST, port, message, { timeoutMs: 10_000 });
        return readAck(ack)?.code ?? null;
      } catch (e) {
        this.logger.warn(`S15 to ${ods} not delivered (attempt ${i + 1}): ${errorMessage(e)}`);
        await new Promise((r) => setTimeout(r, 500 * 2 ** i).unref());
      }
    }
    return null;
  }
}
