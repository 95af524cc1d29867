/**
 * pgbouncer.ini read the way pgbouncer's cfparser reads it, for comparing the file on disk with
 * what the profile renders: `[section]` headers, `key = value` (value runs to the end of the line,
 * trimmed: there are no inline comments), comment lines starting with `;` or `#`, `%include`.
 * `[pgbouncer]` keys are case-insensitive; `[databases]`/`[users]` keys may be double-quoted.
 */

export interface IniFile {
  /** section (lower case) → key → value. `[pgbouncer]` keys are lower-cased. */
  sections: Map<string, Map<string, string>>;
  /** Lines pgbouncer would refuse, as "line N: why". */
  problems: string[];
  /** `%include FILE` lines, as pgbouncer reads them (its settings then apply as if written there). */
  includes: { line: number; path: string }[];
}

const KNOWN_SECTIONS = new Set(['databases', 'users', 'peers', 'pgbouncer']);

function parseKey(text: string): { key: string; rest: string } | undefined {
  if (text.startsWith('"')) {
    let i = 1;
    let key = '';
    for (;;) {
      const q = text.indexOf('"', i);
      if (q < 0) return undefined;
      key += text.slice(i, q);
      if (text[q + 1] === '"') {
        key += '"';
        i = q + 2;
        continue;
      }
      const rest = text.slice(q + 1).trimStart();
      return rest.startsWith('=') ? { key, rest: rest.slice(1) } : undefined;
    }
  }
  const eq = text.indexOf('=');
  if (eq < 0) return undefined;
  const key = text.slice(0, eq).trim();
  if (!/^[A-Za-z0-9_.*-]+$/.test(key)) return undefined;
  return { key, rest: text.slice(eq + 1) };
}

export function parseIniFile(text: string): IniFile {
  const sections = new Map<string, Map<string, string>>();
  const problems: string[] = [];
  const includes: IniFile['includes'] = [];
  let section: string | undefined;
  text.split('\n').forEach((raw, idx) => {
    const line = raw.replace(/\r$/, '').trim();
    const n = idx + 1;
    // libusual's cfparser: `%include`, then a blank, then the file name to the end of the line;
    // tested before comments. A bare `%include` is not an include but a syntax error.
    if (/^%include[ \t]/.test(line)) {
      includes.push({ line: n, path: line.slice('%include'.length).trim() });
      return;
    }
    if (line === '' || line.startsWith(';') || line.startsWith('#')) return;
    const header = /^\[\s*([^\]]+?)\s*\]$/.exec(line);
    if (header) {
      section = header[1]!.toLowerCase();
      if (!KNOWN_SECTIONS.has(section)) problems.push(`line ${n}: unknown section [${header[1]}]`);
      if (!sections.has(section)) sections.set(section, new Map());
      return;
    }
    const kv = parseKey(line);
    if (!kv) {
      problems.push(`line ${n}: not "key = value": ${line.length > 60 ? `${line.slice(0, 60)}…` : line}`);
      return;
    }
    if (!section) {
      problems.push(`line ${n}: ${kv.key} is outside any [section]`);
      return;
    }
    const key = section === 'pgbouncer' ? kv.key.toLowerCase() : kv.key;
    sections.get(section)!.set(key, kv.rest.trim());
  });
  return { sections, problems, includes };
}

/** Values compared loosely where pgbouncer does: whitespace runs, list spacing, enum case. */
function normaliseValue(section: string, key: string, value: string): string {
  let v = value.trim().replace(/\s+/g, ' ');
  if (section === 'pgbouncer') {
    if (/^(admin_users|stats_users|listen_addr|ignore_startup_parameters|track_extra_parameters)$/.test(key)) {
      v = v.split(',').map((s) => s.trim()).filter(Boolean).join(',');
    }
    if (/^(pool_mode|auth_type|client_tls_sslmode|server_tls_sslmode)$/.test(key)) v = v.toLowerCase();
  }
  return v;
}

interface IniDifference {
  section: string;
  key: string;
  disk: string | undefined;
  profile: string | undefined;
}

export function compareIni(disk: IniFile, expected: IniFile): IniDifference[] {
  const diffs: IniDifference[] = [];
  const sectionNames = new Set([...disk.sections.keys(), ...expected.sections.keys()]);
  for (const section of sectionNames) {
    const a = disk.sections.get(section) ?? new Map<string, string>();
    const b = expected.sections.get(section) ?? new Map<string, string>();
    for (const key of new Set([...b.keys(), ...a.keys()])) {
      const dv = a.get(key);
      const pv = b.get(key);
      if (dv !== undefined && pv !== undefined && normaliseValue(section, key, dv) === normaliseValue(section, key, pv)) continue;
      diffs.push({ section, key, disk: dv, profile: pv });
    }
  }
  return diffs;
}
