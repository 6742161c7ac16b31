import { IcsDirectory } from '@app/platform';
import { Principal } from './auth/access';
import { parseFilters } from './filters';

const ics = new IcsDirectory('Test ICS', 'Europe/London', [{ ods: 'RQM', name: 'RQM', httpPort: 1, mllpPort: 2, sites: [] }], {});
const ops: Principal = { userId: 'u', email: 'e', displayName: 'd', role: 'ics_operations', trustOds: null };
const days = (q: Record<string, string>, now = new Date('2026-07-01T12:00:00Z')) => {
  const f = parseFilters(q, ops, ics, now);
  return { from: f.from.toISOString(), to: f.to.toISOString(), fromText: f.fromText, toText: f.toText };
};

describe('date filters are days of the ICS calendar (Europe/London)', () => {
  it('a BST day runs from 23:00 UTC the day before to 23:00 UTC', () => {
    expect(days({ from: '2026-06-10', to: '2026-06-10' })).toMatchObject({ from: '2026-06-09T23:00:00.000Z', to: '2026-06-10T23:00:00.000Z' });
  });

  it('a GMT day is the UTC day', () => {
    expect(days({ from: '2026-01-15', to: '2026-01-16' })).toMatchObject({ from: '2026-01-15T00:00:00.000Z', to: '2026-01-17T00:00:00.000Z' });
  });

  it('the day the clocks go forward is 23 hours long, the day they go back 25', () => {
    expect(days({ from: '2026-03-29', to: '2026-03-29' })).toMatchObject({ from: '2026-03-29T00:00:00.000Z', to: '2026-03-29T23:00:00.000Z' });
    expect(days({ from: '2026-10-25', to: '2026-10-25' })).toMatchObject({ from: '2026-10-24T23:00:00.000Z', to: '2026-10-26T00:00:00.000Z' });
  });

  it('the default range ends on London\'s today, not UTC\'s', () => {
    // 00:30 BST on 10 June is still 9 June in UTC.
    const f = days({}, new Date('2026-06-09T23:30:00Z'));
    expect(f).toMatchObject({ toText: '2026-06-10', fromText: '2026-05-11', to: '2026-06-10T23:00:00.000Z', from: '2026-05-10T23:00:00.000Z' });
  });
});
