import fc from 'fast-check';
import { answerToBareReply, answerToEndedOfferReply, answerToUnclearReply, BARE_REPLY_TO_GONE_SLOT_HOURS, NumberOffer, parseReply, PatientReply } from './reply';

const yes = (code: string | null = null): PatientReply => ({ kind: 'yes', code });
const no = (code: string | null = null): PatientReply => ({ kind: 'no', code });
const stop: PatientReply = { kind: 'stop' };
const start: PatientReply = { kind: 'start' };
const unclear: PatientReply = { kind: 'unclear' };

describe('parseReply', () => {
  it.each<[string, PatientReply]>([
    // Accepting, with and without the code.
    ['YES 4821', yes('4821')],
    ['yes 4821', yes('4821')],
    ['yes4821', yes('4821')],
    [' Yes, 4821!', yes('4821')],
    ['YES   4821', yes('4821')],
    ['Yes - 4821.', yes('4821')],
    ['Y 4821', yes('4821')],
    ['y4821', yes('4821')],
    ['ACCEPT 4821', yes('4821')],
    ['YES', yes()],
    ['y', yes()],
    ['Yes please', yes()],
    ['Yes please 4821', yes('4821')],
    ['YES 4821 please', yes('4821')],
    ['Yes 4821 thank you!', yes('4821')],
    ['yes ab12', yes('AB12')],
    ['ＹＥＳ ４８２１', yes('4821')],
    // Declining.
    ['NO 4821', no('4821')],
    ['no4821', no('4821')],
    ['N 4821', no('4821')],
    ['No thanks', no()],
    ['no thanks, 4821', no('4821')],
    ['No thank you', no()],
    ['DECLINE 4821', no('4821')],
    ['no', no()],
    ['n', no()],
    // Opting out wins wherever it appears.
    ['STOP', stop],
    ['stop.', stop],
    ['Stop!!', stop],
    ['UNSUBSCRIBE', stop],
    ['stop 4821', stop],
    ['please stop texting me', stop],
    ['No. STOP', stop],
    // Opting back in only as a plain START.
    ['START', start],
    ['start.', start],
    ['Start please', start],
    ['START 4821', unclear],
    ['restart', unclear],
    // Not understood, on purpose.
    ['maybe', unclear],
    ['yeah', unclear],
    ['yep', unclear],
    ['ok', unclear],
    ['nope', unclear],
    ['', unclear],
    ['   ', unclear],
    ['!!!', unclear],
    ['4821', unclear],
    ['4821 YES', unclear],
    ['YES 12 34', unclear],
    ['YES 12', unclear],
    ['YES 4821 4821', unclear],
    ['YES 12345678901', unclear],
    ['YES NO', unclear],
    ['yes sure', unclear],
    ['yes but only mornings', unclear],
    ['no yes 4821', unclear],
    ['stopped', unclear],
    ['yesterday', unclear],
    ['Y E S', unclear],
  ])('%p -> %p', (text, expected) => {
    expect(parseReply(text)).toEqual(expected);
  });

  it('reads a code of 3 to 10 letters and digits', () => {
    expect(parseReply('YES 482')).toEqual(yes('482'));
    expect(parseReply('YES 1234567890')).toEqual(yes('1234567890'));
    expect(parseReply('NO 12345AB')).toEqual(no('12345AB'));
  });

  it('reads YES <code> and NO <code> whatever the case, spacing and punctuation around them', () => {
    const noise = fc.string({ unit: fc.constantFrom(' ', ',', '.', '!', '?', '-', ':'), maxLength: 3 });
    fc.assert(
      fc.property(
        fc.constantFrom('YES', 'NO', 'Y', 'N'),
        fc.integer({ min: 1000, max: 9999 }).map(String),
        noise,
        noise,
        noise,
        fc.boolean(),
        (word, code, before, between, after, lower) => {
          const kw = lower ? word.toLowerCase() : word;
          const text = `${before}${kw}${between}${code}${after}`;
          const kind = word.startsWith('Y') ? 'yes' : 'no';
          expect(parseReply(text)).toEqual({ kind, code });
        },
      ),
    );
  });

  it('never reads a yes out of a message without a yes word, nor a code that was not sent', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), (text) => {
        const r = parseReply(text);
        if (r.kind === 'yes') expect(text.normalize('NFKC').toUpperCase()).toMatch(/(^|[^A-Z])(YES|Y|ACCEPT)/);
        if ((r.kind === 'yes' || r.kind === 'no') && r.code) expect(text.normalize('NFKC').toUpperCase()).toContain(r.code);
      }),
    );
  });
});

