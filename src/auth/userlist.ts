/**
 * pgbouncer's auth_file (userlist.txt), read the way pgbouncer's loader.c `load_auth_file` reads it:
 *
 *  - An entry is `"user" "secret"`; a `"` inside a field is written doubled, there are no other
 *    escapes (a backslash is literal). Anything between the two fields that is not a `"` and
 *    anything after the second field is ignored by pgbouncer; we keep it byte for byte.
 *  - After leading whitespace, a line starting with `;` is a comment. A line starting with anything
 *    else that is not `"` (`#` included) makes pgbouncer log "broken auth file" and stop reading:
 *    every later user is lost. We report that line as malformed.
 *  - pgbouncer's limits apply to the field *as written* (doubled quotes count twice): user < 128
 *    bytes, secret < 2048 bytes (1.17–1.25.x). Too long also stops pgbouncer's parsing.
 *
 * Stricter than pgbouncer in one way: an entry must sit on one line. pgbouncer would let a quoted
 * field or the gap between the two fields run over a newline; such files are reported as malformed.
 *
 * Editing keeps every line we do not touch exactly as it was (lines are split on "\n" only, so a
 * "\r" of CRLF files stays part of its line) and keeps whether the text ends with a newline.
 */
import { InputError } from '../text/errors.js';
import { isValidMd5Secret } from './md5.js';
import { isWellFormedUnicode } from './saslprep.js';
import { isValidScramSecret } from './scram.js';

/** Longest user name pgbouncer accepts, in UTF-8 bytes as written (doubled quotes count twice). */
export const USERLIST_MAX_USERNAME_BYTES = 127;
/** Longest secret pgbouncer 1.17–1.25.x accepts, in UTF-8 bytes as written. */
export const USERLIST_MAX_SECRET_BYTES = 2047;

export interface UserlistEntry {
  user: string;
  secret: string;
  /** 1-based line number. */
  line: number;
}

export type UserlistLine =
  | { kind: 'entry'; line: number; raw: string; user: string; secret: string }
  | { kind: 'comment'; line: number; raw: string }
  | { kind: 'blank'; line: number; raw: string };

export interface Userlist {
  /** Every line, in order; `raw` is the line exactly as in the text, without its "\n". */
  lines: UserlistLine[];
  /** The entries in file order. A user may appear more than once; pgbouncer keeps the last. */
  entries: UserlistEntry[];
  /** Whether the text ended with "\n". */
  trailingNewline: boolean;
}

interface ParseUserlistOptions {
  /** Name used in error messages and as the error field, default `userlist.txt`. */
  name?: string;
}

/** C isspace() in the C locale, without "\n" (lines are already split on it). */
const LEADING_SPACE = /^[ \t\v\f\r]*/;
const LINE_BREAK = /[\r\n]/;

function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function quote(field: string): string {
  return '"' + field.replaceAll('"', '""') + '"';
}

/**
 * pgbouncer's find_quote on one line: index of the next `"` at or after `from`; when `closing`,
 * a doubled `""` is skipped as an escaped quote. Returns -1 when the line has none.
 */
function findQuote(line: string, from: number, closing: boolean): number {
  let i = from;
  for (;;) {
    i = line.indexOf('"', i);
    if (i < 0) return -1;
    if (closing && line[i + 1] === '"') {
      i += 2;
      continue;
    }
    return i;
  }
}

function splitLines(text: string): { lines: string[]; trailingNewline: boolean } {
  if (text === '') return { lines: [], trailingNewline: false };
  const trailingNewline = text.endsWith('\n');
  const lines = (trailingNewline ? text.slice(0, -1) : text).split('\n');
  return { lines, trailingNewline };
}

function joinLines(lines: readonly string[], trailingNewline: boolean): string {
  if (lines.length === 0) return '';
  return lines.join('\n') + (trailingNewline ? '\n' : '');
}

/**
 * How a line is read: as text (a JS string), or as bytes (a "binary" string, one char per byte, so
 * any byte sequence survives untouched; fields are then decoded as strict UTF-8 when they can be).
 */
