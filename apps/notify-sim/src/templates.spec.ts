import { SMS_TEMPLATES, SmsKind, renderTemplate } from '@app/contracts';
import { parseSendSmsRequest, placeholders } from './send-sms-request';

describe('notify-sim renders what the notifier sends', () => {
  it.each(Object.keys(SMS_TEMPLATES) as SmsKind[])('%s: the same text as the repository’s template', (kind) => {
    const t = SMS_TEMPLATES[kind];
    const personalisation = Object.fromEntries(placeholders(t.body).map((p) => [p, `<${p}>`]));
    const req = parseSendSmsRequest({ phone_number: '+447700900123', template_id: t.id, personalisation, reference: 'ref' });
    expect(req.template).toBe(t);
    expect(req.body).toBe(renderTemplate(t.body, personalisation));
    for (const p of Object.keys(personalisation)) expect(req.body).toContain(`<${p}>`);
  });
});
