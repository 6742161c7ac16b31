/**
 * Checks a `POST /v2/notifications/sms` body in the order Notify does — schema (every problem
 * at once), then template, then personalisation, then length — and renders the text.
 */
import { SmsTemplate, renderTemplate, templateById } from '@app/contracts';
import { isUuid } from './notify-auth';
import { NotifyApiError } from './notify-errors';
import { checkUkMobile } from './phone';

export interface SendSmsRequest {
  /** As the caller wrote it. */
  to: string;
  phone: string;
  template: SmsTemplate;
  personalisation: Record<string, unknown>;
  reference: string | null;
  body: string;
}

/** Notify's limit for one text message (six fragments). */
export const SMS_CHAR_LIMIT = 918;

const ALLOWED = new Set(['phone_number', 'template_id', 'personalisation', 'reference', 'sms_sender_id', 'scheduled_for']);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `((name))` placeholders in template order, once each. */
export function placeholders(body: string): string[] {
  return [...new Set([...body.matchAll(/\(\(([a-z_]+)\)\)/gi)].map((m) => m[1].toLowerCase()))];
}

export function parseSendSmsRequest(raw: unknown): SendSmsRequest {
  const body = isObject(raw) ? raw : {};
  const problems: string[] = [];
  const extra = Object.keys(body).filter((k) => !ALLOWED.has(k));
  if (extra.length) problems.push(`Additional properties are not allowed (${extra.join(', ')} ${extra.length === 1 ? 'was' : 'were'} unexpected)`);

  const { phone_number: to, template_id: templateId, personalisation, reference, sms_sender_id: senderId } = body;
  let phone = '';
  if (to === undefined || to === null) problems.push('phone_number is a required property');
  else if (typeof to !== 'string') problems.push(`phone_number ${JSON.stringify(to)} is not of type string`);
  else {
    const check = checkUkMobile(to);
    if (check.ok) phone = check.e164;
    else problems.push(`phone_number ${check.problem}`);
  }
  if (templateId === undefined || templateId === null) problems.push('template_id is a required property');
  else if (typeof templateId !== 'string' || !isUuid(templateId)) problems.push('template_id is not a valid UUID');
  if (personalisation !== undefined && personalisation !== null && !isObject(personalisation)) {
    problems.push('personalisation should be type object');
  }
  if (reference !== undefined && reference !== null && typeof reference !== 'string') problems.push(`reference ${JSON.stringify(reference)} is not of type string`);
  if (senderId !== undefined && senderId !== null && (typeof senderId !== 'string' || !isUuid(senderId))) problems.push('sms_sender_id is not a valid UUID');
  if (problems.length) throw NotifyApiError.validation(problems);

  const template = templateById((templateId as string).toLowerCase());
  if (!template) throw NotifyApiError.badRequest('Template not found');

  // Notify matches placeholders to personalisation keys without regard to case; null is missing.
  const values: Record<string, string> = {};
  for (const [k, v] of Object.entries(isObject(personalisation) ? personalisation : {})) {
    if (v !== null && v !== undefined) values[k.toLowerCase()] = Array.isArray(v) ? v.map(String).join(', ') : String(v);
  }
  const missing = placeholders(template.body).filter((p) => !(p in values));
  if (missing.length) throw NotifyApiError.badRequest(`Missing personalisation: ${missing.join(', ')}`);

  const text = renderTemplate(template.body, values);
  if (text.length > SMS_CHAR_LIMIT) {
    throw NotifyApiError.badRequest(`Text messages cannot be longer than ${SMS_CHAR_LIMIT} characters. Your message is ${text.length} characters long.`);
  }
  return {
    to: to as string,
    phone,
    template,
    personalisation: isObject(personalisation) ? { ...personalisation } : {},
    reference: typeof reference === 'string' ? reference : null,
    body: text,
  };
}

/** How many SMS fragments a text costs: 160 characters alone, 153 each when split. */
export function smsFragments(text: string): number {
  return text.length <= 160 ? 1 : Math.ceil(text.length / 153);
}
