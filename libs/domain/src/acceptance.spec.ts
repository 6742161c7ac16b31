import { decideAcceptance } from './acceptance';
import { DEFAULT_POLICY } from './policy';

const now = new Date('2026-11-30T10:00:00Z');
const HOUR = 3_600_000;
const live = { status: 'live', expiresAt: new Date(now.getTime() + HOUR) };
const open = { status: 'offering', start: new Date(now.getTime() + 72 * HOUR) };

describe('decideAcceptance', () => {
  it('claims a live offer for a slot still offered outside the notice window', () => {
    expect(decideAcceptance({ offer: live, slot: open }, now, DEFAULT_POLICY)).toEqual({ kind: 'claim' });
  });

  it('answers a repeated YES with the confirmation only once the PAS has confirmed', () => {
    const accepted = { ...live, status: 'accepted' };
    expect(decideAcceptance({ offer: accepted, slot: { ...open, status: 'booked' }, booking: { status: 'confirmed' } }, now, DEFAULT_POLICY))
      .toEqual({ kind: 'repeat', resendConfirmation: true });
    expect(decideAcceptance({ offer: accepted, slot: { ...open, status: 'booked' }, booking: { status: 'pending' } }, now, DEFAULT_POLICY))
      .toEqual({ kind: 'repeat', resendConfirmation: false });
  });

  it.each([
    ['the offer was superseded', { offer: { ...live, status: 'superseded' }, slot: { ...open, status: 'booked' } }, /superseded/],
    ['the slot was booked by someone else', { offer: live, slot: { ...open, status: 'booked' } }, /booked/],
    ['the offer expired', { offer: { ...live, expiresAt: now }, slot: open }, /expired/],
    ['the slot is now inside the minimum notice', { offer: live, slot: { ...open, start: new Date(now.getTime() + 23 * HOUR) } }, /notice/],
    ['another YES won the race at the database', { offer: live, slot: open, lostRace: true }, /first/],
  ])('says "no longer available" when %s', (_why, facts, reason) => {
    const d = decideAcceptance(facts, now, DEFAULT_POLICY);
    expect(d.kind).toBe('no-longer-available');
    expect(d.kind === 'no-longer-available' && d.why).toMatch(reason);
  });
});
