// The ESM build: esbuild would otherwise bundle the UMD one (package.json main), whose requires it cannot follow.
import { visit, printParseErrorCode, type ParseErrorCode } from 'jsonc-parser/lib/esm/main.js';
import { InputError } from '../errors.js';

/**
 * A JSON object from a file the user gave, or an InputError that names the file, a line and a
 * column but never quotes it (V8's own messages quote the text: a --profile that is a symlink to
 * /etc/shadow would print part of it). Keys that reach JavaScript's object machinery
 * (__proto__, constructor, prototype) are refused wherever they are, and so is nesting deeper than
 * any profile needs, before anything walks the object recursively.
 */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
export const MAX_DEPTH = 16;

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

/** Where the first syntax error is, from a parser that reports offsets (only on the error path). */
function syntaxError(text: string): string {
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

/** Line of the first property named `key` (for a forbidden key), best effort. */
function keyPosition(text: string, key: string): string {
  let at: number | undefined;
  try {
    visit(text, { onObjectProperty: (property, offset) => void (property === key && at === undefined && (at = offset)) });
  } catch {
    return '';
  }
  return at === undefined ? '' : `, ${lineColumn(text, at)}`;
}

/** Checks keys and depth without recursion (the object may be nested thousands deep). */
function checkShape(root: unknown, text: string, label: string): void {
  const stack: { value: unknown; path: string; depth: number }[] = [{ value: root, path: '', depth: 0 }];
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (depth > MAX_DEPTH) throw new InputError(`${label}: nested more than ${MAX_DEPTH} levels deep (at ${path}); a profile needs at most 3`, label);
    if (Array.isArray(value)) {
      value.forEach((v, i) => stack.push({ value: v, path: `${path}[${i}]`, depth: depth + 1 }));
      continue;
    }
    for (const key of Object.keys(value)) {
      const keyPath = path ? `${path}.${key}` : key;
      if (FORBIDDEN_KEYS.has(key)) throw new InputError(`${keyPath}: unknown key (in ${label}${keyPosition(text, key)})`, keyPath);
      stack.push({ value: (value as Record<string, unknown>)[key], path: keyPath, depth: depth + 1 });
    }
  }
}

export function parseJsonObject(text: string, label: string): Record<string, unknown> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new InputError(`${label}: ${syntaxError(text)}`, label);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new InputError(`${label}: must hold a JSON object ({ ... })`, label);
  }
  checkShape(data, text, label);
  return data as Record<string, unknown>;
}
