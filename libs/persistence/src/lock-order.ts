/**
 * The one order in which a transaction takes the row locks of a booking's rows:
 *
 *   slot → booking → write-back
 *
 * the claim's order (`claimSlots`: the slot is locked, then the booking and its `book` write-back
 * are made). A path that needs a later row's lock and then an earlier one's would deadlock with
 * one taking them the other way round: Postgres aborts one of the two (40P01) and its work is
 * retried, or, for an adapter's forwarded SIU, refused and sent again. So:
 * - a path that locks a booking and may then change its slot (failing a booking:
 *   `failBooking`) locks the slot first (`lockSlotOfBooking`, `lockSlotOfWriteback`);
 * - a path that locks a write-back and may then change its booking locks the booking first;
 * - a path that takes only one of these locks, or only later ones, needs nothing more (the
 *   adapter's outcome report locks the write-back alone; the exchange's S17 handler locks the
 *   slot, then changes the booking; the reconciler's re-order of a write-back locks the booking
 *   alone).
 * Each lock is its own statement: a statement that locks rows of several tables (`FOR UPDATE OF
 * s, b`) takes them in whatever order its plan reads them.
 * `test/integration/lock-order.int-spec.ts` races these paths.
 */
import { EntityManager } from 'typeorm';

type Tx = Pick<EntityManager, 'query'>;

/** Locks the slot of `bookingId` (the first lock of the order); false when there is no such booking. */
export async function lockSlotOfBooking(tx: Tx, bookingId: string): Promise<boolean> {
  const locked = await tx.query(`SELECT s.id FROM booking b JOIN slot s ON s.id = b.slot_id WHERE b.id = $1 FOR UPDATE OF s`, [bookingId]);
  return locked.length > 0;
}

/** Locks the slot of the booking `writebackId` is for; false when there is no such write-back. */
export async function lockSlotOfWriteback(tx: Tx, writebackId: string): Promise<boolean> {
  const locked = await tx.query(
    `SELECT s.id FROM writeback w JOIN booking b ON b.id = w.booking_id JOIN slot s ON s.id = b.slot_id WHERE w.id = $1 FOR UPDATE OF s`,
    [writebackId],
  );
  return locked.length > 0;
}
