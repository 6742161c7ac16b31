import fc from 'fast-check';
import { DomainError } from './errors';
import { canTransitionOffer, generateOfferCode, isLive, isOfferCode, isWaveOver, OFFER_STATUSES, OfferStatus } from './offer';

const always = (r: number) => () => r;
const sequence = (...rs: number[]) => {
  let i = 0;
  return () => rs[i++ % rs.length];
};

describe('generateOfferCode', () => {
  it('maps [0, 1) onto 1000-9999', () => {
    expect(generateOfferCode(always(0))).toBe('1000');
    expect(generateOfferCode(always(0.5))).toBe('5500');
    expect(generateOfferCode(always(0.999999))).toBe('9999');
  });

  it('draws again when a code is taken', () => {
    expect(generateOfferCode(sequence(0, 0, 0.5), new Set(['1000']))).toBe('5500');
  });

  it('still finds a free code when random keeps hitting taken ones, wrapping past 9999', () => {
    expect(generateOfferCode(always(0), new Set(['1000', '1001']))).toBe('1002');
    expect(generateOfferCode(always(0.999999), new Set(['9999']))).toBe('1000');
  });

  it('finds the last free code and fails only when none is left', () => {
    const all = new Set(Array.from({ length: 9000 }, (_, i) => String(1000 + i)));
    all.delete('7321');
    expect(generateOfferCode(always(0.1), all)).toBe('7321');
    all.add('7321');
    expect(() => generateOfferCode(always(0.1), all)).toThrow(DomainError);
  });

  it.each([1, -0.1, Number.NaN, 2])('refuses a random source returning %p', (r) => {
    expect(() => generateOfferCode(always(r))).toThrow(DomainError);
  });

  it('always gives a valid 4-digit code not already taken', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 1, maxLength: 20 }),
        fc.uniqueArray(fc.integer({ min: 1000, max: 9999 }).map(String), { maxLength: 200 }),
        (draws, taken) => {
          const code = generateOfferCode(sequence(...draws), new Set(taken));
          expect(code).toMatch(/^[1-9]\d{3}$/);
          expect(isOfferCode(code)).toBe(true);
          expect(taken).not.toContain(code);
        },
      ),
    );
  });
});

describe('offer lifecycle', () => {
  it('only live is live', () => {
    expect(OFFER_STATUSES.filter(isLive)).toEqual(['live']);
  });

  it('leaves live once, to any final status, and never comes back', () => {
    for (const from of OFFER_STATUSES) {
      for (const to of OFFER_STATUSES) {
        expect(canTransitionOffer(from, to)).toBe(from === 'live' && to !== 'live');
      }
    }
  });

  it.each<[OfferStatus[], boolean]>([
    [['live', 'live', 'live'], false],
    [['declined', 'live', 'undeliverable'], false],
    [['declined', 'expired', 'undeliverable'], true],
    [['accepted', 'live', 'live'], true],
    [['superseded', 'accepted', 'superseded'], true],
    [[], true],
  ])('a wave of %p is over: %p', (statuses, over) => {
    expect(isWaveOver(statuses)).toBe(over);
  });

  it('recognises offer codes', () => {
    expect(isOfferCode('4821')).toBe(true);
    for (const s of ['0821', '482', '48210', 'abcd']) expect(isOfferCode(s)).toBe(false);
  });
});
