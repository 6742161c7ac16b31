import fc from 'fast-check';
import { isDramaRangeMobile, isUkMobile, maskMobile, normaliseUkMobile } from './mobile';

describe('normaliseUkMobile', () => {
  it.each([
    ['07700900123', '+447700900123'],
    ['07700 900123', '+447700900123'],
    ['07700-900-123', '+447700900123'],
    ['(07700) 900123', '+447700900123'],
    ['447700900123', '+447700900123'],
    ['+447700900123', '+447700900123'],
    ['+44 7700 900123', '+447700900123'],
    ['+44 (0)7700 900123', '+447700900123'],
    ['00447700900123', '+447700900123'],
    ['07911 123456', '+447911123456'],
    ['07624 123456', '+447624123456'],
  ])('%p -> %p', (input, e164) => {
    expect(normaliseUkMobile(input)).toBe(e164);
  });

  it.each([
    ['0770090012', 'too short'],
    ['077009001234', 'too long'],
    ['02079460123', 'London landline'],
    ['+442079460123', 'landline in international form'],
    ['07012345678', '070 personal number'],
    ['07612345678', '076 pager'],
    ['+337700900123', 'French'],
    ['7700900123', 'no trunk prefix'],
    ['07700 900123 ext 1', 'trailing words'],
    ['', 'empty'],
  ])('rejects %p (%s)', (input) => {
    expect(normaliseUkMobile(input)).toBeNull();
    expect(isUkMobile(input)).toBe(false);
  });

  it('gives the same E.164 for the national and international spellings of any mobile', () => {
    fc.assert(
      fc.property(fc.constantFrom('71', '72', '73', '74', '75', '77', '78', '79'), fc.integer({ min: 0, max: 99_999_999 }), (prefix, rest) => {
        const national = `0${prefix}${String(rest).padStart(8, '0')}`;
        const e164 = normaliseUkMobile(national);
        expect(e164).toBe(`+44${national.slice(1)}`);
        expect(normaliseUkMobile(`+44 ${national.slice(1, 5)} ${national.slice(5)}`)).toBe(e164);
        expect(normaliseUkMobile(e164 as string)).toBe(e164);
      }),
    );
  });
});

describe('isDramaRangeMobile', () => {
  it.each(['+447700900000', '+447700900999', '07700 900123'])('%p is in Ofcom drama range', (n) => {
    expect(isDramaRangeMobile(n)).toBe(true);
  });
  it.each(['+447700901000', '+447700899999', '+447911123456', 'garbage'])('%p is not', (n) => {
    expect(isDramaRangeMobile(n)).toBe(false);
  });
});

describe('maskMobile', () => {
  it('shows only the last four digits', () => {
    expect(maskMobile('+447700900123')).toBe('*******0123');
    expect(maskMobile('123')).toBe('***********');
  });
});
