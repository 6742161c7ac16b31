/**
 * The matching policy as data (`matching_policy`): every change is a new version, and the newest
 * row is the policy in force. Shared by the exchange (which records its configuration at start-up
 * and matches under the newest version) and the dashboard (which shows the history and lets an
 * administrator change it).
 */
import { MatchingPolicy, assertValidPolicy, policyForTfc, policySettings, samePolicySettings } from '@app/domain';
import { EntityManager } from 'typeorm';

type Tx = Pick<EntityManager, 'query'>;

export type PolicySource = 'config' | 'admin';

export interface PolicyVersionRecord {
  version: number;
  policy: MatchingPolicy;
  source: PolicySource;
  changedBy: string | null;
  reason: string | null;
  createdAt: Date;
}

/** Any fixed number: serialises version numbering across processes. */
const POLICY_LOCK = 7_242_004;

function toRecord(r: Record<string, any>): PolicyVersionRecord {
  return {
    version: r.version,
    policy: { ...(r.settings as Omit<MatchingPolicy, 'version'>), version: r.version },
    source: r.source,
    changedBy: r.changed_by,
    reason: r.reason,
    createdAt: new Date(r.created_at),
  };
}

/** The policy in force, or null before any version was recorded. */
export async function currentPolicy(tx: Tx): Promise<PolicyVersionRecord | null> {
  const rows = await tx.query(`SELECT * FROM matching_policy ORDER BY version DESC LIMIT 1`);
  return rows[0] ? toRecord(rows[0]) : null;
}

/**
 * The policy in force, as one jsonb value `{ version, settings }` (or null before any version was
 * recorded), for a statement that is made anyway: read back with `policyFromRow`.
 */
export const POLICY_IN_FORCE_SQL = `(SELECT to_jsonb(p) FROM (SELECT version, settings FROM matching_policy ORDER BY version DESC LIMIT 1) p)`;

export type PolicyRow = { version: number; settings: Omit<MatchingPolicy, 'version'> } | null;

/**
 * The policy a rule is judged by: the newest recorded version (an administrator's change on the
 * dashboard counts from the next decision, in every process), else the configured one; with
 * `tfc`, that specialty's overrides laid over it.
 */
export function policyFromRow(row: PolicyRow | undefined, configured: MatchingPolicy, tfc?: string): MatchingPolicy {
  const recorded = row ? { ...row.settings, version: row.version } : configured;
  return tfc === undefined ? recorded : policyForTfc(recorded, tfc);
}

/** `policyFromRow` read on its own: one indexed read, once per transaction or batch. */
export async function policyInForce(tx: Tx, configured: MatchingPolicy, tfc?: string): Promise<MatchingPolicy> {
  const [r] = (await tx.query(`SELECT ${POLICY_IN_FORCE_SQL} AS row`)) as Array<{ row: PolicyRow }>;
  return policyFromRow(r?.row, configured, tfc);
}

export async function policyVersion(tx: Tx, version: number): Promise<PolicyVersionRecord | null> {
  const rows = await tx.query(`SELECT * FROM matching_policy WHERE version = $1`, [version]);
  return rows[0] ? toRecord(rows[0]) : null;
}

/** Newest first. */
export async function policyHistory(tx: Tx, limit = 100): Promise<PolicyVersionRecord[]> {
  const rows = await tx.query(`SELECT * FROM matching_policy ORDER BY version DESC LIMIT $1`, [limit]);
  return rows.map(toRecord);
}

/**
 * An administrator's change made on a page showing version `base`, when another version has been
 * recorded since: saving it would silently undo that change, so nothing is recorded.
 */
export class PolicyChangedError extends Error {
  constructor(readonly base: number, readonly current: number | null) {
    super(`the policy changed since version ${base} (now ${current ?? 'none'})`);
    this.name = 'PolicyChangedError';
  }
}

/**
 * Records `policy` as a new version when it changes anything; returns the version in force
 * afterwards, and the one before it (`previous`, read under the lock). An invalid policy throws
 * (DomainError `invalid-policy`) and changes nothing. With `baseVersion` (the version an
 * administrator's form was made from), a newer version in force throws PolicyChangedError and
 * changes nothing: checked under the lock, so of two administrators saving the same version's
 * page at once, the second is refused instead of overwriting the first.
 *
 * A deploy's configuration (`source: 'config'`) is compared with the last configuration recorded,
 * not with the policy in force: restarting with the same environment must not undo what an
 * administrator changed since, while a changed environment is a deliberate change and wins.
 * Run it inside a transaction: the advisory lock is held until commit.
 */
export async function recordPolicy(
  tx: Tx,
  policy: MatchingPolicy,
  meta: { source: PolicySource; changedBy?: string | null; reason?: string | null; baseVersion?: number },
): Promise<{ version: number; created: boolean; previous: number | null }> {
  const next = assertValidPolicy({ ...policy, version: Math.max(1, policy.version || 1) });
  await tx.query(`SELECT pg_advisory_xact_lock($1)`, [POLICY_LOCK]);
  const current = await currentPolicy(tx);
  const previous = current?.version ?? null;
  if (meta.baseVersion !== undefined && previous !== meta.baseVersion) throw new PolicyChangedError(meta.baseVersion, previous);
  const compareWith = meta.source === 'config'
    ? ((await tx.query(`SELECT * FROM matching_policy WHERE source = 'config' ORDER BY version DESC LIMIT 1`)) as Array<Record<string, any>>).map(toRecord)[0] ?? null
    : current;
  if (current && compareWith && samePolicySettings(compareWith.policy, next)) return { version: current.version, created: false, previous };
  const version = (current?.version ?? 0) + 1;
  await tx.query(
    `INSERT INTO matching_policy (version, settings, source, changed_by, reason) VALUES ($1, $2, $3, $4, $5)`,
    [version, JSON.stringify(policySettings(next)), meta.source, meta.changedBy ?? null, meta.reason ?? null],
  );
  return { version, created: true, previous };
}
