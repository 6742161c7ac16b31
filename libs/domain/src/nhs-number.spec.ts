import fc from 'fast-check';
import { formatNhsNumber, isValidNhsNumber, maskNhsNumber, nhsNumberCheckDigit, normaliseNhsNumber, syntheticNhsNumber, syntheticNhsNumbers } from './nhs-number';

const digits = (n: number) => fc.array(fc.integer({ min: 0, max: 9 }), { minLength: n, maxLength: n }).map((d) => d.join(''));
/** Ten digits with a correct check digit: the first nine drawn freely, skipping those that can never be valid. */
const validNhsNumber = digits(9)
  .filter((nine) => nhsNumberCheckDigit(nine) !== null)
  .map((nine) => `${nine}${nhsNumberCheckDigit(nine)}`);

describe('NHS number', () => {
  it.each(['9990000018', '9434765919', '4010232137', '999 000 0018', ' 9990000018 ', '999\t000\t0018'])('accepts %p', (s) => {
    expect(isValidNhsNumber(s)).toBe(true);
  });

  it.each([
    ['9990000019', 'wrong check digit'],
    ['9434765918', 'wrong check digit'],
    ['999000001', 'nine digits'],
    ['99900000180', 'eleven digits'],
    ['999-000-0018', 'dashes are not whitespace'],
    ['999000001O', 'letter O for zero'],
    ['', 'empty'],
    ['+990000018', 'sign'],
  ])('rejects %p (%s)', (s) => {
    expect(isValidNhsNumber(s)).toBe(false);
    expect(normaliseNhsNumber(s)).toBeNull();
  });

  it('treats a remainder giving check digit 11 as 0, and one giving 10 as never valid', () => {
    // 999000001: 9*10 + 9*9 + 9*8 + 1*2 = 245; 245 % 11 = 3; 11 - 3 = 8.
    expect(nhsNumberCheckDigit('999000001')).toBe(8);
    // 000000014: 1*3 + 4*2 = 11; 11 % 11 = 0; 11 - 0 = 11, written as 0.
    expect(nhsNumberCheckDigit('000000014')).toBe(0);
    expect(isValidNhsNumber('0000000140')).toBe(true);
    // 100000001: 1*10 + 1*2 = 12; 12 % 11 = 1; 11 - 1 = 10: no number starting with these nine digits exists.
    expect(nhsNumberCheckDigit('100000001')).toBeNull();
    expect([...'0123456789'].some((d) => isValidNhsNumber(`100000001${d}`))).toBe(false);
  });

  it('normalises to the bare ten digits and formats 3-3-4', () => {
    expect(normaliseNhsNumber(' 999 000 0018 ')).toBe('9990000018');
    expect(formatNhsNumber('9990000018')).toBe('999 000 0018');
    expect(formatNhsNumber('9990000019')).toBeNull();
  });

  it('masks all but the last four digits, and all of anything malformed', () => {
    expect(maskNhsNumber('9990000018')).toBe('*** *** 0018');
    expect(maskNhsNumber('999 000 0018')).toBe('*** *** 0018');
    expect(maskNhsNumber('99900000')).toBe('*** *** ****');
    expect(maskNhsNumber('not a number')).toBe('*** *** ****');
  });

  it('builds synthetic numbers only in the never-issued 999 range, moving past bases without a check digit', () => {
    // 999000000 has no valid check digit (remainder 10), so seeds 0 and 1 land on the same base.
    expect(nhsNumberCheckDigit('999000000')).toBeNull();
    expect(syntheticNhsNumber(0)).toBe(syntheticNhsNumber(1));
    expect(syntheticNhsNumber(0)).toBe('9990000018');
    const many = [...take(syntheticNhsNumbers(0), 2_000)];
    expect(new Set(many).size).toBe(2_000);
    expect(many.every((n) => n.startsWith('999') && isValidNhsNumber(n))).toBe(true);
  });

  describe('properties', () => {
    it('every number built with its check digit is valid, however it is spaced', () => {
      fc.assert(
        fc.property(validNhsNumber, fc.array(fc.integer({ min: 0, max: 10 }), { maxLength: 4 }), (n, cuts) => {
          let spaced = n;
          for (const at of [...cuts].sort((a, b) => b - a)) spaced = `${spaced.slice(0, at)} ${spaced.slice(at)}`;
          expect(isValidNhsNumber(spaced)).toBe(true);
          expect(normaliseNhsNumber(spaced)).toBe(n);
        }),
      );
    });

    it('any single mistyped digit is caught', () => {
      fc.assert(
        fc.property(validNhsNumber, fc.integer({ min: 0, max: 9 }), fc.integer({ min: 1, max: 9 }), (n, pos, delta) => {
          const wrong = `${n.slice(0, pos)}${(Number(n[pos]) + delta) % 10}${n.slice(pos + 1)}`;
          expect(isValidNhsNumber(wrong)).toBe(false);
        }),
      );
    });

    it('any swap of two different adjacent digits is caught', () => {
      fc.assert(
        fc.property(validNhsNumber, fc.integer({ min: 0, max: 8 }), (n, pos) => {
          fc.pre(n[pos] !== n[pos + 1]);
          const swapped = `${n.slice(0, pos)}${n[pos + 1]}${n[pos]}${n.slice(pos + 2)}`;
          expect(isValidNhsNumber(swapped)).toBe(false);
        }),
      );
    });

    it('exactly one check digit in ten makes nine digits valid, or none when the remainder gives 10', () => {
      fc.assert(
        fc.property(digits(9), (nine) => {
          const valid = [...'0123456789'].filter((d) => isValidNhsNumber(nine + d));
          expect(valid.length).toBe(nhsNumberCheckDigit(nine) === null ? 0 : 1);
        }),
      );
    });

    it('nothing but digits and whitespace is ever valid, and the mask never shows more than four digits', () => {
      fc.assert(
        fc.property(fc.string({ maxLength: 14 }), (s) => {
          if (/[^\d\s]/.test(s)) expect(isValidNhsNumber(s)).toBe(false);
          const mask = maskNhsNumber(s);
          expect(mask).toMatch(/^\*\*\* \*\*\* (\d{4}|\*{4})$/);
        }),
      );
    });
  });
});

function* take<T>(it: Iterable<T>, n: number): Generator<T> {
  if (n <= 0) return;
  for (const v of it) {
    yield v;
    if (--n === 0) return;
  }
}
