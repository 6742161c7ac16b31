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

/**
 * `inSlotTrace` for work done for several slots at once (a batch of claims in one statement): a
 * span named `name` in each slot's own trace, open while `fn` runs; `fn` gets the traceparent of
 * each key's span, for the jobs it writes. With telemetry off, or no slot trace, an empty map.
 */
export async function inSlotTraces<T>(name: string, slots: Array<{ key: string; slotId: string; traceContext: string | null }>, fn: (traceparents: Map<string, string>) => Promise<T>): Promise<T> {
  const traced = currentTraceparent() ? slots.filter((s) => s.traceContext) : [];
  const traceparents = new Map<string, string>();
  if (traced.length === 0) return fn(traceparents);
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const spans: Array<Promise<unknown>> = [];
  await Promise.all(traced.map((s) => new Promise<void>((opened) => {
    spans.push(withSpan(name, { parent: s.traceContext!, attributes: { 'slot.id': s.slotId } }, async () => {
      const tp = currentTraceparent();
      if (tp) traceparents.set(s.key, tp);
      opened();
      await released;
    }));
  })));
  try {
    return await fn(traceparents);
  } finally {
    release();
    await Promise.all(spans);
  }
}
