import { BOOKING_IDENTIFIER_SYSTEM } from '@app/contracts';
import { audit, AuditInput } from './demo-audit';

const booking = (over: Partial<AuditInput['bookings'][number]> = {}): AuditInput['bookings'][number] => ({
  id: 'b1', slot_id: 's1', status: 'confirmed', owning_trust_ods: 'RQM', home_trust_ods: 'RYJ',
  previous_appointment_id: 'old1', needs_attention: null, ...over,
});
const pasAppt = (id: string, status: string, bookingId?: string) => ({
  id, status, ...(bookingId ? { identifier: [{ system: BOOKING_IDENTIFIER_SYSTEM, value: bookingId }] } : {}),
});

describe('demo audit: exchange records against the sandbox PASs', () => {
  it('agrees when each confirmed booking is one booked PAS appointment and the old one is cancelled', () => {
    const r = audit({ bookings: [booking()], pas: { RQM: [pasAppt('n1', 'booked', 'b1')], RYJ: [pasAppt('old1', 'cancelled')] } });
    expect(r.problems).toEqual([]);
    expect(r.bookings).toEqual({ confirmed: 1 });
    expect(r.pasAppointmentsWithBookingId).toBe(1);
  });

  it('finds a slot booked twice', () => {
    const r = audit({
      bookings: [booking(), booking({ id: 'b2', status: 'pending' }), booking({ id: 'b3', status: 'failed' })],
      pas: { RQM: [pasAppt('n1', 'booked', 'b1')], RYJ: [pasAppt('old1', 'cancelled')] },
    });
    expect(r.problems).toEqual(['slot s1 has 2 live bookings']);
  });

  it('finds a confirmed booking missing from the PAS, and one written twice', () => {
    expect(audit({ bookings: [booking()], pas: { RQM: [], RYJ: [pasAppt('old1', 'cancelled')] } }).problems)
      .toEqual(["confirmed booking b1 has 0 booked appointments in RQM's PAS"]);
    expect(audit({ bookings: [booking()], pas: { RQM: [pasAppt('n1', 'booked', 'b1'), pasAppt('n2', 'booked', 'b1')], RYJ: [pasAppt('old1', 'cancelled')] } }).problems)
      .toEqual(['booking b1 has 2 PAS appointments', "confirmed booking b1 has 2 booked appointments in RQM's PAS"]);
  });

  it('finds a PAS appointment for a booking the exchange never made', () => {
    expect(audit({ bookings: [], pas: { RAS: [pasAppt('x', 'booked', 'ghost')] } }).problems)
      .toEqual(['a PAS appointment at RAS carries booking ghost, which the exchange does not know']);
  });

  it('finds an old appointment left booked, unless it is flagged for a person', () => {
    const pas = { RQM: [pasAppt('n1', 'booked', 'b1')], RYJ: [pasAppt('old1', 'booked')] };
    expect(audit({ bookings: [booking()], pas }).problems).toEqual(['confirmed booking b1: the old appointment at RYJ is still booked']);
    expect(audit({ bookings: [booking({ needs_attention: 'double-held' })], pas }).problems).toEqual([]);
  });
});