describe('answerToUnclearReply', () => {
  const today = new Date('2026-12-01T00:00:00Z');
  it('helps once per live offer, whatever else the patient sends', () => {
    const a = answerToUnclearReply({ patientId: 'p1', liveOfferIds: ['o2'], today });
    expect(a).toEqual({ kind: 'help', dedupeKey: 'help-offer-o2' });
    expect(answerToUnclearReply({ patientId: 'p1', liveOfferIds: ['o2'], today: new Date('2026-12-02T00:00:00Z') })).toEqual(a);
    expect(answerToUnclearReply({ patientId: 'p1', liveOfferIds: ['o3'], today }).dedupeKey).not.toBe(a.dedupeKey);
  });

  it('answers a number with no live offer politely, once a day', () => {
    expect(answerToUnclearReply({ patientId: 'p1', liveOfferIds: [], today })).toEqual({ kind: 'no_offer', dedupeKey: 'no-offer-p1-2026-12-01' });
    expect(answerToUnclearReply({ patientId: 'p1', liveOfferIds: [], today: new Date('2026-12-02T00:00:00Z') }).dedupeKey).toBe('no-offer-p1-2026-12-02');
  });
});

describe('answerToBareReply', () => {
  const now = new Date('2026-12-01T10:00:00Z');
  const ago = (minutes: number) => new Date(now.getTime() - minutes * 60_000);
  /** An offer the patient saw, ended `endedMinutesAgo` (null: live). */
  const offer = (id: string, status: string, endedMinutesAgo: number | null = null, more: Partial<NumberOffer> = {}): NumberOffer => ({
    id, status, endedAt: endedMinutesAgo === null ? null : ago(endedMinutesAgo), offerTextSent: true, ...more,
  });
  const yes = (ended: NumberOffer[], live: NumberOffer[] = []) => answerToBareReply({ intent: 'yes', live, ended }, now);
  const no = (ended: NumberOffer[], live: NumberOffer[] = []) => answerToBareReply({ intent: 'no', live, ended }, now);
  const help = { kind: 'help' };

  it('answers the one live offer of the number, YES or NO', () => {
    expect(yes([offer('o0', 'superseded', 1, { endedText: 'sent' })], [offer('o1', 'live')])).toEqual({ kind: 'offer', offerId: 'o1' });
    expect(no([], [offer('o1', 'live')])).toEqual({ kind: 'offer', offerId: 'o1' });
  });

  it('answers with help when the number holds two live offers', () => {
    expect(yes([], [offer('o1', 'live'), offer('o2', 'live')])).toEqual(help);
  });

  it.each(['superseded', 'withdrawn'])('says nothing new to a YES after the slot went (%s) when "no longer available" went or is on its way', (status) => {
    for (const endedText of ['queued', 'sent', 'delivered']) {
      expect(yes([offer('o1', status, 5, { endedText })])).toEqual({ kind: 'told', offerId: 'o1', outcome: 'too-late' });
    }
  });

  it('answers a YES after the slot went as its YES with the code when no "no longer available" was ever written', () => {
    expect(yes([offer('o1', 'superseded', 5, { endedText: null })])).toEqual({ kind: 'offer', offerId: 'o1' });
  });

  it.each(['skipped', 'failed'])('gives the polite answer to a YES after the slot went when its "no longer available" was %s', (endedText) => {
    expect(yes([offer('o1', 'superseded', 5, { endedText })])).toEqual(help);
  });

  it('gives the polite answer to a YES after the slot went of an offer whose own text never went (the patient never saw it)', () => {
    expect(yes([offer('o1', 'superseded', 5, { endedText: 'queued', offerTextSent: false })])).toEqual(help);
    expect(yes([offer('o1', 'withdrawn', 5, { endedText: null, offerTextSent: false })])).toEqual(help);
  });

  it('answers a YES after this patient accepted with the confirmation again once booked, nothing new while the booking is pending (its outcome is on its way), else the polite answer', () => {
    expect(yes([offer('o1', 'accepted', 5, { bookingStatus: 'confirmed' })])).toEqual({ kind: 'offer', offerId: 'o1' });
    expect(yes([offer('o1', 'accepted', 5, { bookingStatus: 'pending' })])).toEqual({ kind: 'told', offerId: 'o1', outcome: 'repeat-yes' });
    for (const bookingStatus of ['failed', null]) expect(yes([offer('o1', 'accepted', 5, { bookingStatus })])).toEqual(help);
  });

  it.each(['superseded', 'withdrawn', 'accepted', 'expired'])('gives the polite answer to a NO when nothing is live, after an offer %s a moment ago', (status) => {
    expect(no([offer('o1', status, 1, { endedText: 'sent', bookingStatus: 'confirmed' })])).toEqual(help);
  });

  it('says nothing new to a NO after this patient accepted while the booking is pending (its outcome is on its way), within the window', () => {
    expect(no([offer('o1', 'accepted', 1, { bookingStatus: 'pending' })])).toEqual({ kind: 'told', offerId: 'o1', outcome: 'decline-of-ended-offer' });
    for (const bookingStatus of ['confirmed', 'failed', null]) expect(no([offer('o1', 'accepted', 1, { bookingStatus })])).toEqual(help);
    expect(no([offer('o1', 'accepted', BARE_REPLY_TO_GONE_SLOT_HOURS * 60, { bookingStatus: 'pending' })])).toEqual(help);
    // Read against the offer that ended last: a sibling's later-ended offer decides.
    expect(no([offer('o1', 'accepted', 30, { bookingStatus: 'pending' }), offer('o2', 'expired', 1, { endedText: 'sent' })])).toEqual(help);
  });

  it('reads a bare YES against the offer that ended last, not the one listed (or made) last', () => {
    const taken = offer('a', 'superseded', 1, { endedText: 'sent' });
    const expired = offer('b', 'expired', 30, { endedText: 'sent' });
    expect(yes([expired, taken])).toEqual({ kind: 'told', offerId: 'a', outcome: 'too-late' });
    expect(yes([taken, expired])).toEqual({ kind: 'told', offerId: 'a', outcome: 'too-late' });
    expect(yes([offer('a', 'superseded', 30, { endedText: 'sent' }), offer('b', 'expired', 1, { endedText: 'sent' })])).toEqual(help);
  });

  it('reads a bare YES as about the gone slot only within the window', () => {
    const window = BARE_REPLY_TO_GONE_SLOT_HOURS * 60;
    expect(yes([offer('o1', 'superseded', window - 1, { endedText: 'sent' })])).toEqual({ kind: 'told', offerId: 'o1', outcome: 'too-late' });
    expect(yes([offer('o1', 'superseded', window, { endedText: 'sent' })])).toEqual(help);
  });

  it.each(['expired', 'declined', 'undeliverable'])('gives the polite answer after an offer that ended %s (its slot may still be on offer)', (status) => {
    expect(yes([offer('o1', status, 5, { endedText: 'sent' })])).toEqual(help);
  });

  it('gives the polite answer to a number never offered anything, or whose ended offer has no end time', () => {
    expect(yes([])).toEqual(help);
    expect(yes([offer('o1', 'superseded', null, { endedText: 'sent' })])).toEqual(help);
  });
});

