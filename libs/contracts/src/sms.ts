/**
 * SMS message kinds and their texts. The notifier sends `templateId` + personalisation through
 * GOV.UK Notify; notify-sim renders the same bodies, so the sandbox shows patients exactly what a
 * real Notify service configured with these templates would.
 *
 * Wording the contract promises: offer `YES <code>`, confirmation `confirmed`, slot gone
 * `no longer available`, offer ended `expired`, booking failed `could not`. Only the offer may
 * contain the upper-case word YES followed by a space, because that is how a reply code is read.
 */
export type SmsKind = 'offer' | 'confirmed' | 'taken' | 'expired' | 'booking_failed' | 'help' | 'stopped' | 'started' | 'no_offer' | 'withdrawn';

/**
 * Texts that tell a patient an offer of theirs has gone (taken by someone else, expired, withdrawn
 * by the trust): they make sense only to a patient who was sent that offer.
 */
export const OFFER_ENDED_KINDS: ReadonlySet<SmsKind> = new Set<SmsKind>(['taken', 'expired', 'withdrawn']);

export interface SmsTemplate {
  kind: SmsKind;
  id: string;
  body: string;
}

export const SMS_TEMPLATES: Readonly<Record<SmsKind, SmsTemplate>> = Object.freeze({
  offer: {
    kind: 'offer',
    id: 'b1a6f0f2-6a43-4c1e-9f0e-2f1a0c000001',
    body:
      'NHS: An earlier ((specialty)) appointment is available at ((hospital)), ((site)), on ((date)) at ((time)). ' +
      'Reply YES ((code)) to book or NO ((code)) to keep your current appointment. ' +
      'This offer ends at ((expires)). Details: ((link))',
  },
  confirmed: {
    kind: 'confirmed',
    id: 'b1a6f0f2-6a43-4c1e-9f0e-2f1a0c000002',
    body:
      'NHS: Your ((specialty)) appointment at ((hospital)), ((site)), on ((date)) at ((time)) is confirmed. ' +
      '((previous))',
  },
  taken: {
    kind: 'taken',
    id: 'b1a6f0f2-6a43-4c1e-9f0e-2f1a0c000003',
    body:
      'NHS: Sorry, the ((specialty)) appointment on ((date)) at ((time)) is no longer available. ' +
      'Your current appointment and your place on the waiting list have not changed.',
  },
  expired: {
    kind: 'expired',
    id: 'b1a6f0f2-6a43-4c1e-9f0e-2f1a0c000004',
    body:
      'NHS: The offer of a ((specialty)) appointment on ((date)) at ((time)) has expired. ' +
      'Your current appointment and your place on the waiting list have not changed.',
  },
  booking_failed: {
    kind: 'booking_failed',
    id: 'b1a6f0f2-6a43-4c1e-9f0e-2f1a0c000005',
    body:
      'NHS: Sorry, we could not book the ((specialty)) appointment on ((date)) at ((time)). ' +
      'Your current appointment has not changed. ((hospital)) will contact you if anything else is needed.',
  },
  help: {
    kind: 'help',
    id: 'b1a6f0f2-6a43-4c1e-9f0e-2f1a0c000006',
    body:
      'NHS: Sorry, we did not understand your reply. To accept an offer, reply with yes and the offer code; ' +
      'to turn it down, reply with no and the code. Reply STOP to get no more offers.',
  },
  stopped: {
    kind: 'stopped',
    id: 'b1a6f0f2-6a43-4c1e-9f0e-2f1a0c000007',
    body:
      'NHS: You will not be sent any more offers of earlier appointments by text. ' +
      'Your place on the waiting list has not changed. Reply START to get offers again.',
  },
  started: {
    kind: 'started',
    id: 'b1a6f0f2-6a43-4c1e-9f0e-2f1a0c000008',
    body: 'NHS: You will be sent offers of earlier appointments by text again. Reply STOP at any time to stop them.',
  },
  no_offer: {
    kind: 'no_offer',
    id: 'b1a6f0f2-6a43-4c1e-9f0e-2f1a0c000009',
    body: 'NHS: Thank you for your reply. You have no open offer of an earlier appointment at the moment, so there is nothing to do.',
  },
  withdrawn: {
    kind: 'withdrawn',
    id: 'b1a6f0f2-6a43-4c1e-9f0e-2f1a0c000010',
    body:
      'NHS: Sorry, the ((specialty)) appointment on ((date)) at ((time)) is no longer available because the clinic has changed. ' +
      'Your current appointment and your place on the waiting list have not changed.',
  },
});

export function templateById(id: string): SmsTemplate | undefined {
  return Object.values(SMS_TEMPLATES).find((t) => t.id === id);
}

/** Notify-style rendering: `((name))` placeholders; a missing value renders as empty. */
export function renderTemplate(body: string, personalisation: Record<string, string | number | undefined>): string {
  return body
    .replace(/\(\(([a-z_]+)\)\)/gi, (_, key: string) => String(personalisation[key] ?? ''))
    .replace(/\s+/g, ' ')
    .trim();
}
