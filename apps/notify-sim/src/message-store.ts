/**
 * What the sandbox has sent, in memory and bounded (the newest `capacity` kept), indexed by id
 * and by phone so that `/sim/messages?phone=` stays cheap while a demo runs for days.
 */
import type { SmsKind } from '@app/contracts';

export type SmsStatus = 'created' | 'sending' | 'delivered' | 'permanent-failure' | 'temporary-failure' | 'technical-failure';

export interface SentSms {
  /** Arrival order; also what `older_than` paging counts on. */
  seq: number;
  id: string;
  serviceId: string;
  /** The number as the caller wrote it (Notify echoes this back as `phone_number` / `to`). */
  to: string;
  /** The same number in E.164, for matching whatever spelling a query uses. */
  phone: string;
  templateId: string;
  templateVersion: number;
  kind: SmsKind;
  personalisation: Record<string, unknown>;
  reference: string | null;
  body: string;
  createdAt: Date;
  sentAt: Date | null;
  completedAt: Date | null;
  status: SmsStatus;
}

export class MessageStore {
  // A plain array with a moving head: eviction is O(1) and the array is compacted now and then.
  private items: Array<SentSms | undefined> = [];
  private head = 0;
  private seq = 0;
  private readonly byId = new Map<string, SentSms>();
  private readonly byPhone = new Map<string, SentSms[]>();

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.items.length - this.head;
  }

  add(m: Omit<SentSms, 'seq'>): SentSms {
    const stored: SentSms = { ...m, seq: this.seq++ };
    this.items.push(stored);
    this.byId.set(stored.id, stored);
    const list = this.byPhone.get(stored.phone);
    if (list) list.push(stored);
    else this.byPhone.set(stored.phone, [stored]);
    while (this.size > this.capacity) this.evictOldest();
    return stored;
  }

  get(id: string): SentSms | undefined {
    return this.byId.get(id);
  }

  /** Oldest first. */
  forPhone(e164: string): SentSms[] {
    return [...(this.byPhone.get(e164) ?? [])];
  }

  /** The newest `n`, oldest first. */
  latest(n: number): SentSms[] {
    return this.items.slice(Math.max(this.head, this.items.length - n)) as SentSms[];
  }

  /** Newest first, optionally only those older than a given message, up to `limit` matches. */
  newestFirst(filter: (m: SentSms) => boolean, limit: number, olderThan?: SentSms): SentSms[] {
    const out: SentSms[] = [];
    const first = this.items[this.head];
    if (!first) return out;
    let i = olderThan ? this.head + (olderThan.seq - first.seq) - 1 : this.items.length - 1;
    for (i = Math.min(i, this.items.length - 1); i >= this.head && out.length < limit; i--) {
      const m = this.items[i] as SentSms;
      if (filter(m)) out.push(m);
    }
    return out;
  }

  private evictOldest(): void {
    const m = this.items[this.head];
    if (!m) return;
    this.items[this.head] = undefined;
    this.head++;
    this.byId.delete(m.id);
    const list = this.byPhone.get(m.phone);
    // The oldest message overall is the oldest for its phone too.
    list?.shift();
    if (list && list.length === 0) this.byPhone.delete(m.phone);
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
