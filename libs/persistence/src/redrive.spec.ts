import { QueueService } from '@app/platform';
import { DataSource } from 'typeorm';
import { redriveJob } from './redrive';

/**
 * A re-drive orders the job with the priority its first job had: read from the job BullMQ still
 * holds (failed for good), else from the outbox row that ordered it (Redis lost the job).
 * (The int suite apps/notifier/src/sms-sweep-priority.int-spec.ts does the same on real stores.)
 */
function fakes(held: { priority: number; opts: { priority?: number } } | undefined, outboxPriority: number | null) {
  const inserts: unknown[][] = [];
  const query = jest.fn(async (sql: string, params: unknown[] = []) => {
    if (sql.startsWith('INSERT INTO outbox')) inserts.push(params);
    if (sql.includes('SELECT priority FROM outbox')) return outboxPriority === null ? [] : [{ priority: outboxPriority }];
    return [];
  });
  const queue = { getJobState: jest.fn(async () => (held ? 'failed' : 'unknown')), getJob: jest.fn(async () => held), remove: jest.fn(async () => 1) };
  const queues = { queue: () => queue } as unknown as QueueService;
  const ds = { query, transaction: (fn: (tx: unknown) => unknown) => fn({ query }) } as unknown as DataSource;
  return { ds, queues, inserts };
}

it('a job that failed for good is ordered again with the priority BullMQ holds for it', async () => {
  const { ds, queues, inserts } = fakes({ priority: 137, opts: { priority: 137 } }, null);
  expect(await redriveJob(ds, queues, 'send-sms', { smsId: '00000000-0000-0000-0000-000000000001' })).toBe(true);
  expect(inserts).toHaveLength(1);
  expect(inserts[0][5]).toBe(137);
});

it('a job Redis lost is ordered again with the priority of its outbox row', async () => {
  const { ds, queues, inserts } = fakes(undefined, 241);
  expect(await redriveJob(ds, queues, 'send-sms', { smsId: '00000000-0000-0000-0000-000000000002' })).toBe(true);
  expect(inserts[0][5]).toBe(241);
});

it('a job ordered without a priority is ordered again without one', async () => {
  const { ds, queues, inserts } = fakes({ priority: 0, opts: {} }, null);
  expect(await redriveJob(ds, queues, 'send-sms', { smsId: '00000000-0000-0000-0000-000000000003' })).toBe(true);
  expect(inserts[0][5]).toBeNull();
});
