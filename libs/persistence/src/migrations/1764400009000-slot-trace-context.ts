import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `slot.trace_context`: the W3C `traceparent` the slot was released under. A patient answers an
 * offer minutes or hours later through a channel that carries no trace (Notify's callback, the
 * offer page); the booking continues this trace, so one freed slot stays one trace from the S15 to
 * the PAS write-back and the confirmation SMS. An id pair, never personal data; null when tracing
 * was off.
 */
export class SlotTraceContext1764400009000 implements MigrationInterface {
  name = 'SlotTraceContext1764400009000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE slot ADD COLUMN trace_context text CHECK (trace_context IS NULL OR length(trace_context) <= 128)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE slot DROP COLUMN IF EXISTS trace_context`);
  }
}
