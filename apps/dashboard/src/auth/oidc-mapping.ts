/**
 * How a person signed in at the organisation's identity provider becomes a dashboard role. Pure
 * (no I/O), so the rules are unit-tested; oidc.service.ts applies them:
 *
 * 1. an account already linked to this issuer + `sub`, or a dashboard account with the ID token's
 *    (verified) email: that account's role and trust, as an administrator set them;
 * 2. otherwise the role claim (OIDC_ROLE_CLAIM, a string or a list) through OIDC_ROLE_MAP
 *    (`value=role[@ODS]`); a trust viewer's trust is the `@ODS` of the mapping or the
 *    OIDC_TRUST_CLAIM claim, and must be one of the ICS's trusts. The highest role wins.
 * 3. anyone else is refused.
 */
import { Role, ROLES } from './access';

export interface RoleRule { value: string; role: Role; trustOds: string | null }

export function parseRoleMap(text: string): RoleRule[] {
  const rules = text.split(',').map((x) => x.trim()).filter(Boolean).map((pair): RoleRule => {
    const m = /^(.+?)=(ics_operations|trust_viewer|admin)(?:@([A-Z0-9]{3,5}))?$/.exec(pair);
    if (!m) throw new Error(`OIDC_ROLE_MAP: "${pair}" is not value=role[@ODS] (roles: ${ROLES.join(', ')})`);
    if (m[3] && m[2] !== 'trust_viewer') throw new Error(`OIDC_ROLE_MAP: "${pair}": only trust_viewer takes an @ODS trust`);
    return { value: m[1].trim(), role: m[2] as Role, trustOds: m[3] ?? null };
  });
  if (!rules.length) throw new Error('OIDC_ROLE_MAP is empty');
  return rules;
}

export type Mapped = { ok: true; role: Role; trustOds: string | null } | { ok: false; why: string };

const RANK: Record<Role, number> = { trust_viewer: 1, ics_operations: 2, admin: 3 };

/** The role the claims give, by the role map; `isTrust` says whether an ODS code is one of the ICS's trusts. */
export function roleFromClaims(
  claims: Record<string, unknown>,
  opts: { roleClaim?: string; rules: RoleRule[]; trustClaim?: string; isTrust: (ods: string) => boolean },
): Mapped {
  if (!opts.roleClaim || !opts.rules.length) return { ok: false, why: 'no dashboard account for this person and no role mapping configured' };
  const raw = claims[opts.roleClaim];
  const values = (Array.isArray(raw) ? raw : [raw]).filter((v): v is string => typeof v === 'string');
  const matched = opts.rules.filter((r) => values.includes(r.value));
  if (!matched.length) return { ok: false, why: `no dashboard account for this person and no mapped value in the ${opts.roleClaim} claim` };
  const best = matched.sort((a, b) => RANK[b.role] - RANK[a.role])[0];
  if (best.role !== 'trust_viewer') return { ok: true, role: best.role, trustOds: null };
  const claimed = opts.trustClaim && typeof claims[opts.trustClaim] === 'string' ? (claims[opts.trustClaim] as string).trim().toUpperCase() : null;
  const trust = best.trustOds ?? claimed;
  if (!trust || !opts.isTrust(trust)) return { ok: false, why: `trust viewer role without a trust of this ICS (${trust ?? 'none given'})` };
  return { ok: true, role: 'trust_viewer', trustOds: trust };
}

/** The email to match accounts by: present, well-formed, and not marked unverified by the provider. */
export function emailFromClaims(claims: Record<string, unknown>, claim: string): string | null {
  const email = claims[claim];
  if (typeof email !== 'string' || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email) || email.length > 254) return null;
  if (claims.email_verified === false) return null;
  return email.trim().toLowerCase();
}
