/**
 * Inter-provider transfers, read by the receiving trust's adapter only: a patient booked into this
 * trust from another trust's waiting list arrives with their pathway (referral, priority and the
 * RTT clock start carried over), so this trust's PTL can take the pathway on. The booking service
 * writes the records when the booking is confirmed (apps/booking writeback-outcomes.worker.ts).
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { TransferListQueryDto, TransferRecord } from '@app/contracts';
import { DataSource } from 'typeorm';

@Injectable()
export class TransfersService {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  /** Oldest first, after `since` (exclusive), so an adapter can page with the last `createdAt` it saw. */
  async forReceivingTrust(receivingOds: string, q: TransferListQueryDto): Promise<TransferRecord[]> {
    const rows = await this.ds.query(
      `SELECT t.id, t.booking_id, t.sending_trust_ods, t.receiving_trust_ods, t.referral_pathway_id, t.tfc, t.appointment_type, t.priority,
              t.rtt_start, t.appointment_start, t.pas_appointment_id, t.created_at, p.nhs_number
         FROM inter_provider_transfer t JOIN patient p ON p.id = t.patient_id
        WHERE t.receiving_trust_ods = $1 AND t.created_at > COALESCE($2::timestamptz, '-infinity')
        ORDER BY t.created_at, t.id LIMIT $3`,
      [receivingOds, q.since ?? null, q.limit ?? 500],
    );
    return rows.map((r: Record<string, any>) => ({
      id: r.id,
      bookingId: r.booking_id,
      sendingTrustOds: r.sending_trust_ods,
      receivingTrustOds: r.receiving_trust_ods,
      referral: { pathwayId: r.referral_pathway_id, tfc: r.tfc, appointmentType: r.appointment_type },
      priority: r.priority,
      rttStart: r.rtt_start,
      appointment: { start: new Date(r.appointment_start).toISOString(), pasAppointmentId: r.pas_appointment_id },
      patient: { nhsNumber: r.nhs_number },
      createdAt: new Date(r.created_at).toISOString(),
    }));
  }
}
