/**
 * os-release(5) parsing. Pure: text in, fields out. Reading the file is `readOsRelease`.
 *
 * The format is a restricted shell assignment list: `KEY=value` per line, `#` comments, blank
 * lines. Values may be double- or single-quoted; inside double quotes a backslash escapes only
 * `"`, `\`, `$`, `` ` `` and a newline (as in sh); inside single quotes nothing is special; outside
 * quotes a backslash escapes any character. The spec forbids concatenating quoted strings, but sh
 * (which many scripts use to read this file) concatenates them, so we do too.
 */
import type { System } from '../system/system.js';
import { UnsupportedHostError } from '../text/errors.js';

export interface OsRelease {
  /** `ID`, lower-cased; `linux` when absent (the spec's default). */
  id: string;
  /** `ID_LIKE`, split on whitespace, lower-cased; closest relative first. */
  idLike: string[];
  /** `VERSION_ID`, or '' when absent (rolling releases such as Arch omit it). */
  versionId: string;
  /** `PRETTY_NAME`, else `NAME`, else `Linux` (the spec's default). */
  prettyName: string;
  /** `VERSION_CODENAME` when present and non-empty. */
  versionCodename?: string;
  /** Every assignment, unquoted and unescaped. Later duplicates win, as in sh. */
  raw: Record<string, string>;
}

/** Where os-release(5) says to look, in order. */
const OS_RELEASE_PATHS = ['/etc/os-release', '/usr/lib/os-release'] as const;

const KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DQ_ESCAPABLE = new Set(['"', '\\', '$', '`']);

/**
 * Parses os-release text. Never throws: a line that is not an assignment is skipped, an
 * unterminated quote runs to the end of the text, and missing fields take the spec's defaults.
 */
export function parseOsRelease(text: string): OsRelease {
  const raw = parseAssignments(text.replace(/\r\n?/g, '\n'));
  const get = (k: string): string | undefined => {
    const v = raw[k];
    return v === undefined || v === '' ? undefined : v;
  };
  const codename = get('VERSION_CODENAME');
  return {
    id: (get('ID') ?? 'linux').toLowerCase(),
    idLike: (get('ID_LIKE') ?? '')
      .split(/\s+/)
      .filter((s) => s !== '')
      .map((s) => s.toLowerCase()),
    versionId: get('VERSION_ID') ?? '',
    prettyName: get('PRETTY_NAME') ?? get('NAME') ?? 'Linux',
    ...(codename !== undefined ? { versionCodename: codename } : {}),
    raw,
  };
}

function parseAssignments(text: string): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  let i = 0;
  const n = text.length;

  const skipToNextLine = (): void => {
    while (i < n && text[i] !== '\n') i++;
    i++;
  };

  while (i < n) {
    // Leading blanks, then blank line / comment / assignment.
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
    if (i >= n) break;
    const c = text[i];
    if (c === '\n') {
      i++;
      continue;
    }
    if (c === '#') {
      skipToNextLine();
      continue;
    }
    const eq = text.indexOf('=', i);
    const nl = text.indexOf('\n', i);
    if (eq === -1 || (nl !== -1 && nl < eq)) {
      skipToNextLine();
      continue;
    }
    const key = text.slice(i, eq).trim();
    if (!KEY_RE.test(key)) {
      skipToNextLine();
      continue;
    }
    i = eq + 1;
    // Blanks right after `=` are dropped, as systemd's own parser does.
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
    let value = '';
    // One sh word: unquoted runs and quoted runs, until unquoted whitespace or newline.
    word: while (i < n) {
      const ch = text[i] as string;
      if (ch === '\n' || ch === ' ' || ch === '\t') break word;
      if (ch === "'") {
        const end = text.indexOf("'", i + 1);
        if (end === -1) {
          value += text.slice(i + 1);
          i = n;
        } else {
          value += text.slice(i + 1, end);
          i = end + 1;
        }
        continue;
      }
      if (ch === '"') {
        i++;
        while (i < n && text[i] !== '"') {
          const d = text[i] as string;
          if (d === '\\' && i + 1 < n) {
            const e = text[i + 1] as string;
            if (e === '\n') {
              i += 2; // line continuation
              continue;
            }
            if (DQ_ESCAPABLE.has(e)) {
              value += e;
              i += 2;
              continue;
            }
          }
          value += d;
          i++;
        }
        i++; // closing quote (or past the end)
        continue;
      }
      if (ch === '\\') {
        const e = text[i + 1];
        if (e === undefined) {
          i++;
          continue;
        }
        if (e !== '\n') value += e; // backslash-newline is a continuation
        i += 2;
        continue;
      }
      value += ch;
      i++;
    }
    out[key] = value;
    // Whatever follows the word on this line (a trailing comment, stray text) is ignored.
    if (i < n && text[i] !== '\n') skipToNextLine();
    else i++;
  }
  return { ...out };
}

/**
 * Reads /etc/os-release, falling back to /usr/lib/os-release as the spec requires.
 * Throws UnsupportedHostError when neither exists (not a systemd-era Linux).
 */
export async function readOsRelease(system: System): Promise<OsRelease> {
  for (const path of OS_RELEASE_PATHS) {
    const text = await system.readFile(path);
    if (text !== undefined) return parseOsRelease(text);
  }
  throw new UnsupportedHostError(
    `cannot identify this host: neither ${OS_RELEASE_PATHS.join(' nor ')} exists`,
  );
}
