// The ESM build: esbuild would otherwise bundle the UMD one (package.json main), whose requires it cannot follow.
import { visit, printParseErrorCode, type ParseErrorCode } from 'jsonc-parser/lib/esm/main.js';

/** Positions for JSON errors (see JsonInputError) and duplicate keys in a --profile: where, never what. */
function lineColumn(text: string, offset: number): string {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return `line ${line}, column ${offset - lineStart + 1}`;
}

/** "not valid JSON (invalid symbol at line 3, column 32)": the first syntax error, from a parser that reports offsets. */
export function syntaxErrorPosition(text: string): string {
  let found: { code: ParseErrorCode; offset: number } | undefined;
  try {
    visit(
      text,
      {
        onError: (code, offset) => {
          found ??= { code, offset };
        },
      },
      { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false },
    );
  } catch {
    // A recursive parser can run out of stack on absurd nesting; the message then has no position.
  }
  if (!found) return 'not valid JSON';
  const what = printParseErrorCode(found.code).replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
  return `not valid JSON (${what} at ${lineColumn(text, found.offset)})`;
}

/** ", line 1, column 2" for the first property named `key`, best effort. */
export function keyPosition(text: string, key: string): string {
  let at: number | undefined;
  try {
    visit(text, { onObjectProperty: (property, offset) => void (property === key && at === undefined && (at = offset)) });
  } catch {
    return '';
  }
  return at === undefined ? '' : `, ${lineColumn(text, at)}`;
}

/**
 * The first key an object holds twice, with where its second copy stands. JSON.parse keeps the
 * last copy silently, so a profile that says a thing twice would be read as only half of what it says.
 */
export function duplicateKey(text: string): { keyPath: string; at: string } | undefined {
  const open: { keys: Set<string>; path: string }[] = [];
  let pendingPath = '';
  let found: { keyPath: string; at: string } | undefined;
  try {
    visit(text, {
      onObjectBegin: () => void open.push({ keys: new Set(), path: pendingPath }),
      onObjectEnd: () => void open.pop(),
      onArrayBegin: () => void (pendingPath = `${pendingPath}[]`),
      onObjectProperty: (property, offset) => {
        const current = open[open.length - 1];
        if (!current) return;
        const name = property === '' ? '""' : property;
        const keyPath = current.path ? `${current.path}.${name}` : name;
        if (current.keys.has(property)) found ??= { keyPath, at: lineColumn(text, offset) };
        current.keys.add(property);
        pendingPath = keyPath;
      },
    });
  } catch {
    return found;
  }
  return found;
}
