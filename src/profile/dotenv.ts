/**
 * The --env-file reader. Hand-written because the dotenv parsers at hand (node's util.parseEnv, which
 * Node.js 18 lacks, and the `dotenv` package) silently cut `abc#def` to `abc`, trim ` pw `, decode
 * invalid UTF-8 to U+FFFD and let a line without `=` swallow the next key; this one refuses those.
 *
 * The convention (that of `dotenv`, minus its silent guesses):
 * - `NAME=value` per line, optionally `export NAME=value`; blank lines and lines starting with `#` are
 *   skipped; a UTF-8 byte order mark at the start is ignored; CRLF line ends are accepted.
 * - Quoted values: '...' (literal), "..." (`\n` becomes a line break), `...` (literal); they may span
 *   lines, and only a `# comment` may follow the closing quote.
 * - Unquoted values run to the end of the line, or to a `#` that follows a space (a comment).
 *   Unquoted values that readers disagree on are ambiguous: a `#` inside (dotenv and Node.js cut a
 *   comment there, python-dotenv and the shell keep it) and a space right after `=` or at the end
 *   (dropped by every dotenv reader). Callers refuse those for the names they read: quote the value.
 * - Later lines win over earlier ones for the same name.
 * Errors name the line and the variable, never the value.
 */
import { isUtf8 } from 'node:buffer';

export interface DotenvEntry {
  value: string;
  /** 1-based line the assignment starts on. */
  line: number;
  /** Why readers would read this unquoted value differently, if they would. */
  ambiguity?: string;
}

export class DotenvSyntaxError extends Error {
  constructor(
    readonly line: number,
    readonly detail: string,
  ) {
    super(`line ${line}: ${detail}`);
  }
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
// Only ASCII blanks: in the latin1 view, bytes of UTF-8 characters (0x85, 0xA0) would match \s.
const trimStart = (s: string): string => s.replace(/^[ \t]+/, '');
const trimEnd = (s: string): string => s.replace(/[ \t]+$/, '');
const trim = (s: string): string => trimEnd(trimStart(s));
const BOM = '\u00ef\u00bb\u00bf'; // as latin1 characters

/** Parses the bytes of a dotenv file. Throws DotenvSyntaxError for what cannot be read line by line. */
export function parseDotenv(bytes: Uint8Array): Map<string, DotenvEntry> {
  // latin1 maps every byte to one character, so the ASCII delimiters are found without decoding;
  // each value's bytes are then checked and decoded as UTF-8 on their own.
  let text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  if (text.startsWith(BOM)) text = text.slice(BOM.length);
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const out = new Map<string, DotenvEntry>();
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i]!;
    const trimmed = trimStart(raw);
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const body = /^export[ \t]/.test(trimmed) ? trimStart(trimmed.slice('export '.length)) : trimmed;
    const eq = body.indexOf('=');
    if (eq < 0) throw new DotenvSyntaxError(lineNo, 'expected NAME=value (no "=" on this line)');
    const name = trimEnd(body.slice(0, eq));
    if (!NAME.test(name)) throw new DotenvSyntaxError(lineNo, 'expected NAME=value (the text before "=" is not a variable name)');
    const rest = body.slice(eq + 1);
    const afterSpace = trimStart(rest);
    const quote = afterSpace[0];
    if (quote === "'" || quote === '"' || quote === '`') {
      // A quoted value, possibly over several lines.
      let chunk = afterSpace.slice(1);
      let collected = '';
      let end = chunk.indexOf(quote);
      let j = i;
      while (end < 0) {
        if (j + 1 >= lines.length) throw new DotenvSyntaxError(lineNo, `${name}: the opening ${quote} is never closed`);
        collected += `${chunk}\n`;
        chunk = lines[++j]!;
        end = chunk.indexOf(quote);
      }
      collected += chunk.slice(0, end);
      const tail = trim(chunk.slice(end + 1));
      if (tail !== '' && !tail.startsWith('#')) {
        throw new DotenvSyntaxError(j + 1, `${name}: text after the closing ${quote}; put the whole value inside the quotes`);
      }
      const value = decode(collected, name, lineNo);
      out.set(name, { value: quote === '"' ? value.replace(/\\n/g, '\n') : value, line: lineNo });
      i = j;
      continue;
    }
    const comment = /[ \t]#/.exec(rest);
    const unquoted = comment ? rest.slice(0, comment.index) : rest;
    const value = decode(trim(unquoted), name, lineNo);
    const entry: DotenvEntry = { value, line: lineNo };
    if (value.includes('#')) {
      entry.ambiguity = 'holds a "#" outside quotes, which some dotenv readers cut as a comment';
    } else if (value !== '' && (/^[ \t]/.test(unquoted) || (!comment && /[ \t]$/.test(unquoted)))) {
      entry.ambiguity = 'starts or ends with a space outside quotes, which dotenv readers drop';
    }
    out.set(name, entry);
  }
  return out;
}

function decode(latin1: string, name: string, line: number): string {
  const bytes = Buffer.from(latin1, 'latin1');
  if (!isUtf8(bytes)) throw new DotenvSyntaxError(line, `${name}: the value is not valid UTF-8; save the file as UTF-8`);
  return bytes.toString('utf8');
}