interface LineMode {
  length: (s: string) => number;
  /** The field as text; undefined when its bytes are not UTF-8 (such a user never matches a name we write). */
  decode: (s: string) => string | undefined;
  binary: boolean;
}

const TEXT_MODE: LineMode = { length: byteLength, decode: (s) => s, binary: false };
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const BYTE_MODE: LineMode = {
  length: (s) => s.length,
  decode: (s) => {
    // Pure ASCII is the common case and decodes to itself.
    if (!/[^\x00-\x7f]/.test(s)) return s;
    try {
      return utf8.decode(Buffer.from(s, 'latin1'));
    } catch {
      return undefined;
    }
  },
  binary: true,
};

function describeStart(ch: string, binary = false): string {
  const code = ch.codePointAt(0)!;
  if (code === 0xfeff) return 'a byte-order mark (U+FEFF)';
  if (binary && code >= 0x80) return `byte 0x${code.toString(16)}`;
  if (code < 0x20 || code === 0x7f) return `control character 0x${code.toString(16).padStart(2, '0')}`;
  return `'${ch}'`;
}

/** Parses one line; returns the parsed line or a problem description ("<problem>; <fix>"). */
function parseLine(raw: string, line: number, mode: LineMode = TEXT_MODE): (UserlistLine & { userText?: string | undefined; secretText?: string | undefined }) | string {
  if (raw.includes('\0')) {
    return 'contains a NUL byte, where pgbouncer stops reading the file; remove it';
  }
  const start = LEADING_SPACE.exec(raw)![0].length;
  if (start === raw.length) return { kind: 'blank', line, raw };
  const first = raw[start]!;
  if (first === ';') return { kind: 'comment', line, raw };
  if (first !== '"') {
    const bom = mode.binary && raw.startsWith('\xef\xbb\xbf', start);
    const what = bom ? 'a byte-order mark (U+FEFF)' : describeStart(String.fromCodePoint(raw.codePointAt(start)!), mode.binary);
    const fix = first === '#'
      ? "pgbouncer only accepts comments starting with ';'; change '#' to ';'"
      : 'each line must be "user" "secret", a comment starting with \';\', or blank';
    return `starts with ${what}, which makes pgbouncer stop reading the file; ${fix}`;
  }
  const userStart = start + 1;
  const userEnd = findQuote(raw, userStart, true);
  if (userEnd < 0) return 'the quoted user name is not closed; end it with " (write a " inside it as "")';
  const userRaw = raw.slice(userStart, userEnd);
  if (mode.length(userRaw) > USERLIST_MAX_USERNAME_BYTES) {
    return `user name is ${mode.length(userRaw)} bytes as written, pgbouncer allows at most ${USERLIST_MAX_USERNAME_BYTES}; shorten it`;
  }
  const secretOpen = findQuote(raw, userEnd + 1, false);
  if (secretOpen < 0) return 'has no quoted secret after the user name; write "user" "secret" on one line';
  const secretStart = secretOpen + 1;
  const secretEnd = findQuote(raw, secretStart, true);
  if (secretEnd < 0) return 'the quoted secret is not closed; end it with " (write a " inside it as "")';
  const secretRaw = raw.slice(secretStart, secretEnd);
  if (mode.length(secretRaw) > USERLIST_MAX_SECRET_BYTES) {
    return `secret is ${mode.length(secretRaw)} bytes as written, pgbouncer allows at most ${USERLIST_MAX_SECRET_BYTES}; use a shorter password or a SCRAM verifier`;
  }
  const user = userRaw.replaceAll('""', '"');
  const secret = secretRaw.replaceAll('""', '"');
  return { kind: 'entry', line, raw, user, secret, userText: mode.decode(user), secretText: mode.decode(secret) };
}

/**
 * Parses auth_file text. Throws InputError (field = the file name) at the first line pgbouncer
 * would choke on, naming `<name> line N`, the problem and the fix.
 */
