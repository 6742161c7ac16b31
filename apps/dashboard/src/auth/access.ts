/**
 * Who may see and do what on the dashboard. Pure rules (no I/O), so the whole matrix is tested in
 * milliseconds; controllers ask these questions and never compare role names themselves.
 *
 * - ICS operations: read everything ICS-wide, act on failures. NHS numbers are masked.
 * - Trust viewer: only their own trust's slots, and only their own trust's patients; they see
 *   their own patients' NHS numbers in full (they hold the care relationship), nothing of other
 *   trusts' patients but the trust. No actions.
 * - Admin: what ICS operations may, plus the policy, accounts, the audit log and the queues.
 */
import { maskNhsNumber } from '@app/domain';

export type Role = 'ics_operations' | 'trust_viewer' | 'admin';
export const ROLES: readonly Role[] = ['ics_operations', 'trust_viewer', 'admin'];
export const ROLE_NAMES: Record<Role, string> = { ics_operations: 'ICS operations', trust_viewer: 'Trust viewer', admin: 'Administrator' };

export interface Principal {
  userId: string;
  email: string;
  displayName: string;
  role: Role;
  /** Set for a trust viewer only. */
  trustOds: string | null;
}

export type Capability = 'view-ics' | 'act-on-failures' | 'edit-policy' | 'manage-users' | 'read-audit' | 'view-queues' | 'view-failures';

const CAPABILITIES: Record<Role, readonly Capability[]> = {
  ics_operations: ['view-ics', 'view-failures', 'act-on-failures'],
  trust_viewer: [],
  admin: ['view-ics', 'view-failures', 'act-on-failures', 'edit-policy', 'manage-users', 'read-audit', 'view-queues'],
};

export function can(p: Principal, c: Capability): boolean {
  return CAPABILITIES[p.role].includes(c);
}

/** The trust whose data this person is limited to, or null for ICS-wide. */
export function trustScope(p: Principal): string | null {
  return p.role === 'trust_viewer' ? p.trustOds : null;
}

/** A slot owned by `slotTrust` may be seen. */
export function maySeeSlot(p: Principal, slotTrust: string): boolean {
  const scope = trustScope(p);
  return scope === null || scope === slotTrust;
}

/** A patient waiting at `patientTrust` may be seen at patient level (rank, explanation, NHS number). */
export function maySeePatient(p: Principal, patientTrust: string): boolean {
  const scope = trustScope(p);
  return scope === null || scope === patientTrust;
}

/** How an NHS number is shown: in full only to a trust viewer for their own trust's patients. */
export function shownNhsNumber(p: Principal, nhsNumber: string, patientTrust: string): string {
  return p.role === 'trust_viewer' && p.trustOds === patientTrust ? nhsNumber : maskNhsNumber(nhsNumber);
}
