/**
 * Continues a freed slot's trace in work that arrives without one: a patient's answer comes through
 * Notify's callback or the offer page, minutes or hours after the offer, and carries no trace
 * context. The slot row keeps the `traceparent` it was released under (`slot.trace_context`), so
 * the claim, the write-back order and the confirmation SMS all join the slot's one trace.
 */
import { currentTraceparent, withSpan } from '@app/platform';
import { EntityManager } from 'typeorm';

export async function inSlotTrace<T>(tx: Pick<EntityManager, 'query'>, slotId: string, name: string, fn: () => Promise<T>): Promise<T> {
  // Telemetry off (no active span): no extra query.
  if (!currentTraceparent()) return fn();
  const [row]: Array<{ trace_context: string | null }> = await tx.query(`SELECT trace_context FROM slot WHERE id = $1`, [slotId]);
  if (!row?.trace_context) return fn();
  return withSpan(name, { parent: row.trace_context, attributes: { 'slot.id': slotId } }, () => fn());
}
