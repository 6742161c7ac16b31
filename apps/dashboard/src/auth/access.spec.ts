import { Capability, Principal, Role, can, maySeePatient, maySeeSlot, shownNhsNumber, trustScope } from './access';

const who = (role: Role, trustOds: string | null = null): Principal => ({ userId: 'u', email: 'e', displayName: 'd', role, trustOds });
const ops = who('ics_operations');
const viewer = who('trust_viewer', 'RQM');
const admin = who('admin');

describe('dashboard access rules', () => {
  it('gives each role exactly its capabilities', () => {
    const all: Capability[] = ['view-ics', 'view-failures', 'act-on-failures', 'edit-policy', 'manage-users', 'read-audit', 'view-queues'];
    const granted = (p: Principal) => all.filter((c) => can(p, c));
    expect(granted(ops)).toEqual(['view-ics', 'view-failures', 'act-on-failures']);
    expect(granted(viewer)).toEqual([]);
    expect(granted(admin)).toEqual(all);
  });

  it('limits a trust viewer to their own trust\'s slots and patients', () => {
    expect(trustScope(viewer)).toBe('RQM');
    expect(trustScope(ops)).toBeNull();
    expect(maySeeSlot(viewer, 'RQM')).toBe(true);
    expect(maySeeSlot(viewer, 'RAS')).toBe(false);
    expect(maySeePatient(viewer, 'RYJ')).toBe(false);
    expect(maySeeSlot(ops, 'RAS') && maySeePatient(ops, 'RYJ') && maySeePatient(admin, 'RYJ')).toBe(true);
  });

  it('shows an NHS number in full only to the patient\'s own trust\'s viewer', () => {
    expect(shownNhsNumber(viewer, '9990000018', 'RQM')).toBe('9990000018');
    expect(shownNhsNumber(viewer, '9990000018', 'RYJ')).toBe('*** *** 0018');
    expect(shownNhsNumber(ops, '9990000018', 'RQM')).toBe('*** *** 0018');
    expect(shownNhsNumber(admin, '9990000018', 'RQM')).toBe('*** *** 0018');
  });
});
