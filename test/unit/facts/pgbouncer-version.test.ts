import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/text/errors.js';
import {
  compareVersion,
  isAtLeast,
  parsePgbouncerVersion,
  parseVersionArg,
} from '../../../src/settings/pgbouncer-version.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/pgbouncer-version');
const FIXTURE = join(FIXTURES, 'debian-12-1.18.0-1+deb12u1.txt');
const DEBIAN_BINARY = '/usr/sbin/pgbouncer';

describe('parsePgbouncerVersion', () => {
  it('parses the recorded `pgbouncer --version` of Debian 12', () => {
    const out = readFileSync(FIXTURE, 'utf8');
    expect(out.split('\n')[1]).toMatch(/^libevent /);
    expect(parsePgbouncerVersion(out)).toEqual({ major: 1, minor: 18, patch: 0, text: '1.18.0' });
  });

  // Only the version line is compared: the lines after it (libevent, c-ares, OpenSSL build strings)
  // change with every library update of the machine running the tests.
  it.skipIf(!existsSync(DEBIAN_BINARY))('parses the live output of /usr/sbin/pgbouncer the same way for --version and -V', () => {
    const live = execFileSync(DEBIAN_BINARY, ['--version'], { encoding: 'utf8' });
    const parsed = parsePgbouncerVersion(live);
    expect(parsed?.major).toBe(1);
    expect(live.split('\n')[0]).toBe(`PgBouncer ${parsed?.text}`);
    expect(parsePgbouncerVersion(execFileSync(DEBIAN_BINARY, ['-V'], { encoding: 'utf8' }))).toEqual(parsed);
  });

  it('parses the recorded -V of 1.24.1 built from source without systemd (no systemd line)', () => {
    const out = readFileSync(join(FIXTURES, 'source-build-1.24.1.txt'), 'utf8');
    expect(out).not.toContain('systemd');
    expect(parsePgbouncerVersion(out)).toEqual({ major: 1, minor: 24, patch: 1, text: '1.24.1' });
  });

  it.each([
    // 1.12+: PACKAGE_STRING
    ['PgBouncer 1.25.2\nlibevent 2.1.12-stable\nadns: c-ares 1.34.5\ntls: OpenSSL 3.5.1\nsystemd: yes\n', 1, 25, 2, '1.25.2', undefined],
    ['PgBouncer 1.12.0\n', 1, 12, 0, '1.12.0', undefined],
    // ≤1.11: FULLVER = "pgbouncer version X"
    ['pgbouncer version 1.10.0\n', 1, 10, 0, '1.10.0', undefined],
    ['pgbouncer version 1.5\n', 1, 5, 0, '1.5', undefined],
    ['pgbouncer version 1.7.2 (debug)\n', 1, 7, 2, '1.7.2', undefined],
    ['pgbouncer version 1.7rc1\n', 1, 7, 0, '1.7rc1', 'rc1'],
    // SHOW VERSION on old releases, and a bare "bouncer" prefix.
    ['PgBouncer version 1.8.1', 1, 8, 1, '1.8.1', undefined],
    ['bouncer 1.9', 1, 9, 0, '1.9', undefined],
  ])('%j', (out, major, minor, patch, text, prerelease) => {
    const v = parsePgbouncerVersion(out);
    expect(v).toMatchObject({ major, minor, patch, text });
    expect(v?.prerelease).toBe(prerelease);
  });

  it('returns undefined when there is no version', () => {
    expect(parsePgbouncerVersion('')).toBeUndefined();
    expect(parsePgbouncerVersion('bash: pgbouncer: command not found')).toBeUndefined();
    expect(parsePgbouncerVersion('libevent 2.1.12-stable')).toBeUndefined();
  });
});

describe('compareVersion / isAtLeast', () => {
  const v = (s: string) => {
    const p = parsePgbouncerVersion(`PgBouncer ${s}`);
    if (!p) throw new Error(s);
    return p;
  };

  it('orders by major, minor, patch, numerically', () => {
    expect(compareVersion(v('1.9.0'), v('1.18.0'))).toBe(-1);
    expect(compareVersion(v('1.18.1'), v('1.18.0'))).toBe(1);
    expect(compareVersion(v('1.18.0'), v('1.18'))).toBe(0);
    expect(compareVersion(v('2.0.0'), v('1.99.9'))).toBe(1);
  });

  it('puts a pre-release before its release', () => {
    expect(compareVersion(v('1.7rc1'), v('1.7.0'))).toBe(-1);
    expect(compareVersion(v('1.7.0'), v('1.7rc1'))).toBe(1);
    expect(compareVersion(v('1.7rc1'), v('1.7rc2'))).toBe(-1);
  });

  it('sorts a list', () => {
    const sorted = ['1.18.0', '1.9.1', '1.24.1', '1.7rc1', '1.7', '1.12.0'].map(v).sort(compareVersion).map((x) => x.text);
    expect(sorted).toEqual(['1.7rc1', '1.7', '1.9.1', '1.12.0', '1.18.0', '1.24.1']);
  });

  it('isAtLeast gates features', () => {
    expect(isAtLeast(v('1.18.0'), 1, 18)).toBe(true);
    expect(isAtLeast(v('1.18.0'), 1, 19)).toBe(false);
    expect(isAtLeast(v('1.21.0'), 1, 19, 0)).toBe(true);
  });
});

describe('parseVersionArg', () => {
  it('accepts X.Y and X.Y.Z', () => {
    expect(parseVersionArg('1.21')).toEqual({ major: 1, minor: 21, patch: 0, text: '1.21' });
    expect(parseVersionArg('1.18.0')).toEqual({ major: 1, minor: 18, patch: 0, text: '1.18.0' });
    expect(parseVersionArg(' 1.25.2 ')).toEqual({ major: 1, minor: 25, patch: 2, text: '1.25.2' });
  });

  it.each(['', '1', 'v1.21', '1.21.0.1', '1.x', 'latest', '1.21-rc1', '0.9', '1..2', '1.21 '.repeat(2)])(
    'rejects %j with an InputError on --pgbouncer-version',
    (bad) => {
      let err: unknown;
      try {
        parseVersionArg(bad);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).field).toBe('--pgbouncer-version');
      expect((err as InputError).exitCode).toBe(2);
    },
  );
});
