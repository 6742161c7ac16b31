import { isUkPostcode, normaliseUkPostcode } from './postcode';

describe('normaliseUkPostcode', () => {
  it.each([
    ['SW10 9NH', 'SW10 9NH'],
    ['sw109nh', 'SW10 9NH'],
    ['  tw7   6af ', 'TW7 6AF'],
    ['W2 1NY', 'W2 1NY'],
    ['W12 0HS', 'W12 0HS'],
    ['M1 1AE', 'M1 1AE'],
    ['B33 8TH', 'B33 8TH'],
    ['CR2 6XH', 'CR2 6XH'],
    ['DN55 1PT', 'DN55 1PT'],
    ['W1A 0AX', 'W1A 0AX'],
    ['EC1A 1BB', 'EC1A 1BB'],
    ['gir 0aa', 'GIR 0AA'],
  ])('%p -> %p', (input, expected) => {
    expect(normaliseUkPostcode(input)).toBe(expected);
  });

  it.each([
    ['SW10', 'outward code only'],
    ['SW10 9N', 'short inward code'],
    ['Q1 1AA', 'Q never starts a postcode'],
    ['AI1 1AA', 'I is never second'],
    ['SW10 9CH', 'C is never in the inward code'],
    ['W1I 0AX', 'I is never third in A9A'],
    ['SW1-9NH', 'hyphen'],
    ['SW10 9NH X', 'extra text'],
    ['12345', 'a ZIP code'],
    ['', 'empty'],
  ])('rejects %p (%s)', (input) => {
    expect(normaliseUkPostcode(input)).toBeNull();
    expect(isUkPostcode(input)).toBe(false);
  });
});
