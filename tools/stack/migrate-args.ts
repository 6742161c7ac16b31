/**
 * The arguments `npm run migrate` and the image's `migrate` take: none applies the pending
 * migrations; `--revert [N]` undoes the newest N applied (default 1), to roll a release back.
 */
export type MigrateAction = { kind: 'apply' } | { kind: 'revert'; count: number };

export function migrateAction(args: readonly string[]): MigrateAction {
  if (args.length === 0) return { kind: 'apply' };
  const [flag, n, ...rest] = args;
  if (flag !== '--revert' || rest.length > 0 || (n !== undefined && !/^[1-9][0-9]*$/.test(n))) {
    throw new Error(`migrate takes no arguments (apply what is pending) or --revert [N] (undo the newest N, default 1); got: ${args.join(' ')}`);
  }
  return { kind: 'revert', count: n === undefined ? 1 : Number(n) };
}
