import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../../src/text/errors.js';
import { parseDotenv } from '../../../src/profile/dotenv.js';
import { readEnvFile } from '../../../src/app/load-config.js';

const parse = (text: string | Buffer): Record<string, string> =>
  Object.fromEntries([...parseDotenv(typeof text === 'string' ? Buffer.from(text, 'utf8') : text)].map(([k, e]) => [k, e.value]));

const dir = mkdtempSync(join(tmpdir(), 'pgb-dotenv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function envFile(content: string | Buffer): string {
  const path = join(dir, `f${n++}.env`);
  writeFileSync(path, content);
  return path;
}
function refusal(content: string | Buffer): InputError {
  try {
    readEnvFile(envFile(content));
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    expect((e as InputError).exitCode).toBe(2);
    return e as InputError;
  }
  throw new Error('accepted');
}

describe('parseDotenv: what --env-file accepted before keeps its meaning', () => {
  it('plain, quoted, export, comments, blank lines, CRLF', () => {
    expect(parse('DBNAME=fromfile\nDBUSER=u\nDBPASS="p w"\nDBHOST=10.0.0.9\nPGBOUNCER_PORT=7432\n')).toEqual({
      DBNAME: 'fromfile', DBUSER: 'u', DBPASS: 'p w', DBHOST: '10.0.0.9', PGBOUNCER_PORT: '7432',
    });
    expect(parse('# a comment\n\n  export DBNAME=app\r\nDBUSER=u # who\r\n   # indented comment\nDBHOST=h\t# tab comment\n')).toEqual({ DBNAME: 'app', DBUSER: 'u', DBHOST: 'h' });
    expect(parse("A='it is $HOME #1'\nB=\"x\\ny\"\nC=`a'b\"c`\nD=''\nE=\n")).toEqual({ A: 'it is $HOME #1', B: 'x\ny', C: 'a\'b"c', D: '', E: '' });
  });

  it('what the Ansible role and print-django-settings --env write reads back unchanged', () => {
    const password = `Pa$$ "w'rd" #1-ansible`;
    expect(parse(`DBPASS=\`${password}\`\n`)['DBPASS']).toBe(password);
    expect(parse(`DBNAME='my app#1'\n`)['DBNAME']).toBe('my app#1');
    expect(parse('DBHOST=db.example.com:5432/x@y%z+w=v,u-\n')['DBHOST']).toBe('db.example.com:5432/x@y%z+w=v,u-');
  });

  it('quoted values may span lines; a comment may follow the closing quote; later lines win', () => {
    expect(parse('K="one\ntwo" # c\nL=1\nL=2\n')).toEqual({ K: 'one\ntwo', L: '2' });
  });

  it('keeps UTF-8 values, including characters whose bytes look like Latin-1 blanks', () => {
    // "à" is C3 A0 and "…" is E2 80 A6; U+0085 is C2 85: none of these bytes may be trimmed away.
    expect(parse('DBPASS=voilà\nDBUSER=caf\u00e9…\nX=\u0085\n')).toEqual({ DBPASS: 'voilà', DBUSER: 'café…', X: '\u0085' });
  });
});

describe('parseDotenv: #11 item 2, nothing silently altered', () => {
  it('DBPASS=abc#def is refused (ambiguous), not cut to abc; quoted it is kept', () => {
    const e = refusal('DBNAME=app\nDBPASS=abc#def\n');
    expect(e.message).toMatch(/^--env-file .* line 2: DBPASS holds a "#" outside quotes.*DBPASS='\.\.\.'/);
    expect(e.message).not.toContain('abc');
    expect(e.field).toBe('database.password');
    expect(readEnvFile(envFile("DBPASS='abc#def'\n"))['DBPASS']).toBe('abc#def');
    expect(refusal('DBPASS=#abc\n').message).toMatch(/line 1: DBPASS holds a "#"/);
  });

  it('DBPASS= pw  is refused (leading or trailing space), not trimmed; quoted it is kept', () => {
    expect(refusal('DBPASS= pw \n').message).toMatch(/line 1: DBPASS starts or ends with a space/);
    expect(refusal('DBPASS=pw \n').message).toMatch(/line 1: DBPASS starts or ends with a space/);
    expect(refusal('DBNAME = app\n').message).toMatch(/line 1: DBNAME starts or ends with a space/);
    expect(refusal('DBPASS= pw \n').message).not.toContain('pw');
    expect(readEnvFile(envFile("DBPASS=' pw '\n"))['DBPASS']).toBe(' pw ');
  });

  it('ambiguity in a variable pgb-setup does not read is left alone', () => {
    expect(readEnvFile(envFile('SECRET_KEY=abc#def\nDEBUG= 1 \nDBPASS=ok\n'))['DBPASS']).toBe('ok');
  });

  it('a line without "=" is refused by number, and never swallows the next key', () => {
    const e = refusal('DBNAME=app\ngarbage\nDBPASS=secret-value\n');
    expect(e.message).toMatch(/line 2: expected NAME=value/);
    expect(e.message).not.toContain('garbage');
    expect(e.message).not.toContain('secret-value');
    expect(refusal('not a name=x\nDBPASS=p\n').message).toMatch(/line 1: expected NAME=value/);
  });

  it('a UTF-8 byte order mark does not swallow the first key', () => {
    expect(readEnvFile(envFile('\ufeffDBPASS=x\nDBUSER=u\n'))).toMatchObject({ DBPASS: 'x', DBUSER: 'u' });
  });

  it('invalid UTF-8 is refused, naming the variable and line, never echoing the value', () => {
    const bytes = Buffer.concat([Buffer.from('DBNAME=app\nDBPASS=caf'), Buffer.from([0xe9]), Buffer.from('\n')]);
    const e = refusal(bytes);
    expect(e.message).toMatch(/line 2: DBPASS: the value is not valid UTF-8/);
    expect(e.message).not.toMatch(/caf/);
    const multi = Buffer.concat([Buffer.from('DBUSER=u\nDBPASS="x\n'), Buffer.from([0xff, 0xfe]), Buffer.from('"\n')]);
    expect(refusal(multi).message).toMatch(/line 2: DBPASS: the value is not valid UTF-8/);
    expect(refusal(Buffer.concat([Buffer.from("DBUSER='"), Buffer.from([0xc3]), Buffer.from("'\n")])).message).toMatch(/line 1: DBUSER:/);
  });

  it('an unclosed quote or text after the closing quote is refused, not guessed', () => {
    expect(refusal('DBPASS="abc\nDBUSER=u\n').message).toMatch(/line 1: DBPASS: the opening " is never closed/);
    expect(refusal("DBPASS='abc' def\n").message).toMatch(/line 1: DBPASS: text after the closing '/);
  });

  it('__proto__ as a name is plain data', () => {
    const env = readEnvFile(envFile('__proto__=x\nDBPASS=p\n'));
    expect(env['DBPASS']).toBe('p');
    expect(Object.getPrototypeOf(env)).toBeNull();
  });
});
