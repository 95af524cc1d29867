import { describe, expect, it } from 'vitest';
import { isValidMd5Secret, md5Secret, verifyMd5Password } from '../../../src/auth/md5.js';

describe('md5Secret', () => {
  it.each([
    ['admin', '1234', 'md545f2603610af569b6155c45067268c6b'],
    ['pgb_md5', 'Tr0ub4dor&3', 'md5fef380d29daf6b0a0fe92caf082670f6'],
    ['pgb_test', 'Tr0ub4dor&3', 'md55e57faa4bee233498fc908a515ebc54b'],
    // Stored by PostgreSQL 15 for CREATE ROLE "üser" PASSWORD 'pä' with password_encryption = md5.
    ['\u00fcser', 'p\u00e4', 'md58a311c06568783f7e9669b2b1f9ecfbb'],
  ])('user %s, password %s gives the fact-sheet vector', (user, password, secret) => {
    expect(md5Secret(user, password)).toBe(secret);
    expect(isValidMd5Secret(secret)).toBe(true);
    expect(verifyMd5Password(secret, user, password)).toBe(true);
  });

  it('hashes password first, then user name, as UTF-8', () => {
    // md5('1234admin') — swapping the order gives a different secret.
    expect(md5Secret('1234', 'admin')).not.toBe(md5Secret('admin', '1234'));
    // Non-ASCII is hashed as UTF-8 bytes (python: hashlib.md5('pä'.encode() + 'ü'.encode())).
    expect(md5Secret('ü', 'pä')).toBe('md578a7c313b1f927b53c805e31d9043849');
  });

  it('verifyMd5Password rejects a wrong password or user', () => {
    const s = md5Secret('admin', '1234');
    expect(verifyMd5Password(s, 'admin', '12345')).toBe(false);
    expect(verifyMd5Password(s, 'admin2', '1234')).toBe(false);
    expect(verifyMd5Password('md5xyz', 'admin', '1234')).toBe(false);
  });
});

describe('isValidMd5Secret', () => {
  it.each([
    ['md545f2603610af569b6155c45067268c6b', true],
    ['md545F2603610AF569B6155C45067268C6B', false], // uppercase: PostgreSQL takes it as plain text
    ['md545f2603610af569b6155c45067268c6', false], // 31 hex
    ['md545f2603610af569b6155c45067268c6bb', false], // 33 hex
    ['MD545f2603610af569b6155c45067268c6b', false],
    ['md545f2603610af569b6155c45067268c6g', false],
    [' md545f2603610af569b6155c45067268c6b', false],
    ['md545f2603610af569b6155c45067268c6b\n', false],
    ['', false],
  ])('%j -> %s', (s, ok) => {
    expect(isValidMd5Secret(s)).toBe(ok);
  });
});
