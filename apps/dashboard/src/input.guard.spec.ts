import { controlCharacterAt } from './input.guard';

describe('controlCharacterAt (the dashboard input guard)', () => {
  it('finds a control character in a field, a list of values or a field name, and names the field', () => {
    expect(controlCharacterAt({ email: 'ops@ics.example\u0000' })).toEqual({ field: 'email', character: 'U+0000' });
    expect(controlCharacterAt({ trust: ['RQM', 'R\u0007AS'] })).toEqual({ field: 'trust', character: 'U+0007' });
    expect(controlCharacterAt({ 'a\u0000': 'x' })).toEqual({ field: null, character: 'U+0000' });
  });

  it('lets free text keep tabs and line breaks, and passes what is not text', () => {
    expect(controlCharacterAt({ note: 'Trust asked to resend.\r\n\tNothing else to do.', waveSize: '5' })).toBeNull();
    expect(controlCharacterAt(undefined)).toBeNull();
    expect(controlCharacterAt({ n: 5, ok: true, none: null })).toBeNull();
  });
});
