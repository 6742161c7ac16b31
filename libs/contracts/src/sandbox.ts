/**
 * Defaults for the sandbox only (demo and tests). Production must set every secret; the config
 * classes refuse these values when NODE_ENV=production.
 */
/** A Notify-format key: `<name>-<service id>-<secret>`. */
export const SANDBOX_NOTIFY_API_KEY = 'sandbox-4f7c9a52-2a3b-4c6d-8e9f-0a1b2c3d4e5f-9b8a7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d';
export const SANDBOX_NOTIFY_CALLBACK_TOKEN = 'dev-notify-callback-token';
export const sandboxPasInboundToken = (ods: string) => `dev-${ods}-token`;
export const sandboxExchangeToken = (ods: string) => `dev-exchange-${ods}-token`;
/** FHIR identifier system under which bookings are written, so a conditional create finds them. */
export const BOOKING_IDENTIFIER_SYSTEM = 'https://fhir.slot-exchange.nhs.uk/Id/booking';
export const NHS_NUMBER_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';
export const ODS_SITE_SYSTEM = 'https://fhir.nhs.uk/Id/ods-site-code';
/** The dashboard's demo accounts (DASHBOARD_DEMO_ACCOUNTS=1, refused in production), all with one published password. */
export const SANDBOX_DASHBOARD_PASSWORD = 'demo-dashboard-2026';
export const SANDBOX_DASHBOARD_ACCOUNTS = Object.freeze([
  { email: 'admin@ics.example', displayName: 'Demo administrator', role: 'admin', trustOds: null },
  { email: 'ops@ics.example', displayName: 'Demo ICS operations', role: 'ics_operations', trustOds: null },
  { email: 'rqm-viewer@ics.example', displayName: 'Demo RQM viewer', role: 'trust_viewer', trustOds: 'RQM' },
] as const);
