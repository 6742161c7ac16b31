/**
 * Inter-provider transfers, read by the receiving trust's adapter only: a patient booked into this
 * trust from another trust's waiting list arrives with their pathway (referral, priority and the
 * RTT clock start carried over), so this trust's PTL can take the pathway on. The booking service
 * writes the records when the booking is confirmed (apps/booking writeback-outcomes.worker.ts).
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { TransferListQueryDto, TransferRecord } from '@app/contracts';
import { AppError } from '@app/platform';
import { DataSource } from 'typeorm';

@Injectable()
export class TransfersService {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  /**
   * The next page of this trust's transfers: after `after` (a record's `cursor`) in delivery order,
   * or after the instant `since` in `createdAt` order; from the start when neither is given.
   *
   * Only transfers whose writing transaction is older than every transaction still running are
   * returned (see migration 1764500600000): one still in flight could otherwise commit later with
   * a place before records already handed out, and a poller that moved past it would never see
   * it. A long-running transaction elsewhere delays delivery; it never loses a record.
   */
  async forReceivingTrust(receivingOds: string, q: TransferListQueryDto): Promise<TransferRecord[]> {
    if (q.after !== undefined && q.since !== undefined) throw new AppError('bad_query', 'Page with after or with since, not both');
    const [tx, seq] = q.after?.split('.') ?? ['0', '0'];
    const byTime = q.since !== undefined;
    const rows = await this.ds.query(
      `SELECT t.id, t.booking_id, t.sending_trust_ods, t.receiving_trust_ods, t.referral_pathway_id, t.tfc, t.appointment_type, t.priority,
              t.rtt_start, t.appointment_start, t.pas_appointment_id, p.nhs_number,
              to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at, t.tx_id || '.' || t.seq AS cursor
         FROM inter_provider_transfer t JOIN patient p ON p.id = t.patient_id
        WHERE t.receiving_trust_ods = $1 AND t.tx_id < pg_snapshot_xmin(pg_current_snapshot())
          AND ${byTime ? `t.created_at > $2::timestamptz` : `(t.tx_id, t.seq) > ($2::xid8, $3::bigint)`}
        ORDER BY ${byTime ? 't.created_at, t.tx_id, t.seq' : 't.tx_id, t.seq'} LIMIT $${byTime ? 3 : 4}`,
      byTime ? [receivingOds, q.since, q.limit ?? 500] : [receivingOds, tx, seq, q.limit ?? 500],
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
      createdAt: r.created_at,
      cursor: r.cursor,
    }));
  }
}
