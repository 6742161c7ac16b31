import { emailFromClaims, parseRoleMap, roleFromClaims } from './oidc-mapping';

const rules = parseRoleMap('Dashboard.Admin=admin, Dashboard.Ops=ics_operations,RQM.Viewer=trust_viewer@RQM,Trust.Viewer=trust_viewer');
const isTrust = (ods: string) => ['RQM', 'RAS', 'R1K', 'RYJ'].includes(ods);
const opts = { roleClaim: 'roles', rules, trustClaim: 'ods', isTrust };

describe('OIDC role mapping', () => {
  it('parses value=role[@ODS] pairs and refuses anything else', () => {
    expect(rules[2]).toEqual({ value: 'RQM.Viewer', role: 'trust_viewer', trustOds: 'RQM' });
    expect(() => parseRoleMap('x=superuser')).toThrow(/not value=role/);
    expect(() => parseRoleMap('x=admin@RQM')).toThrow(/only trust_viewer/);
    expect(() => parseRoleMap(' , ')).toThrow(/empty/);
  });

  it('maps a role claim (string or list), the highest role winning', () => {
    expect(roleFromClaims({ roles: 'Dashboard.Ops' }, opts)).toEqual({ ok: true, role: 'ics_operations', trustOds: null });
    expect(roleFromClaims({ roles: ['RQM.Viewer', 'Dashboard.Admin'] }, opts)).toEqual({ ok: true, role: 'admin', trustOds: null });
  });

  it('gives a trust viewer the trust of the mapping, else of the ODS claim, and only an ICS trust', () => {
    expect(roleFromClaims({ roles: ['RQM.Viewer'], ods: 'RYJ' }, opts)).toEqual({ ok: true, role: 'trust_viewer', trustOds: 'RQM' });
    expect(roleFromClaims({ roles: ['Trust.Viewer'], ods: 'ryj' }, opts)).toEqual({ ok: true, role: 'trust_viewer', trustOds: 'RYJ' });
    expect(roleFromClaims({ roles: ['Trust.Viewer'], ods: 'X99' }, opts)).toMatchObject({ ok: false });
    expect(roleFromClaims({ roles: ['Trust.Viewer'] }, opts)).toMatchObject({ ok: false });
  });

  it('refuses people with no mapped value, or when no mapping is configured', () => {
    expect(roleFromClaims({ roles: ['Something.Else'] }, opts)).toMatchObject({ ok: false });
    expect(roleFromClaims({}, opts)).toMatchObject({ ok: false });
    expect(roleFromClaims({ roles: 'Dashboard.Admin' }, { rules: [], isTrust })).toMatchObject({ ok: false });
  });

  it('matches by email only when it is well-formed and not marked unverified', () => {
    expect(emailFromClaims({ email: 'A.Person@NHS.net' }, 'email')).toBe('a.person@nhs.net');
    expect(emailFromClaims({ email: 'a.person@nhs.net', email_verified: false }, 'email')).toBeNull();
    expect(emailFromClaims({ email: 'not an email' }, 'email')).toBeNull();
    expect(emailFromClaims({ upn: 'a@b.nhs.uk' }, 'upn')).toBe('a@b.nhs.uk');
  });
});
