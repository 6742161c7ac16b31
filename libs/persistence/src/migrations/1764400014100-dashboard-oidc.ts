import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * OpenID Connect sign-in for the dashboard: an account may be linked to one identity at one issuer
 * (`oidc_issuer` + `oidc_subject`, the ID token's `iss` and `sub`). Accounts created at an OIDC
 * sign-in from a role claim have `auth_source = 'oidc'` and an unusable password hash (their role
 * follows the claims at every sign-in); local accounts keep `local` and may be linked by email.
 */
export class DashboardOidc1764400014100 implements MigrationInterface {
  name = 'DashboardOidc1764400014100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE dashboard_user
        ADD COLUMN auth_source text NOT NULL DEFAULT 'local' CHECK (auth_source IN ('local', 'oidc')),
        ADD COLUMN oidc_issuer text,
        ADD COLUMN oidc_subject text,
        ADD CHECK ((oidc_issuer IS NULL) = (oidc_subject IS NULL));
      CREATE UNIQUE INDEX dashboard_user_oidc ON dashboard_user (oidc_issuer, oidc_subject) WHERE oidc_subject IS NOT NULL;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP INDEX IF EXISTS dashboard_user_oidc;
      ALTER TABLE dashboard_user DROP COLUMN IF EXISTS oidc_subject, DROP COLUMN IF EXISTS oidc_issuer, DROP COLUMN IF EXISTS auth_source;
    `);
  }
}
