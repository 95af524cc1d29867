import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { UnsupportedHostError } from '../../../src/text/errors.js';
import { parseOsRelease, readOsRelease } from '../../../src/facts/os-release.js';
import { FakeSystem } from '../../helpers/fake-system.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/os-release');
const fixture = (name: string): string => readFileSync(join(FIXTURES, name), 'utf8');

describe('parseOsRelease on real files', () => {
  it.each([
    ['debian-12', 'debian', [], '12', 'Debian GNU/Linux 12 (bookworm)', 'bookworm'],
    ['debian-13', 'debian', [], '13', 'Debian GNU/Linux 13 (trixie)', 'trixie'],
    ['ubuntu-22.04', 'ubuntu', ['debian'], '22.04', 'Ubuntu 22.04 LTS', 'jammy'],
    ['ubuntu-24.04', 'ubuntu', ['debian'], '24.04', 'Ubuntu 24.04 LTS', 'noble'],
    ['rhel-9', 'rhel', ['fedora'], '9.6', 'Red Hat Enterprise Linux 9.6 (Plow)', undefined],
    ['rocky-9', 'rocky', ['rhel', 'centos', 'fedora'], '9.5', 'Rocky Linux 9.5 (Blue Onyx)', undefined],
    ['alma-9', 'almalinux', ['rhel', 'centos', 'fedora'], '9.6', 'AlmaLinux 9.6 (Sage Margay)', undefined],
    ['centos-stream-9', 'centos', ['rhel', 'fedora'], '9', 'CentOS Stream 9', undefined],
    // VERSION_CODENAME="" is present but empty: no codename.
    ['fedora-40', 'fedora', [], '40', 'Fedora Linux 40 (Server Edition)', undefined],
    ['amzn-2023', 'amzn', ['fedora'], '2023', 'Amazon Linux 2023', undefined],
    ['alpine-3.20', 'alpine', [], '3.20.7', 'Alpine Linux v3.20', undefined],
    // The archlinux container image really ships this placeholder.
    ['arch', 'arch', [], 'TEMPLATE_VERSION_ID', 'Arch Linux', undefined],
  ])('%s', (name, id, idLike, versionId, prettyName, codename) => {
    const os = parseOsRelease(fixture(name));
    expect(os.id).toBe(id);
    expect(os.idLike).toEqual(idLike);
    expect(os.versionId).toBe(versionId);
    expect(os.prettyName).toBe(prettyName);
    expect(os.versionCodename).toBe(codename);
  });

  it('keeps every field in raw, unquoted', () => {
    const os = parseOsRelease(fixture('rhel-9'));
    expect(os.raw.PLATFORM_ID).toBe('platform:el9');
    expect(os.raw.REDHAT_BUGZILLA_PRODUCT_VERSION).toBe('9.6');
    expect(os.raw.CPE_NAME).toBe('cpe:/o:redhat:enterprise_linux:9::baseos');
    expect(Object.keys(os.raw)).toHaveLength(17);
  });

  it('reads the last line of a file without a trailing newline (alma-9)', () => {
    const text = fixture('alma-9');
    expect(text.endsWith('\n')).toBe(false);
    expect(parseOsRelease(text).raw.SUPPORT_END).toBe('2032-06-01');
  });

  it('reads UBUNTU_CODENAME into raw', () => {
    expect(parseOsRelease(fixture('ubuntu-24.04')).raw.UBUNTU_CODENAME).toBe('noble');
  });
});

