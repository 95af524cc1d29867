/**
 * Independent models of how pgbouncer itself reads the files pgb-setup writes, used as test oracles
 * (they deliberately share no code with src/):
 *
 *  - the ini reader of libusual's cfparser.c (`parse_ini_file`), which pgbouncer 1.18 and 1.24 use:
 *    leading whitespace skipped, `#` or `;` starts a comment line, `%include FILE` pulls in another
 *    file, `[name]` opens a section, otherwise a key of [A-Za-z0-9_.*-] (no quoting), `=`, and the
 *    value up to the end of the line, trailing whitespace removed. Anything else is a syntax error;
 *  - a [databases] connection string (pgbouncer's loader.c): `key=value` pairs separated by spaces,
 *    a value either a bare word or '...' with '' for a quote;
 *  - a list setting as pgbouncer's strlist_contains() matches it: items separated by commas or
 *    whitespace;
 *  - auth_file lines (loader.c load_auth_file): `;` comment, `"user" "secret"` with "" for ", any
 *    other first character ends pgbouncer's reading of the file.
 */

export interface IniEntry {
  key: string;
  value: string;
  line: number;
}

export interface IniModel {
  ok: boolean;
  error?: string;
  sections: { name: string; entries: IniEntry[] }[];
  includes: string[];
}

const isSpace = (c: string | undefined) => c !== undefined && /[ \t\n\v\f\r]/.test(c);
const isKeyChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_.*-]/.test(c);

export function parseIniLikePgbouncer(text: string): IniModel {
  const sections: IniModel['sections'] = [];
  const includes: string[] = [];
  let p = 0;
  const lineAt = (i: number) => text.slice(0, i).split('\n').length;
  while (p < text.length) {
    while (p < text.length && isSpace(text[p])) p++;
    if (p >= text.length) break;
    if (text.startsWith('%include', p) && (text[p + 8] === ' ' || text[p + 8] === '\t')) {
      const end = text.indexOf('\n', p);
      includes.push(text.slice(p + 8, end < 0 ? text.length : end).trim());
      p = end < 0 ? text.length : end;
      continue;
    }
    if (text[p] === '#' || text[p] === ';') {
      while (p < text.length && text[p] !== '\n') p++;
      continue;
    }
    if (text[p] === '[') {
      const start = ++p;
      while (p < text.length && text[p] !== ']' && text[p] !== '\n') p++;
      if (text[p] !== ']') return { ok: false, error: `syntax error at line ${lineAt(p)}`, sections, includes };
      sections.push({ name: text.slice(start, p), entries: [] });
      p++;
      continue;
    }
    const keyStart = p;
    while (p < text.length && isKeyChar(text[p])) p++;
    const key = text.slice(keyStart, p);
    while (text[p] === ' ' || text[p] === '\t') p++;
    if (text[p] !== '=') return { ok: false, error: `syntax error at line ${lineAt(p)}`, sections, includes };
    p++;
    while (text[p] === ' ' || text[p] === '\t') p++;
    const valStart = p;
    while (p < text.length && text[p] !== '\n') p++;
    let value = text.slice(valStart, p);
    while (value.length > 0 && isSpace(value[value.length - 1])) value = value.slice(0, -1);
    const section = sections[sections.length - 1];
    if (!section) return { ok: false, error: `value without section: ${key}`, sections, includes };
    section.entries.push({ key, value, line: lineAt(keyStart) });
  }
  return { ok: true, sections, includes };
}

/** `host=x port=5432 dbname='a b'` → [['host','x'], ...]; undefined when pgbouncer would reject it. */
export function parseConnString(s: string): [string, string][] | undefined {
  const out: [string, string][] = [];
  let p = 0;
  const skip = () => {
    while (p < s.length && isSpace(s[p])) p++;
  };
  skip();
  while (p < s.length) {
    const keyStart = p;
    while (p < s.length && s[p] !== '=' && !isSpace(s[p])) p++;
    const key = s.slice(keyStart, p);
    skip();
    if (s[p] !== '=' || key === '') return undefined;
    p++;
    skip();
    let value = '';
    if (s[p] === "'") {
      p++;
      for (;;) {
        if (p >= s.length) return undefined;
        if (s[p] === "'") {
          if (s[p + 1] === "'") {
            value += "'";
            p += 2;
            continue;
          }
          p++;
          break;
        }
        value += s[p++];
      }
    } else {
      const start = p;
      while (p < s.length && !isSpace(s[p])) p++;
      value = s.slice(start, p);
    }
    out.push([key, value]);
    skip();
  }
  return out;
}

/** Items of a list setting as pgbouncer matches names in it (strlist_contains). */
export function listItems(value: string): string[] {
  return value.split(/[\s,]+/).filter((x) => x !== '');
}

export interface AuthFileModel {
  /** Entries pgbouncer loads, in order. */
  entries: { user: string; secret: string; line: number }[];
  /** Line number where pgbouncer would stop reading ("broken auth file"), if any. */
  brokenAt: number | undefined;
}

export function readAuthFileLikePgbouncer(text: string): AuthFileModel {
  const entries: AuthFileModel['entries'] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw.includes('\0')) return { entries, brokenAt: i + 1 };
    const t = raw.replace(/^[ \t\v\f\r]+/, '');
    if (t === '' || t.startsWith(';')) continue;
    if (!t.startsWith('"')) return { entries, brokenAt: i + 1 };
    const field = (from: number): [string, number] | undefined => {
      let v = '';
      let j = from;
      for (;;) {
        if (j >= t.length) return undefined;
        if (t[j] === '"') {
          if (t[j + 1] === '"') {
            v += '"';
            j += 2;
            continue;
          }
          return [v, j + 1];
        }
        v += t[j++];
      }
    };
    const user = field(1);
    if (!user) return { entries, brokenAt: i + 1 };
    const open = t.indexOf('"', user[1]);
    if (open < 0) return { entries, brokenAt: i + 1 };
    const secret = field(open + 1);
    if (!secret) return { entries, brokenAt: i + 1 };
    entries.push({ user: user[0], secret: secret[0], line: i + 1 });
  }
  return { entries, brokenAt: undefined };
}
