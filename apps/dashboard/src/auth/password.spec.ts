import { hashPassword, passwordProblem, verifyPassword } from './password';

describe('password hashing (scrypt)', () => {
  it('verifies the right password and refuses a wrong one; the stored form names its parameters', async () => {
    const stored = await hashPassword('correct horse battery staple', 12);
    expect(stored).toMatch(/^scrypt\$4096\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(await verifyPassword('correct horse battery staple', stored)).toBe(true);
    expect(await verifyPassword('correct horse battery stapler', stored)).toBe(false);
  });

  it('salts every hash', async () => {
    expect(await hashPassword('same password twice', 10)).not.toBe(await hashPassword('same password twice', 10));
  });

  it('refuses malformed or absurd stored hashes instead of throwing', async () => {
    for (const s of ['', 'bcrypt$x', 'scrypt$0$8$1$aa$bb', `scrypt$${2 ** 24}$8$1$aa$bb`, 'scrypt$abc$8$1$aa$bb']) {
      expect(await verifyPassword('anything', s)).toBe(false);
    }
  });

  it('asks for length and refuses the obvious', () => {
    expect(passwordProblem('short', 'a@b.c')).toMatch(/12 characters/);
    expect(passwordProblem('password1234567', 'a@b.c')).toMatch(/harder to guess/);
    expect(passwordProblem('x'.repeat(201), 'a@b.c')).toMatch(/at most/);
    expect(passwordProblem('a long passphrase of words', 'a@b.c')).toBeNull();
  });
});