describe('answerToEndedOfferReply: a YES / NO whose code names an offer that has ended', () => {
  const ended = (status: string, more: Partial<NumberOffer> = {}): NumberOffer => ({ id: 'o1', status, endedAt: new Date('2026-11-01T10:00:00Z'), offerTextSent: true, ...more });
  const named = (intent: 'yes' | 'no', offer: NumberOffer) => answerToEndedOfferReply({ intent, offer, named: true });
  const help = { kind: 'help' };

  it.each(['superseded', 'withdrawn', 'expired', 'declined', 'undeliverable'])('gives a NO for an offer %s the help text or polite answer, not silence', (status) => {
    for (const endedText of [null, 'queued', 'sent', 'skipped', 'failed']) expect(named('no', ended(status, { endedText }))).toEqual(help);
  });

  it('says nothing new to a NO for an offer accepted while its booking is pending (its outcome is on its way), else the polite answer', () => {
    expect(named('no', ended('accepted', { bookingStatus: 'pending' }))).toEqual({ kind: 'told', offerId: 'o1', outcome: 'decline-of-ended-offer' });
    for (const bookingStatus of ['confirmed', 'failed', null]) expect(named('no', ended('accepted', { bookingStatus }))).toEqual(help);
  });

  it.each(['superseded', 'withdrawn', 'expired'])('says nothing new to a YES for an offer %s whose ended text went or is on its way, whenever it ended', (status) => {
    for (const endedText of ['queued', 'sent', 'delivered']) {
      expect(named('yes', ended(status, { endedText }))).toEqual({ kind: 'told', offerId: 'o1', outcome: 'too-late' });
      // The code shows the offer text reached them, though not yet recorded as sent.
      expect(named('yes', ended(status, { endedText, offerTextSent: false }))).toEqual({ kind: 'told', offerId: 'o1', outcome: 'too-late' });
    }
  });

  it.each(['skipped', 'failed'])('gives a YES for a gone slot whose "no longer available" was %s the polite answer (or help), once', (endedText) => {
    for (const status of ['superseded', 'withdrawn', 'expired']) {
      expect(named('yes', ended(status, { endedText }))).toEqual(help);
      expect(named('yes', ended(status, { endedText, offerTextSent: false }))).toEqual(help);
    }
  });

  it('answers a YES for an ended offer with no ended text yet by writing it ("no longer available")', () => {
    for (const status of ['superseded', 'declined', 'expired']) expect(named('yes', ended(status, { endedText: null }))).toEqual({ kind: 'offer', offerId: 'o1' });
  });

  it('answers a YES for an accepted offer as a bare one is: the confirmation again once booked, nothing while pending, the polite answer after "could not book"', () => {
    expect(named('yes', ended('accepted', { bookingStatus: 'confirmed' }))).toEqual({ kind: 'offer', offerId: 'o1' });
    expect(named('yes', ended('accepted', { bookingStatus: 'pending' }))).toEqual({ kind: 'told', offerId: 'o1', outcome: 'repeat-yes' });
    for (const bookingStatus of ['failed', null]) expect(named('yes', ended('accepted', { bookingStatus }))).toEqual(help);
  });

  it('reads a bare reply only after the slot went and the offer was seen, as answerToBareReply does', () => {
    expect(answerToEndedOfferReply({ intent: 'yes', offer: ended('expired', { endedText: 'sent' }), named: false })).toEqual(help);
    expect(answerToEndedOfferReply({ intent: 'yes', offer: ended('superseded', { endedText: 'queued', offerTextSent: false }), named: false })).toEqual(help);
    expect(answerToEndedOfferReply({ intent: 'yes', offer: ended('superseded', { endedText: 'queued' }), named: false })).toEqual({ kind: 'told', offerId: 'o1', outcome: 'too-late' });
  });
});
