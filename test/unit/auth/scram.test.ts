import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/text/errors.js';
import {
  SCRAM_MAX_ITERATIONS,
  scramSecretShape,
  isValidScramSecret,
  parseScramSecret,
  scramPasswordBytes,
  scramSecret,
  verifyScramPassword,
} from '../../../src/auth/scram.js';
import { PG15_VERIFIERS } from './pg15-verifiers.js';

const SALT_00_0F = Buffer.from([...Array(16).keys()]);
const TR0UB4DOR =
  'SCRAM-SHA-256$4096:AAECAwQFBgcICQoLDA0ODw==$/Gwd+9c5v+IC5Mq+odz/J3O7NKYGNmuB2D4/ij1OCHk=:tXPhkknic1P9pPGQoQpkDoXOug462w13eWGI4WCoBSA=';
const PA_SS =
  'SCRAM-SHA-256$4096:AAECAwQFBgcICQoLDA0ODw==$gqTmREuALLREJijqlyGzD9G771CQBCH0Wd/d49Gjv2s=:W7lIBIQIXPwBnQvIBO787zn5bRgzD2ub7uWtjnlV8Dk=';


describe('scramSecret', () => {
  it('matches the fact-sheet vector for Tr0ub4dor&3 with salt 00..0f', () => {
    expect(scramSecret('Tr0ub4dor&3', { salt: SALT_00_0F, iterations: 4096 })).toBe(TR0UB4DOR);
    expect(scramSecret('Tr0ub4dor&3', { salt: SALT_00_0F })).toBe(TR0UB4DOR); // 4096 is the default
  });

  it('matches the intermediate values of the fact sheet', () => {
    const salted = pbkdf2Sync(scramPasswordBytes('Tr0ub4dor&3'), SALT_00_0F, 4096, 32, 'sha256');
    expect(salted.toString('hex')).toBe('1f6facc1115980dc5bcadd424761da3818ee1ecfc8dcae2bc936f8795c6776b2');
    const clientKey = createHmac('sha256', salted).update('Client Key').digest();
    expect(clientKey.toString('hex')).toBe('78598c79cfacdba356b36d69edd9b1d043d19bbd37c234dc7a375394fb4320bc');
    const parsed = parseScramSecret(TR0UB4DOR)!;
    expect(parsed.storedKey.toString('hex')).toBe(createHash('sha256').update(clientKey).digest('hex'));
    expect(parsed.storedKey.toString('hex')).toBe('fc6c1dfbd739bfe202e4cabea1dcff2773bb34a606366b81d83e3f8a3d4e0879');
    expect(parsed.serverKey.toString('hex')).toBe('b573e19249e27353fda4f190a10a640e85ceba0e3adb0d77796188e160a80520');
  });

  it('SASLprep: pa<U+00A0>ss and "pa ss" give the fact-sheet verifier', () => {
    expect(scramSecret('pa\u00a0ss', { salt: SALT_00_0F })).toBe(PA_SS);
    expect(scramSecret('pa ss', { salt: SALT_00_0F })).toBe(PA_SS);
  });

  it.each(PG15_VERIFIERS)('reproduces PostgreSQL 15 byte for byte: %s', (_name, password, verifier) => {
    const { salt, iterations } = parseScramSecret(verifier)!;
    expect(scramSecret(password, { salt, iterations })).toBe(verifier);
    expect(verifyScramPassword(verifier, password)).toBe(true);
  });

  it('uses a fresh random 16-byte salt and 4096 iterations by default', () => {
    const a = parseScramSecret(scramSecret('secret'))!;
    const b = parseScramSecret(scramSecret('secret'))!;
    expect(a.iterations).toBe(4096);
    expect(a.salt).toHaveLength(16);
    expect(a.salt.equals(b.salt)).toBe(false);
    expect(scramSecret('secret')).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
  });

  it('honours iterations and any salt length', () => {
    const s = scramSecret('pw', { iterations: 1, salt: Buffer.from([0xff]) });
    expect(s.startsWith('SCRAM-SHA-256$1:/w==$')).toBe(true);
    expect(verifyScramPassword(s, 'pw')).toBe(true);
  });

  it.each([0, -1, 1.5, Number.NaN, 2 ** 31])('rejects iterations %s with InputError(iterations)', (iterations) => {
    expect(() => scramSecret('pw', { iterations })).toThrow(InputError);
    try {
      scramSecret('pw', { iterations });
    } catch (e) {
      expect((e as InputError).field).toBe('iterations');
    }
  });

  it('rejects an empty salt', () => {
    expect(() => scramSecret('pw', { salt: Buffer.alloc(0) })).toThrow(/salt/);
  });

  it('rejects passwords no PostgreSQL client can send (empty, NUL, unpaired surrogate)', () => {
    for (const pw of ['', 'a\0b', 'a\ud800b', '\udc00']) {
      let error: unknown;
      try {
        scramSecret(pw, { salt: SALT_00_0F });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(InputError);
      expect((error as InputError).field).toBe('password');
      expect((error as InputError).message).not.toContain('\n');
    }
  });
});

describe('verifyScramPassword', () => {
  it('accepts the right password and rejects others', () => {
    expect(verifyScramPassword(TR0UB4DOR, 'Tr0ub4dor&3')).toBe(true);
    expect(verifyScramPassword(TR0UB4DOR, 'Tr0ub4dor&4')).toBe(false);
    expect(verifyScramPassword(TR0UB4DOR, '')).toBe(false);
    expect(verifyScramPassword(PA_SS, 'pa\u2000ss')).toBe(true); // another C.1.2 space
    expect(verifyScramPassword(PA_SS, 'pass')).toBe(false);
  });

  it('is false for a malformed verifier or an unsendable password', () => {
    expect(verifyScramPassword('SCRAM-SHA-256$4096:AAAA$xx:yy', 'pw')).toBe(false);
    expect(verifyScramPassword(TR0UB4DOR, 'a\0')).toBe(false);
  });

  it('property: a verifier always verifies its own password', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }), fc.uint8Array({ minLength: 1, maxLength: 24 }), (pw, salt) => {
        const s = scramSecret(pw, { salt: Buffer.from(salt), iterations: 2 });
        expect(isValidScramSecret(s)).toBe(true);
        expect(verifyScramPassword(s, pw)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('parseScramSecret / isValidScramSecret', () => {
  it('parses the fact-sheet verifier', () => {
    const p = parseScramSecret(TR0UB4DOR)!;
    expect(p.iterations).toBe(4096);
    expect(p.salt.equals(SALT_00_0F)).toBe(true);
    expect(p.storedKey).toHaveLength(32);
    expect(p.serverKey).toHaveLength(32);
  });

  const [, iterSalt, keys] = TR0UB4DOR.split('$') as [string, string, string];
  const [storedKey, serverKey] = keys.split(':') as [string, string];
  it.each([
    ['lower-case scheme', TR0UB4DOR.replace('SCRAM-SHA-256', 'scram-sha-256')],
    ['other scheme', TR0UB4DOR.replace('SCRAM-SHA-256', 'SCRAM-SHA-1')],
    ['iterations 0', TR0UB4DOR.replace('$4096:', '$0:')],
    ['negative iterations', TR0UB4DOR.replace('$4096:', '$-1:')],
    ['leading zero', TR0UB4DOR.replace('$4096:', '$04096:')],
    ['iterations over 2^31-1', TR0UB4DOR.replace('$4096:', '$2147483648:')],
    ['no iterations', TR0UB4DOR.replace('$4096:', '$:')],
    ['empty salt', `SCRAM-SHA-256$4096:$${keys}`],
    ['unpadded salt', TR0UB4DOR.replace('Dw==', 'Dw')],
    ['non-canonical salt bits', TR0UB4DOR.replace('Dw==', 'Dx==')],
    ['url-safe base64', TR0UB4DOR.replace('/Gwd', '_Gwd')],
    ['short StoredKey', `SCRAM-SHA-256$${iterSalt}$${storedKey.slice(0, 40)}=:${serverKey}`],
    ['StoredKey of 33 bytes', `SCRAM-SHA-256$${iterSalt}$${Buffer.alloc(33).toString('base64')}:${serverKey}`],
    ['unpadded ServerKey', `SCRAM-SHA-256$${iterSalt}$${storedKey}:${serverKey.slice(0, -1)}`],
    ['missing ServerKey', `SCRAM-SHA-256$${iterSalt}$${storedKey}`],
    ['trailing space', TR0UB4DOR + ' '],
    ['trailing newline', TR0UB4DOR + '\n'],
    ['leading space', ' ' + TR0UB4DOR],
    ['extra field', TR0UB4DOR + ':AAAA'],
    ['plain password', 'Tr0ub4dor&3'],
    ['md5 secret', 'md545f2603610af569b6155c45067268c6b'],
    ['empty', ''],
  ])('rejects %s', (_what, s) => {
    expect(parseScramSecret(s)).toBeUndefined();
    expect(isValidScramSecret(s)).toBe(false);
  });

  it('property: every generated verifier parses back to its parts', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.uint8Array({ minLength: 1, maxLength: 40 }), (iterations, salt) => {
        const p = parseScramSecret(scramSecret('x', { iterations, salt: Buffer.from(salt) }))!;
        expect(p.iterations).toBe(iterations);
        expect(p.salt.equals(Buffer.from(salt))).toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});

describe('iteration bounds (#17.7)', () => {
  it('writes 1 and 100000, refuses 100001 with InputError(iterations)', () => {
    expect(SCRAM_MAX_ITERATIONS).toBe(100_000);
    expect(parseScramSecret(scramSecret('pw', { iterations: 100_000 }))!.iterations).toBe(100_000);
    expect(() => scramSecret('pw', { iterations: 100_001 })).toThrow(/iterations must be a whole number from 1 to 100000/);
  });

  it.each(['0', '-1', '100001', '2147483647', '99999999999'])('reads $%s: as a SCRAM shape with an out-of-range count, never computed', (iters) => {
    const odd = TR0UB4DOR.replace('$4096:', `$${iters}:`);
    expect(scramSecretShape(odd)).toEqual({ iterationsText: iters, iterationsOk: false });
    expect(parseScramSecret(odd)).toBeUndefined();
    expect(verifyScramPassword(odd, 'Tr0ub4dor&3')).toBe(false);
  });

  it('a structurally broken verifier has no shape', () => {
    expect(scramSecretShape('SCRAM-SHA-256$4096:bad')).toBeUndefined();
    expect(scramSecretShape(TR0UB4DOR)).toEqual({ iterationsText: '4096', iterationsOk: true });
  });
});
