import { migrateAction } from './migrate-args';

describe('migrateAction', () => {
  it('applies what is pending with no arguments', () => {
    expect(migrateAction([])).toEqual({ kind: 'apply' });
  });

  it('reverts the newest migration with --revert, or the newest N with --revert N', () => {
    expect(migrateAction(['--revert'])).toEqual({ kind: 'revert', count: 1 });
    expect(migrateAction(['--revert', '3'])).toEqual({ kind: 'revert', count: 3 });
  });

  it.each([[['--revert', '0']], [['--revert', '-1']], [['--revert', '2.5']], [['--revert', 'all']], [['--revert', '1', '2']], [['--down']], [['1']]])(
    'refuses %j, saying what it takes',
    (args) => {
      expect(() => migrateAction(args)).toThrow(/no arguments .* or --revert \[N\]/);
    },
  );
});
