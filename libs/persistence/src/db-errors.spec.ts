import { QueryFailedError } from 'typeorm';
import { isDatabaseUnavailable } from './db-errors';

const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('isDatabaseUnavailable', () => {
  it.each([
    ['a backend terminated (failover, restart, pg_terminate_backend)', pgError('57P01', 'terminating connection due to administrator command')],
    ['a database starting up', pgError('57P03', 'the database system is starting up')],
    ['a connection failure', pgError('08006')],
    ['too many connections', pgError('53300')],
    ['a read-only primary after a failover', pgError('25006', 'cannot execute UPDATE in a read-only transaction')],
    ['a deadlock', pgError('40P01')],
    ['a refused connection', pgError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432')],
    ['a connection cut mid-query', new Error('Connection terminated unexpectedly')],
    ['a pool that could not connect in time', new Error('timeout exceeded when trying to connect')],
    ['a refused connection to every address', Object.assign(new Error(''), { errors: [pgError('ECONNREFUSED'), pgError('ECONNREFUSED')] })],
    ['one wrapped by TypeORM', new QueryFailedError('UPDATE sms_message …', [], pgError('57P01', 'terminating connection due to administrator command'))],
  ])('%s is the database away', (_what, e) => {
    expect(isDatabaseUnavailable(e)).toBe(true);
  });

  it.each([
    ['a constraint broken', pgError('23505', 'duplicate key value violates unique constraint')],
    ['a trigger\'s exception', new QueryFailedError('UPDATE …', [], pgError('P0001', 'recording sent failed (test fault)'))],
    ['a syntax error', pgError('42601')],
    ['a plain bug', new TypeError('Cannot read properties of undefined')],
    ['nothing', undefined],
  ])('%s is not', (_what, e) => {
    expect(isDatabaseUnavailable(e)).toBe(false);
  });
});