export function parseUserlist(text: string, options: ParseUserlistOptions = {}): Userlist {
  const name = options.name ?? 'userlist.txt';
  const { lines: rawLines, trailingNewline } = splitLines(text);
  const lines: UserlistLine[] = [];
  const entries: UserlistEntry[] = [];
  rawLines.forEach((raw, index) => {
    const parsed = parseLine(raw, index + 1);
    if (typeof parsed === 'string') {
      throw new InputError(`${name} line ${index + 1} ${parsed}`, name);
    }
    lines.push(parsed);
    if (parsed.kind === 'entry') entries.push({ user: parsed.user, secret: parsed.secret, line: parsed.line });
  });
  return { lines, entries, trailingNewline };
}

function parseLines(text: string, name: string, mode: LineMode): { lines: ReturnType<typeof parseLine>[]; trailingNewline: boolean } {
  const { lines: rawLines, trailingNewline } = splitLines(text);
  const lines = rawLines.map((raw, index) => {
    const parsed = parseLine(raw, index + 1, mode);
    if (typeof parsed === 'string') throw new InputError(`${name} line ${index + 1} ${parsed}`, name);
    return parsed;
  });
  return { lines, trailingNewline };
}

/** An auth_file parsed as bytes (one char per byte), once, for reading its entries and editing it. */
export interface ByteUserlist {
  lines: ReturnType<typeof parseLine>[];
  trailingNewline: boolean;
}

