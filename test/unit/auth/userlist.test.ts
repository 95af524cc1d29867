import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/text/errors.js';
import { scramSecret } from '../../../src/auth/scram.js';
import {
  findUserlistSecret,
  formatUserlistEntry,
  parseUserlist,
  removeUserlistEntry,
  upsertUserlistEntry,
  USERLIST_MAX_SECRET_BYTES,
  USERLIST_MAX_USERNAME_BYTES,
  validateSecret,
  validateUsername,
} from '../../../src/auth/userlist.js';

const SCRAM = scramSecret('Tr0ub4dor&3', { salt: Buffer.from([...Array(16).keys()]) });

function inputError(fn: () => unknown): InputError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    const err = e as InputError;
    expect(err.message).not.toMatch(/[\r\n]/); // one line
    return err;
  }
  throw new Error('expected an InputError');
}

describe('parseUserlist', () => {
  it('reads entries, comments and blank lines, keeping every line', () => {
    const text = [
      '; managed by pgb-setup',
      '"app" "' + SCRAM + '"',
      '',
      '   ;indented comment',
      '  \t',
      '\t"admin" "md545f2603610af569b6155c45067268c6b"',
      '"we""ird" "pa""ss"',
      '"back\\slash" "c:\\dir\\"',
      '"sp ace" "x" trailing text pgbouncer ignores',
      '"gap"   junk between fields   "y"',
      '"ünï" "パスワード"',
      '"" ""',
      '',
    ].join('\n');
    const list = parseUserlist(text);
    expect(list.trailingNewline).toBe(true);
    expect(list.lines.map((l) => l.kind)).toEqual([
      'comment', 'entry', 'blank', 'comment', 'blank', 'entry', 'entry', 'entry', 'entry', 'entry', 'entry', 'entry',
    ]);
    expect(list.lines.map((l) => l.raw).join('\n') + '\n').toBe(text);
    expect(list.entries).toEqual([
      { user: 'app', secret: SCRAM, line: 2 },
      { user: 'admin', secret: 'md545f2603610af569b6155c45067268c6b', line: 6 },
      { user: 'we"ird', secret: 'pa"ss', line: 7 },
      { user: 'back\\slash', secret: 'c:\\dir\\', line: 8 },
      { user: 'sp ace', secret: 'x', line: 9 },
      { user: 'gap', secret: 'y', line: 10 },
      { user: 'ünï', secret: 'パスワード', line: 11 },
      { user: '', secret: '', line: 12 },
    ]);
  });

  it('handles empty text, no trailing newline and CRLF lines', () => {
    expect(parseUserlist('')).toEqual({ lines: [], entries: [], trailingNewline: false });
    const list = parseUserlist('"a" "1"\r\n; c\r\n"b" "2"');
    expect(list.trailingNewline).toBe(false);
    expect(list.entries.map((e) => [e.user, e.secret])).toEqual([['a', '1'], ['b', '2']]);
    expect(list.lines[0]!.raw).toBe('"a" "1"\r');
  });

  it('findUserlistSecret returns the last entry, as pgbouncer does', () => {
    const list = parseUserlist('"a" "1"\n"b" "2"\n"a" "3"\n');
    expect(findUserlistSecret(list, 'a')).toBe('3');
    expect(findUserlistSecret(list, 'b')).toBe('2');
    expect(findUserlistSecret(list, 'c')).toBeUndefined();
  });

  it.each([
    ['# comment', 2, /starts with '#'.*change '#' to ';'/],
    ['  # indented hash', 2, /starts with '#'/],
    ['app "secret"', 2, /starts with 'a'.*"user" "secret"/],
    ["'app' 'secret'", 2, /starts with '''/],
    ['\ufeff"app" "x"', 2, /byte-order mark/],
    ['"app" "x\0y"', 2, /NUL/],
    ['"app', 2, /user name is not closed/],
    ['"app" secret', 2, /no quoted secret/],
    ['"app"', 2, /no quoted secret/],
    ['"app" "secret', 2, /secret is not closed/],
  ])('reports %j as malformed at its line', (bad, line, problem) => {
    const err = inputError(() => parseUserlist(`"ok" "1"\n${bad}\n"later" "2"\n`));
    expect(err.message).toMatch(new RegExp(`^userlist\\.txt line ${line} `));
    expect(err.message).toMatch(problem);
    expect(err.field).toBe('userlist.txt');
  });

  it('reads a stray quote exactly as pgbouncer does', () => {
    // pgbouncer: user `ap` ends at the undoubled quote; the secret opens at the next quote.
    expect(parseUserlist('"ap"p" "x"').entries).toEqual([{ user: 'ap', secret: ' ', line: 1 }]);
  });

  it('uses the given file name in messages', () => {
    const err = inputError(() => parseUserlist('#x\n', { name: '/etc/pgbouncer/userlist.txt' }));
    expect(err.message).toMatch(/^\/etc\/pgbouncer\/userlist\.txt line 1 /);
    expect(err.field).toBe('/etc/pgbouncer/userlist.txt');
  });

  it('enforces pgbouncer limits on the field as written (doubled quotes count twice)', () => {
    const u127 = 'u'.repeat(USERLIST_MAX_USERNAME_BYTES);
    expect(parseUserlist(`"${u127}" "x"`).entries[0]!.user).toBe(u127);
    expect(inputError(() => parseUserlist(`"${u127}u" "x"`)).message).toMatch(/line 1 user name is 128 bytes/);
    // 63 quote characters are written as 126 bytes, plus 'ab' = 128 bytes.
    expect(inputError(() => parseUserlist(`"${'""'.repeat(63)}ab" "x"`)).message).toMatch(/user name is 128 bytes/);
    // multi-byte characters count in bytes: 64 × 'é' (2 bytes each) = 128 bytes
    expect(inputError(() => parseUserlist(`"${'é'.repeat(64)}" "x"`)).message).toMatch(/128 bytes/);
    const s2047 = 's'.repeat(USERLIST_MAX_SECRET_BYTES);
    expect(parseUserlist(`"u" "${s2047}"`).entries[0]!.secret).toBe(s2047);
    expect(inputError(() => parseUserlist(`"u" "${s2047}s"`)).message).toMatch(/secret is 2048 bytes/);
  });
});

describe('validateUsername / validateSecret', () => {
  it.each([
    ['', /empty/],
    ['a\0b', /NUL/],
    ['a\nb', /line break/],
    ['a\rb', /line break/],
    ['a\ud800', /surrogate/],
    ['u'.repeat(128), /128 bytes/],
    ['"'.repeat(64), /128 bytes/],
  ])('validateUsername rejects %j', (name, problem) => {
    const err = inputError(() => validateUsername(name));
    expect(err.field).toBe('username');
    expect(err.message).toMatch(problem);
  });

  it('validateUsername accepts quotes, spaces, backslashes, ; # and non-ASCII', () => {
    for (const name of ['app', 'we"ird', 'sp ace', 'back\\slash', ';x', '#x', 'ünï', '用户', 'a\tb', 'u'.repeat(127), '"'.repeat(63)]) {
      expect(() => validateUsername(name)).not.toThrow();
    }
  });

  it.each([
    ['', /empty/],
    ['a\0b', /NUL/],
    ['a\nb', /line break/],
    ['a\r', /line break/],
    ['s'.repeat(2048), /2048 bytes/],
    ['"'.repeat(1024), /2048 bytes/],
    [SCRAM.slice(0, -2), /SCRAM-SHA-256 verifier but is malformed/],
    [SCRAM.replace('$4096:', '$0:'), /malformed/],
    ['md5' + 'A'.repeat(32), /MD5 secret/],
    ['md5' + 'a'.repeat(31), /MD5 secret/],
  ])('validateSecret rejects %j', (secret, problem) => {
    const err = inputError(() => validateSecret(secret));
    expect(err.field).toBe('secret');
    expect(err.message).toMatch(problem);
  });

  it('validateSecret accepts verifiers and plain passwords', () => {
    for (const secret of [SCRAM, 'md545f2603610af569b6155c45067268c6b', 'plain pass"word\\', 'md5isnotahash', 's'.repeat(2047)]) {
      expect(() => validateSecret(secret)).not.toThrow();
    }
  });
});

describe('formatUserlistEntry', () => {
  it('quotes both fields and doubles embedded quotes only', () => {
    expect(formatUserlistEntry('we"ird', 'pa"ss')).toBe('"we""ird" "pa""ss"');
    expect(formatUserlistEntry('back\\slash', 'a b;#')).toBe('"back\\slash" "a b;#"');
    expect(formatUserlistEntry('"', '""')).toBe('"""" """"""');
  });

  it('validates both fields', () => {
    expect(inputError(() => formatUserlistEntry('a\nb', 'x')).field).toBe('username');
    expect(inputError(() => formatUserlistEntry('a', 'x\ny')).field).toBe('secret');
  });
});

describe('upsertUserlistEntry', () => {
  const base = '; header\n"a" "1"\n\n"b" "2" # trailing\n;footer\n';

  it('replaces the user line in place and keeps every other line', () => {
    expect(upsertUserlistEntry(base, 'b', 'new')).toBe('; header\n"a" "1"\n\n"b" "new"\n;footer\n');
  });

  it('appends a new user, keeping the trailing-newline convention', () => {
    expect(upsertUserlistEntry(base, 'c', '3')).toBe(base + '"c" "3"\n');
    expect(upsertUserlistEntry('"a" "1"', 'c', '3')).toBe('"a" "1"\n"c" "3"');
    expect(upsertUserlistEntry('', 'c', '3')).toBe('"c" "3"\n');
  });

  it('keeps CRLF line ends', () => {
    expect(upsertUserlistEntry('"a" "1"\r\n"b" "2"\r\n', 'a', 'x')).toBe('"a" "x"\r\n"b" "2"\r\n');
    expect(upsertUserlistEntry('"a" "1"\r\n', 'c', '3')).toBe('"a" "1"\r\n"c" "3"\r\n');
  });

  it('collapses duplicate lines of the same user into the first one', () => {
    expect(upsertUserlistEntry('"a" "1"\n"b" "2"\n"a" "3"\n', 'a', 'x')).toBe('"a" "x"\n"b" "2"\n');
  });

  it('matches user names exactly (quotes, case, spaces)', () => {
    const text = '"we""ird" "1"\n"We""ird" "2"\n"we""ird " "3"\n';
    expect(upsertUserlistEntry(text, 'we"ird', 'x')).toBe('"we""ird" "x"\n"We""ird" "2"\n"we""ird " "3"\n');
  });

  it('refuses to edit a file pgbouncer cannot read, and invalid values', () => {
    expect(inputError(() => upsertUserlistEntry('"a" "1"\n# bad\n', 'b', '2')).message).toMatch(/line 2/);
    expect(inputError(() => upsertUserlistEntry('"a" "1"\n', 'b\n"evil"', '2')).field).toBe('username');
  });
});

describe('removeUserlistEntry', () => {
  it('removes every line of the user and nothing else', () => {
    expect(removeUserlistEntry('; c\n"a" "1"\n"b" "2"\n"a" "3"\n', 'a')).toBe('; c\n"b" "2"\n');
    expect(removeUserlistEntry('"a" "1"\n"b" "2"', 'b')).toBe('"a" "1"');
    expect(removeUserlistEntry('"a" "1"\n', 'a')).toBe('');
  });

  it('returns the text unchanged when the user is absent', () => {
    const text = '; c\r\n"a" "1"';
    expect(removeUserlistEntry(text, 'zz')).toBe(text);
  });

  it('refuses a broken file', () => {
    expect(() => removeUserlistEntry('#x\n', 'a')).toThrow(InputError);
  });
});

// ---------------------------------------------------------------------------------------------
// Property tests

const tricky = fc.constantFrom('"', '""', '\\', ';', '#', ' ', '\t', "'", '=', '$', ':', 'é', 'ß', 'ü', '用', '\u00a0', '\u{1f600}', '\u202e', '\u0627');
const fieldText = (maxLength: number) =>
  fc
    .array(fc.oneof(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 4 }), tricky, fc.string({ unit: 'grapheme', maxLength: 2 })), {
      minLength: 1,
      maxLength,
    })
    .map((parts) => parts.join(''))
    .filter((s) => !/[\r\n\0]/.test(s) && s.length > 0);

function isValid(check: (s: string) => void, s: string): boolean {
  try {
    check(s);
    return true;
  } catch {
    return false;
  }
}

const userArb = fieldText(20).filter((s) => isValid(validateUsername, s));
const secretArb = fc.oneof(
  fieldText(30),
  fc.constant(SCRAM),
  fc.constant('md545f2603610af569b6155c45067268c6b'),
).filter((s) => isValid(validateSecret, s));

type Line = { kind: 'entry'; user: string; secret: string } | { kind: 'comment'; text: string } | { kind: 'blank'; text: string };
const lineArb: fc.Arbitrary<Line> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('entry' as const), user: fc.oneof(userArb, fc.constantFrom('app', 'admin', 'we"ird')), secret: secretArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('comment' as const), text: fc.tuple(fc.constantFrom('', ' ', '\t'), fieldText(10)).map(([ws, t]) => `${ws};${t}`) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('blank' as const), text: fc.constantFrom('', ' ', '\t ', '\r') }) },
);
const fileArb = fc.record({ lines: fc.array(lineArb, { maxLength: 12 }), trailingNewline: fc.boolean() }).map(({ lines, trailingNewline }) => {
  const raws = lines.map((l) => (l.kind === 'entry' ? formatUserlistEntry(l.user, l.secret) : l.text));
  // A last empty line without a newline would just be the previous line's newline: add one.
  const newline = trailingNewline || raws[raws.length - 1] === '';
  const text = raws.length === 0 ? '' : raws.join('\n') + (newline ? '\n' : '');
  return { text, lines, raws };
});

describe('userlist properties', () => {
  it('format → parse round-trips any valid user name and secret', () => {
    fc.assert(
      fc.property(userArb, secretArb, (user, secret) => {
        const line = formatUserlistEntry(user, secret);
        expect(line).not.toMatch(/[\r\n]/);
        const list = parseUserlist(line + '\n');
        expect(list.entries).toEqual([{ user, secret, line: 1 }]);
      }),
      { numRuns: 1000 },
    );
  });

  it('generated files parse back to the same entries', () => {
    fc.assert(
      fc.property(fileArb, ({ text, lines }) => {
        const expected = lines.filter((l) => l.kind === 'entry').map((l) => [l.user, l.secret]);
        expect(parseUserlist(text).entries.map((e) => [e.user, e.secret])).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('upsert changes only the upserted user: no other entry or line is gained, lost or changed', () => {
    fc.assert(
      fc.property(fileArb, fc.oneof(userArb, fc.constantFrom('app', 'admin', 'we"ird')), secretArb, ({ text, raws }, user, secret) => {
        const result = upsertUserlistEntry(text, user, secret);
        const before = parseUserlist(text);
        const after = parseUserlist(result);
        const isUser = (l: { kind: string; user?: string }) => l.kind === 'entry' && l.user === user;
        expect(before.lines.map((l) => l.raw)).toEqual(raws);

        // Every other line is kept, in order, byte for byte. Compared on the "\n"-separated
        // segments, whose final empty segment is the trailing newline, so the trailing-newline
        // convention is covered too (an empty text gets one).
        const otherSegments = (t: string) => t.split('\n').filter((seg) => !parseUserlist(seg).entries.some((e) => e.user === user));
        expect(otherSegments(result)).toEqual(otherSegments(text));
        // Entries of other users: same, same order.
        const others = (l: typeof before) => l.entries.filter((e) => e.user !== user).map((e) => [e.user, e.secret]);
        expect(others(after)).toEqual(others(before));
        // Exactly one entry for the user, with the new secret, at its first old position (or appended last).
        const mine = after.entries.filter((e) => e.user === user);
        expect(mine).toHaveLength(1);
        expect(mine[0]!.secret).toBe(secret);
        const firstOld = before.lines.findIndex(isUser);
        expect(after.lines.findIndex(isUser)).toBe(firstOld >= 0 ? firstOld : after.lines.length - 1);
        if (firstOld < 0) expect(result.endsWith('\n')).toBe(text === '' || text.endsWith('\n'));
        // Upserting the same value again is a no-op.
        const once = upsertUserlistEntry(text, user, secret);
        expect(upsertUserlistEntry(once, user, secret)).toBe(once);
      }),
      { numRuns: 1000 },
    );
  });

  it('remove after upsert of a new user gives the original text back', () => {
    fc.assert(
      fc.property(fileArb, userArb, secretArb, ({ text }, user, secret) => {
        fc.pre(!parseUserlist(text).entries.some((e) => e.user === user));
        expect(removeUserlistEntry(upsertUserlistEntry(text, user, secret), user)).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  it('no user name or secret can start a new line: CR, LF and NUL are rejected and the text is untouched', () => {
    const breaker = fc.constantFrom('\n', '\r', '\r\n', '\0');
    const withBreak = fc.tuple(fieldText(5), breaker, fieldText(5)).map(([a, b, c]) => a + b + c);
    fc.assert(
      fc.property(fileArb, withBreak, secretArb, fc.boolean(), ({ text }, bad, good, badIsUser) => {
        const [user, secret] = badIsUser ? [bad, good] : ['app', bad];
        const err = inputError(() => upsertUserlistEntry(text, user, secret));
        expect(err.field).toBe(badIsUser ? 'username' : 'secret');
        expect(() => formatUserlistEntry(user, secret)).toThrow(InputError);
      }),
      { numRuns: 500 },
    );
  });
});
