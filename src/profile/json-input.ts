import { InputError } from '../text/errors.js';

/**
 * A JSON object from a file the user gave, or an InputError that names the file, a line and a
 * column but never quotes it (V8's own messages quote the text: a --profile that is a symlink to
 * /etc/shadow would print part of it). Keys that reach JavaScript's object machinery
 * (__proto__, constructor, prototype) are refused wherever they are, and so is nesting deeper than
 * any profile needs, before anything walks the object recursively.
 */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
const MAX_DEPTH = 16;

/**
 * An error in a JSON file whose position is found only when it is printed: the parser that reports
 * offsets (jsonc-parser) is loaded on that path alone, not on every run that reads a profile.
 */
export class JsonInputError extends InputError {
  constructor(
    private readonly label: string,
    private readonly text: string,
    private readonly what: { syntax: true } | { key: string; keyPath: string },
  ) {
    super('syntax' in what ? `${label}: not valid JSON` : `${what.keyPath}: unknown key (in ${label})`, 'syntax' in what ? label : what.keyPath);
  }

  /** The same error with its line and column (never the file's bytes). */
  async located(): Promise<InputError> {
    const { syntaxErrorPosition, keyPosition } = await import('./json-position.js');
    if ('syntax' in this.what) return new InputError(`${this.label}: ${syntaxErrorPosition(this.text)}`, this.field);
    return new InputError(`${this.what.keyPath}: unknown key (in ${this.label}${keyPosition(this.text, this.what.key)})`, this.field);
  }
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
      if (FORBIDDEN_KEYS.has(key)) throw new JsonInputError(label, text, { key, keyPath });
      stack.push({ value: (value as Record<string, unknown>)[key], path: keyPath, depth: depth + 1 });
    }
  }
}

export function parseJsonObject(text: string, label: string): Record<string, unknown> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new JsonInputError(label, text, { syntax: true });
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new InputError(`${label}: must hold a JSON object ({ ... })`, label);
  }
  checkShape(data, text, label);
  return data as Record<string, unknown>;
}