/** Parses auth_file bytes; a line pgbouncer would choke on is an InputError naming it. */
export function parseUserlistBytes(bytes: Uint8Array, options: ParseUserlistOptions = {}): ByteUserlist {
  return parseLines(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1'), options.name ?? 'userlist.txt', BYTE_MODE);
}

/**
 * The users of an auth_file given as bytes, as text; an entry whose user name or secret is not
 * UTF-8 is listed with `user` undefined (it is nobody pgb-setup writes). Malformed lines: InputError.
 */
export function userlistEntriesOfBytes(bytes: Uint8Array | ByteUserlist, options: ParseUserlistOptions = {}): { user: string | undefined; secret: string | undefined; line: number }[] {
  const { lines } = bytes instanceof Uint8Array ? parseUserlistBytes(bytes, options) : bytes;
  return lines.flatMap((l) => (typeof l !== 'string' && l.kind === 'entry' ? [{ user: l.userText, secret: l.secretText, line: l.line }] : []));
}

/**
 * upsertUserlistEntry on bytes: every line that is not `user`'s stays byte for byte, whatever its
 * encoding (a Latin-1 name, stray bytes in a comment); the new entry is written as UTF-8.
 * Linear in the size of the file.
 */
export function upsertUserlistBytes(bytes: Uint8Array | ByteUserlist, user: string, secret: string, options: ParseUserlistOptions = {}): Buffer {
  const entryLine = Buffer.from(formatUserlistEntry(user, secret), 'utf8').toString('latin1');
  const { lines, trailingNewline } = bytes instanceof Uint8Array ? parseUserlistBytes(bytes, options) : bytes;
  const out: string[] = [];
  let replaced = false;
  for (const line of lines) {
    if (typeof line === 'string') continue;
    if (line.kind === 'entry' && line.userText === user) {
      if (replaced) continue;
      replaced = true;
      out.push(line.raw.endsWith('\r') ? entryLine + '\r' : entryLine);
    } else {
      out.push(line.raw);
    }
  }
  if (!replaced) {
    const first = lines[0];
    const crlf = first !== undefined && typeof first !== 'string' && first.raw.endsWith('\r');
    out.push(crlf ? entryLine + '\r' : entryLine);
  }
  return Buffer.from(joinLines(out, lines.length === 0 ? true : trailingNewline), 'latin1');
}

/** The secret pgbouncer would use for `user` (the last entry wins), or undefined. */
export function findUserlistSecret(list: Userlist, user: string): string | undefined {
  let secret: string | undefined;
  for (const entry of list.entries) if (entry.user === user) secret = entry.secret;
  return secret;
}

function checkText(value: unknown, field: string, label: string): asserts value is string {
  if (typeof value !== 'string') throw new InputError(`${label} must be text`, field);
  if (value.length === 0) throw new InputError(`${label} is empty; give a non-empty value`, field);
  if (value.includes('\0')) throw new InputError(`${label} contains a NUL character; remove it`, field);
  if (LINE_BREAK.test(value)) {
    throw new InputError(`${label} contains a line break (CR or LF), which would split its userlist.txt line; remove it`, field);
  }
  if (!isWellFormedUnicode(value)) {
    throw new InputError(`${label} contains an unpaired UTF-16 surrogate and cannot be written as UTF-8; use valid Unicode text`, field);
  }
}

/** Rejects a user name that cannot be written to userlist.txt exactly (field `username`). */
export function validateUsername(name: string): void {
  checkText(name, 'username', 'user name');
  const bytes = byteLength(name.replaceAll('"', '""'));
  if (bytes > USERLIST_MAX_USERNAME_BYTES) {
    throw new InputError(
      `user name is ${bytes} bytes as written in userlist.txt (each " counts twice), pgbouncer allows at most ${USERLIST_MAX_USERNAME_BYTES}; use a shorter name`,
      'username',
    );
  }
}

/**
 * Rejects a secret that cannot be written to userlist.txt exactly (field `secret`), and near-miss
 * verifiers: a string that starts like a SCRAM or MD5 secret but is malformed would silently be
 * taken as a plain-text password by pgbouncer and PostgreSQL.
 */
export function validateSecret(secret: string): void {
  checkText(secret, 'secret', 'secret');
  const bytes = byteLength(secret.replaceAll('"', '""'));
  if (bytes > USERLIST_MAX_SECRET_BYTES) {
    throw new InputError(
      `secret is ${bytes} bytes as written in userlist.txt (each " counts twice), pgbouncer allows at most ${USERLIST_MAX_SECRET_BYTES}; use a SCRAM verifier or a shorter password`,
      'secret',
    );
  }
  if (secret.startsWith('SCRAM-SHA-256$') && !isValidScramSecret(secret)) {
    throw new InputError(
      'secret looks like a SCRAM-SHA-256 verifier but is malformed (pgbouncer would treat it as a plain password); regenerate it as SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>',
      'secret',
    );
  }
  if (/^md5[0-9a-fA-F]{28,36}$/.test(secret) && !isValidMd5Secret(secret)) {
    throw new InputError(
      'secret looks like an MD5 secret but is not md5 followed by 32 lowercase hex digits (pgbouncer would treat it as a plain password); regenerate it',
      'secret',
    );
  }
}

/** One auth_file line (without newline): `"user" "secret"` with `"` doubled. Validates both. */
export function formatUserlistEntry(user: string, secret: string): string {
  validateUsername(user);
  validateSecret(secret);
  return `${quote(user)} ${quote(secret)}`;
}

/**
 * Sets `user`'s secret: its first line is replaced in place (later duplicate lines of the same
 * user are removed, so exactly one entry remains), or a line is appended when the user is new.
 * Every other line is kept exactly, and so is whether the text ends with a newline (an empty
 * text gets one). Throws InputError if the text is not a valid auth_file or the values are invalid.
 */
export function upsertUserlistEntry(text: string, user: string, secret: string): string {
  return upsertUserlistBytes(Buffer.from(text, 'utf8'), user, secret).toString('utf8');
}

/**
 * Removes every line of `user`, keeping all other lines exactly and the trailing-newline
 * convention. Returns the text unchanged when the user has no entry. Throws InputError if the
 * text is not a valid auth_file.
 */
export function removeUserlistEntry(text: string, user: string): string {
  const list = parseUserlist(text);
  if (!list.entries.some((e) => e.user === user)) return text;
  const kept = list.lines.filter((l) => !(l.kind === 'entry' && l.user === user)).map((l) => l.raw);
  return joinLines(kept, list.trailingNewline);
}
