import { QueueService } from '@app/platform';
import { DataSource } from 'typeorm';
import { redriveJob } from './redrive';

/**
 * A re-drive orders the job with the priority its caller read with the row it re-drives (an offer
 * text's, kept on `sms_message`), and makes no Redis call inside its transaction: that transaction
 * holds the caller's row locks and a pooled connection, and a Redis call there waits out a Redis
 * fault while holding both. (The int suite apps/notifier/src/sms-sweep-priority.int-spec.ts does
 * the same on real stores.)
 */
function fakes() {
  const inserts: unknown[][] = [];
  /** What happened, in order: each Redis call, and the transaction's opening and end. */
  const events: string[] = [];
  const query = jest.fn(async (sql: string, params: unknown[] = []) => {
    if (sql.startsWith('INSERT INTO outbox')) inserts.push(params);
    return [];
  });
  const redis = (what: string, answer: unknown) => jest.fn(async () => {
    events.push(what);
    return answer;
  });
  const queue = { getJobState: redis('getJobState', 'failed'), getJob: redis('getJob', undefined), remove: redis('remove', 1) };
  const queues = { queue: () => queue } as unknown as QueueService;
  const ds = {
    query,
    transaction: async (fn: (tx: unknown) => unknown) => {
      events.push('BEGIN');
      try {
        return await fn({ query });
      } finally {
        events.push('END');
      }
    },
  } as unknown as DataSource;
  return { ds, queues, inserts, events };
}

it('orders the job again with the priority it is given', async () => {
  const { ds, queues, inserts } = fakes();
  expect(await redriveJob(ds, queues, 'send-sms', { smsId: '00000000-0000-0000-0000-000000000001' }, { priority: 137 })).toBe(true);
  expect(inserts).toHaveLength(1);
  expect(inserts[0][2]).toBe('sms-00000000-0000-0000-0000-000000000001');
  expect(inserts[0][5]).toBe(137);
});

it('orders a job given no priority without one', async () => {
  const { ds, queues, inserts } = fakes();
  expect(await redriveJob(ds, queues, 'send-sms', { smsId: '00000000-0000-0000-0000-000000000002' }, { jobIdSuffix: 'resend-1' })).toBe(true);
  expect(inserts[0][2]).toBe('sms-00000000-0000-0000-0000-000000000002-resend-1');
  expect(inserts[0][5]).toBeNull();
});

it('asks Redis nothing inside its transaction: the finished job is removed before it opens', async () => {
  const { ds, queues, events } = fakes();
  expect(await redriveJob(ds, queues, 'send-sms', { smsId: '00000000-0000-0000-0000-000000000003' }, { priority: 241, stillStuck: async () => true })).toBe(true);
  expect(events).toEqual(['getJobState', 'remove', 'BEGIN', 'END']);
});