describe('parseOsRelease quoting and syntax', () => {
  const raw = (text: string) => parseOsRelease(text).raw;

  it('double quotes: \\ escapes only " \\ $ ` (sh rules)', () => {
    expect(raw('A="say \\"hi\\""\n').A).toBe('say "hi"');
    expect(raw('A="back\\\\slash"\n').A).toBe('back\\slash');
    expect(raw('A="cost \\$5 and \\`x\\`"\n').A).toBe('cost $5 and `x`');
    // Any other backslash stays, as in sh.
    expect(raw('A="a\\nb\\tc"\n').A).toBe('a\\nb\\tc');
  });

  it('single quotes: nothing is special', () => {
    expect(raw("A='a \"b\" $c \\d'\n").A).toBe('a "b" $c \\d');
    expect(raw("NAME='Fedora Linux'\n").NAME).toBe('Fedora Linux');
  });

  it('unquoted: backslash escapes the next character; whitespace ends the value', () => {
    expect(raw('A=a\\ b\n').A).toBe('a b');
    expect(raw('A=plain\n').A).toBe('plain');
    expect(raw('A=value   \n').A).toBe('value');
    expect(raw('A=value # trailing comment\n').A).toBe('value');
  });

  it('quoted and unquoted runs concatenate like one sh word', () => {
    expect(raw(`A="a b"'c d'e\n`).A).toBe('a bc de');
  });

  it('empty values', () => {
    const os = parseOsRelease('ID=debian\nVERSION_CODENAME=""\nVERSION_ID=\n');
    expect(os.raw.VERSION_CODENAME).toBe('');
    expect(os.versionCodename).toBeUndefined();
    expect(os.versionId).toBe('');
  });

  it('skips comments, blank lines and lines that are not assignments', () => {
    const os = parseOsRelease(
      ['# a comment', '', '   ', '  # indented comment', 'not an assignment', '1BAD=x', 'ID=debian', 'BAD-KEY=y'].join('\n'),
    );
    expect(os.raw).toEqual({ ID: 'debian' });
  });

  it('a commented-out assignment stays out (opensuse style)', () => {
    expect(raw('NAME="openSUSE Tumbleweed"\n# VERSION="20230304"\nID="opensuse-tumbleweed"\n')).toEqual({
      NAME: 'openSUSE Tumbleweed',
      ID: 'opensuse-tumbleweed',
    });
  });

  it('tolerates CRLF, leading blanks and blanks around =', () => {
    expect(raw('ID=debian\r\nVERSION_ID="12"\r\n')).toEqual({ ID: 'debian', VERSION_ID: '12' });
    expect(raw('   ID=rocky\n')).toEqual({ ID: 'rocky' });
    expect(raw('ID = "rocky"\n')).toEqual({ ID: 'rocky' });
  });

  it('later duplicates win', () => {
    expect(raw('ID=a\nID=b\n').ID).toBe('b');
  });

  it('backslash-newline continues a line; a quoted value may span lines', () => {
    expect(raw('A=one\\\ntwo\nB=x\n')).toEqual({ A: 'onetwo', B: 'x' });
    expect(raw('A="line1\nline2"\nB=x\n')).toEqual({ A: 'line1\nline2', B: 'x' });
  });

  it('an unterminated quote runs to the end instead of throwing', () => {
    expect(raw('ID=debian\nNAME="broken\n')).toEqual({ ID: 'debian', NAME: 'broken\n' });
    expect(raw("A='x")).toEqual({ A: 'x' });
  });

  it('defaults: ID=linux, PRETTY_NAME falls back to NAME, then Linux', () => {
    expect(parseOsRelease('').id).toBe('linux');
    expect(parseOsRelease('').prettyName).toBe('Linux');
    expect(parseOsRelease('NAME="Foo OS"\n').prettyName).toBe('Foo OS');
    expect(parseOsRelease('').idLike).toEqual([]);
  });

  it('lower-cases ID and ID_LIKE and splits ID_LIKE on any whitespace', () => {
    const os = parseOsRelease('ID=Rocky\nID_LIKE="RHEL  centos\tfedora"\n');
    expect(os.id).toBe('rocky');
    expect(os.idLike).toEqual(['rhel', 'centos', 'fedora']);
  });

  it('__proto__ is an ordinary key', () => {
    const r = raw('__proto__=x\nID=a\n');
    expect(Object.getPrototypeOf(r)).toBe(Object.prototype);
    expect(r.ID).toBe('a');
  });
});

describe('readOsRelease', () => {
  const systemWith = (files: Record<string, string>): FakeSystem => {
    const system = new FakeSystem();
    for (const [path, text] of Object.entries(files)) system.file(path, text);
    return system;
  };

  it('prefers /etc/os-release', async () => {
    const os = await readOsRelease(systemWith({ '/etc/os-release': 'ID=a\n', '/usr/lib/os-release': 'ID=b\n' }));
    expect(os.id).toBe('a');
  });

  it('falls back to /usr/lib/os-release', async () => {
    const os = await readOsRelease(systemWith({ '/usr/lib/os-release': fixture('rocky-9') }));
    expect(os.id).toBe('rocky');
  });

  it('throws UnsupportedHostError when neither exists', async () => {
    await expect(readOsRelease(systemWith({}))).rejects.toBeInstanceOf(UnsupportedHostError);
  });
});
