/**
 * What notify-sim shows as a sent text (`body`) is the text a patient would read: checked against
 * the words themselves (CONTRACT.md's example offer wording), not against the renderer the sim
 * itself calls.
 */
import { SMS_TEMPLATES, SmsKind } from '@app/contracts';
import { parseSendSmsRequest, placeholders } from './send-sms-request';

const send = (kind: SmsKind, personalisation: Record<string, unknown>) =>
  parseSendSmsRequest({ phone_number: '07700 900123', template_id: SMS_TEMPLATES[kind].id, personalisation, reference: 'ref' });

describe('notify-sim renders what the notifier sends', () => {
  it('renders an offer word for word, matching personalisation keys without regard to case as Notify does', () => {
    const req = send('offer', {
      specialty: 'Dermatology', hospital: 'Imperial College Healthcare NHS Trust', site: "St Mary's Hospital", date: 'Thursday 3 December',
      time: '2:40pm', CODE: 4821, expires: '4:15pm on Tuesday 1 December', link: 'https://offers.example.nhs.uk/o/abc',
    });
    expect(req.body).toBe(
      "NHS: An earlier Dermatology appointment is available at Imperial College Healthcare NHS Trust, St Mary's Hospital, on Thursday 3 December at 2:40pm. " +
      'Reply YES 4821 to book or NO 4821 to keep your current appointment. This offer ends at 4:15pm on Tuesday 1 December. ' +
      'Details: https://offers.example.nhs.uk/o/abc',
    );
    expect(req.phone).toBe('+447700900123');
    expect(req.template.kind).toBe('offer');
  });

  it('renders a "no longer available" text word for word', () => {
    expect(send('taken', { specialty: 'Ophthalmology', date: 'Friday 4 December', time: '9:00am' }).body).toBe(
      'NHS: Sorry, the Ophthalmology appointment on Friday 4 December at 9:00am is no longer available. ' +
      'Your current appointment and your place on the waiting list have not changed.',
    );
  });

  it.each(Object.keys(SMS_TEMPLATES) as SmsKind[])('%s: fills every placeholder and leaves none behind', (kind) => {
    const personalisation = Object.fromEntries(placeholders(SMS_TEMPLATES[kind].body).map((p) => [p, `<${p}>`]));
    const req = send(kind, personalisation);
    for (const p of Object.keys(personalisation)) expect(req.body).toContain(`<${p}>`);
    expect(req.body).not.toMatch(/\(\(|\)\)/);
    expect(req.body.startsWith('NHS: ')).toBe(true);
  });
});
