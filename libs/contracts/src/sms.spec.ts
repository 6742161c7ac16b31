/**
 * Every message kind's text, word for word, with realistic values: what a patient reads. A change
 * of wording is a change to this table (and to the templates configured on the Notify service).
 */
import { previousAppointmentWording } from './sms-content';
import { SMS_TEMPLATES, SmsKind, renderTemplate } from './sms';

const slot = {
  hospital: 'Imperial College Healthcare NHS Trust', site: "St Mary's Hospital", specialty: 'Dermatology',
  date: 'Thursday 3 December', time: '2:40pm',
};
const values = {
  ...slot, code: '4821', expires: '4:15pm on Tuesday 1 December', link: 'https://offers.example.nhs.uk/o/Vt3kq0bXr2m9YwP1dJ7sLcA4eZ8uHn6G',
  previous: previousAppointmentWording(new Date('2027-01-18T09:00:00Z'), 'Europe/London'),
};

const TEXTS: Record<SmsKind, string> = {
  offer:
    "NHS: An earlier Dermatology appointment is available at Imperial College Healthcare NHS Trust, St Mary's Hospital, on Thursday 3 December at 2:40pm. " +
    'Reply YES 4821 to book or NO 4821 to keep your current appointment. This offer ends at 4:15pm on Tuesday 1 December. ' +
    'Details: https://offers.example.nhs.uk/o/Vt3kq0bXr2m9YwP1dJ7sLcA4eZ8uHn6G',
  confirmed:
    "NHS: Your Dermatology appointment at Imperial College Healthcare NHS Trust, St Mary's Hospital, on Thursday 3 December at 2:40pm is confirmed. " +
    'Your previous appointment on Monday 18 January at 9:00am will be cancelled: we are cancelling it for you.',
  taken:
    'NHS: Sorry, the Dermatology appointment on Thursday 3 December at 2:40pm is no longer available. ' +
    'Your current appointment and your place on the waiting list have not changed.',
  withdrawn:
    'NHS: Sorry, the Dermatology appointment on Thursday 3 December at 2:40pm is no longer available because the clinic has changed. ' +
    'Your current appointment and your place on the waiting list have not changed.',
  expired:
    'NHS: The offer of a Dermatology appointment on Thursday 3 December at 2:40pm has expired. ' +
    'Your current appointment and your place on the waiting list have not changed.',
  booking_failed:
    'NHS: Sorry, we could not book the Dermatology appointment on Thursday 3 December at 2:40pm. ' +
    'Your current appointment has not changed. Imperial College Healthcare NHS Trust will contact you if anything else is needed.',
  help:
    'NHS: Sorry, we did not understand your reply. To accept an offer, reply with yes and the offer code; ' +
    'to turn it down, reply with no and the code. Reply STOP to get no more offers.',
  stopped:
    'NHS: You will not be sent any more offers of earlier appointments by text. Your place on the waiting list has not changed. Reply START to get offers again.',
  started: 'NHS: You will be sent offers of earlier appointments by text again. Reply STOP at any time to stop them.',
  no_offer: 'NHS: Thank you for your reply. You have no open offer of an earlier appointment at the moment, so there is nothing to do.',
};

/** The contract's words, per kind (CONTRACT.md "SMS"). */
const PROMISED: Partial<Record<SmsKind, RegExp>> = {
  offer: /YES 4821/,
  confirmed: /confirmed/,
  taken: /no longer available/,
  withdrawn: /no longer available/,
  expired: /expired/,
  booking_failed: /could not/,
  stopped: /not be sent any more offers/,
  no_offer: /no open offer/,
};

describe('SMS texts, kind by kind', () => {
  it.each(Object.keys(TEXTS) as SmsKind[])('%s reads exactly as agreed', (kind) => {
    expect(renderTemplate(SMS_TEMPLATES[kind].body, values)).toBe(TEXTS[kind]);
  });

  it('has a text for every kind there is', () => {
    expect(Object.keys(TEXTS).sort()).toEqual(Object.keys(SMS_TEMPLATES).sort());
  });

  it.each(Object.entries(PROMISED))('%s carries the wording the contract promises', (kind, words) => {
    expect(TEXTS[kind as SmsKind]).toMatch(words);
  });

  it('uses no placeholder that could carry personal data, and nothing clinical beyond the specialty', () => {
    const allowed = new Set(['hospital', 'site', 'specialty', 'date', 'time', 'code', 'expires', 'link', 'previous']);
    for (const t of Object.values(SMS_TEMPLATES)) {
      for (const [, name] of t.body.matchAll(/\(\(([a-z_]+)\)\)/gi)) expect([t.kind, allowed.has(name)]).toEqual([t.kind, true]);
    }
  });

  it('keeps every text within Notify’s limit, and the short answers to one SMS fragment', () => {
    for (const kind of Object.keys(TEXTS) as SmsKind[]) expect(TEXTS[kind].length).toBeLessThanOrEqual(918);
    for (const kind of ['started', 'no_offer'] as SmsKind[]) expect(TEXTS[kind].length).toBeLessThanOrEqual(160);
  });
});
