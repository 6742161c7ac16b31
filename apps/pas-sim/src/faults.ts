/** Faults a PAS can be told to have, for tests of the write-back path (slow, failing, lost answers). */
import { Injectable } from '@nestjs/common';

export interface Faults {
  failNext: number;
  delayMs: number;
  dropAfterCommitNext: number;
}

@Injectable()
export class FaultBox {
  private readonly faults = new Map<string, Faults>();

  get(ods: string): Faults {
    let f = this.faults.get(ods);
    if (!f) this.faults.set(ods, (f = { failNext: 0, delayMs: 0, dropAfterCommitNext: 0 }));
    return f;
  }

  set(ods: string, f: Partial<Faults>): Faults {
    const cur = this.get(ods);
    Object.assign(cur, {
      failNext: Math.max(0, Number(f.failNext ?? cur.failNext) || 0),
      delayMs: Math.max(0, Number(f.delayMs ?? cur.delayMs) || 0),
      dropAfterCommitNext: Math.max(0, Number(f.dropAfterCommitNext ?? cur.dropAfterCommitNext) || 0),
    });
    return cur;
  }

  clear(ods: string): void {
    this.faults.delete(ods);
  }
}
