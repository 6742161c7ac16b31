/**
 * Response bodies in GOV.UK Notify's v2 shapes (the fields notifications-node-client types), and
 * the sandbox's own `/sim/messages` view.
 */
import { SentSms } from './message-store';
import { smsFragments } from './send-sms-request';

/** An illustrative per-fragment price; the sandbox bills nobody. */
const SMS_RATE_POUNDS = 0.0227;

const templateRef = (m: SentSms, host: string) => ({
  id: m.templateId,
  version: m.templateVersion,
  uri: `${host}services/${m.serviceId}/templates/${m.templateId}`,
});

/** `201` body of `POST /v2/notifications/sms`. */
export function sendResponse(m: SentSms, host: string) {
  return {
    id: m.id,
    reference: m.reference,
    content: { body: m.body, from_number: 'NHS' },
    uri: `${host}v2/notifications/${m.id}`,
    template: templateRef(m, host),
    scheduled_for: null,
  };
}

/** One notification as `GET /v2/notifications[/{id}]` returns it. */
export function notificationView(m: SentSms, host: string) {
  const fragments = smsFragments(m.body);
  return {
    id: m.id,
    reference: m.reference,
    email_address: null,
    phone_number: m.to,
    line_1: null,
    line_2: null,
    line_3: null,
    line_4: null,
    line_5: null,
    line_6: null,
    postcode: null,
    postage: null,
    type: 'sms' as const,
    status: m.status,
    template: templateRef(m, host),
    body: m.body,
    subject: null,
    created_at: m.createdAt.toISOString(),
    created_by_name: null,
    sent_at: m.sentAt?.toISOString() ?? null,
    completed_at: m.completedAt?.toISOString() ?? null,
    scheduled_for: null,
    is_cost_data_ready: true,
    cost_in_pounds: Number((fragments * SMS_RATE_POUNDS).toFixed(4)),
    cost_details: { billable_sms_fragments: fragments, international_rate_multiplier: 1, sms_rate: SMS_RATE_POUNDS },
  };
}

/** `/sim/messages` entry (CONTRACT.md "Sandboxes"). */
export function simMessageView(m: SentSms) {
  return {
    id: m.id,
    phone_number: m.phone,
    template_id: m.templateId,
    template: m.kind,
    personalisation: m.personalisation,
    reference: m.reference,
    created_at: m.createdAt.toISOString(),
    body: m.body,
    status: m.status,
  };
}
