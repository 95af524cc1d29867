import { z } from 'zod';
import type { SettingType } from './catalogue.js';

/**
 * zod schemas for setting values. Each accepts the JSON form (from a profile file) and the string
 * form (from the environment or --set) and yields one canonical value, so that nothing a user types
 * can carry a line break, a section header or a second setting into a rendered file.
 */
export type SettingValue = number | boolean | string | string[];

// C0, DEL and C1 controls (U+0085 NEL among them) and the Unicode line/paragraph separators.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * What is wrong with a piece of text a user gave (a name, a host, a setting), or undefined.
 * U+FFFD is refused because it is what Node.js makes of bytes that are not UTF-8 (in argv and the
 * environment) before any of our code runs: the value would not be what was given.
 */
function textProblem(s: string): string | undefined {
  if (s !== s.trim()) return 'must not start or end with spaces';
  return characterProblem(s);
}

/** The characters no name or value may hold, whoever gives it (a profile, the environment, hash-user). */
function characterProblem(s: string): string | undefined {
  if (CONTROL.test(s)) return 'must not contain line breaks or control characters';
  // A lone surrogate has no UTF-8 form: it would reach the file as U+FFFD, not as what was given.
  if (LONE_SURROGATE.test(s)) return 'contains an unpaired UTF-16 surrogate, which has no UTF-8 form; use valid Unicode text';
  if (s.includes('\ufffd')) return 'contains U+FFFD, which is what bytes that are not valid UTF-8 turn into; use valid UTF-8 text';
  return undefined;
}

/**
 * A PostgreSQL identifier (database, role): the one rule for profiles and hash-user. Profiles also
 * refuse spaces at either end (a stray space in an env file); hash-user takes a role name verbatim.
 */
export function identifierProblem(s: string): string | undefined {
  if (s.length === 0) return 'must not be empty';
  const problem = characterProblem(s);
  if (problem) return problem;
  if (Buffer.byteLength(s) > 63) return 'must be at most 63 bytes (PostgreSQL truncates longer names)';
  return undefined;
}

/** No setting pgb-setup writes needs more (auth_query is the longest real one, a few hundred). */
const MAX_TEXT = 4096;

export const safeText = z.string().superRefine((s, ctx) => {
  const problem = s.length > MAX_TEXT ? `is ${s.length} characters, more than the ${MAX_TEXT} any setting needs` : textProblem(s);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

/** Strings from the environment or --set become numbers/booleans when they look like one; anything else fails the type check. */
export function numberLike(v: unknown): unknown {
  return typeof v === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(v) ? Number(v.trim()) : v;
}

function booleanLike(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const t = v.trim().toLowerCase();
  return TRUE.has(t) ? true : FALSE.has(t) ? false : v;
}

export function listFromString(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x.length > 0);
}

/** pgbouncer keeps an int setting in a C int (libusual cf_set_int: strtol, then stored in an int). */
export const PGBOUNCER_INT_MAX = 2_147_483_647;

/**
 * Seconds as pgbouncer reads them (libusual cf_set_time_usec): strtod, times 1,000,000, truncated
 * to whole microseconds. 0.0000001 is read as 0 (a timeout switched off), and 0.000249 as 248 µs,
 * because the double nearest 0.000249 times 1e6 is just below 249.
 */
export function pgbouncerMicroseconds(text: string): number {
  return Math.trunc(Number(text) * 1e6);
}

/**
 * The text for a whole number of microseconds that pgbouncer reads back as exactly that number:
 * plain decimal (never an exponent), with a nudge in the 7th+ decimal place when the plain form
 * would be truncated one microsecond short.
 */
function formatMicroseconds(us: number): string {
  const whole = Math.floor(us / 1e6);
  const frac = us - whole * 1e6;
  const plain = frac === 0 ? String(whole) : `${whole}.${String(frac).padStart(6, '0')}`.replace(/0+$/, '');
  if (pgbouncerMicroseconds(plain) === us) return plain;
  const six = `${whole}.${String(frac).padStart(6, '0')}`;
  for (let extra = 1; extra <= 9; extra++) {
    const nudged = `${six}${'0'.repeat(extra - 1)}1`;
    if (pgbouncerMicroseconds(nudged) === us) return nudged;
  }
  return plain;
}

/** A value in seconds as a whole number of microseconds, or undefined when it is finer than that. */
function wholeMicroseconds(seconds: number): number | undefined {
  const us = Math.round(seconds * 1e6);
  return Math.abs(seconds * 1e6 - us) < 0.01 ? us : undefined;
}

/** Seconds, kept as a number; rendered by formatSettingValue through formatMicroseconds. */
function secondsSchema(): z.ZodType<number, z.ZodTypeDef, unknown> {
  return z.preprocess(
    numberLike,
    z
      .number({ message: 'must be a number of seconds, like 30 or 0.5' })
      .min(0, { message: 'must be 0 or more seconds' })
      .max(31_536_000, { message: 'must be at most a year' })
      .refine((v) => wholeMicroseconds(v) !== undefined, {
        message: 'must be a whole number of microseconds (at most 6 decimals): pgbouncer truncates to microseconds, and would read a smaller value as 0 (off)',
      }),
  ) as z.ZodType<number, z.ZodTypeDef, unknown>;
}

/** "0660", "660" or 660: octal digits, at most 0777; kept as the text pgbouncer reads as octal. */
function modeSchema(): z.ZodType<SettingValue> {
  const MESSAGE = 'must be a file mode in octal, like 0660 or 0777 (digits 0-7, at most 0777)';
  return z
    .union([z.string(), z.number()], { message: MESSAGE })
    .transform((v) => String(v).trim().replace(/^0o/i, ''))
    .refine((v) => /^[0-7]{1,4}$/.test(v) && parseInt(v, 8) <= 0o777, { message: MESSAGE })
    .transform((v) => `0${parseInt(v, 8).toString(8).padStart(3, '0')}`) as unknown as z.ZodType<SettingValue>;
}

export function settingSchema(type: SettingType): z.ZodType<SettingValue> {
  switch (type.kind) {
    case 'mode':
      return modeSchema();
    case 'int':
      return z.preprocess(
        numberLike,
        z
          .number({ message: 'must be a whole number' })
          .int({ message: 'must be a whole number' })
          .min(type.min, { message: `must be at least ${type.min}` })
          .max(type.max, { message: `must be at most ${type.max}` }),
      ) as z.ZodType<SettingValue>;
    case 'secs':
      return secondsSchema() as z.ZodType<SettingValue>;
    case 'bool':
      return z.preprocess(booleanLike, z.boolean({ invalid_type_error: 'must be true or false (also 1/0, yes/no)' })) as z.ZodType<SettingValue>;
    case 'str': {
      const pattern = type.pattern;
      if (!pattern) return safeText;
      return safeText.refine((v) => pattern.test(v), { message: `must be ${type.hint ?? `like ${pattern.source}`}` });
    }
    case 'enum': {
      const values = type.values;
      return z
        .string({ message: `must be one of ${values.join(', ')}` })
        .transform((v) => v.trim().toLowerCase())
        .refine((v) => values.includes(v), { message: `must be one of ${values.join(', ')}` });
    }
    case 'list': {
      const item = type.item;
      const items = z.array(
        safeText
          .refine((v) => v.length > 0 && (!item || item.test(v)), {
            message: `items must be ${type.hint ?? 'non-empty'}`,
          })
          // A host name has at most 253 characters, a PostgreSQL name 63 bytes: nothing in a list is longer.
          .refine((v) => v.length <= 253, { message: 'items must be at most 253 characters' }),
      );
      return z.preprocess((v) => (typeof v === 'string' ? listFromString(v) : v), items) as z.ZodType<SettingValue>;
    }
  }
}

/** The text pgbouncer reads for a value. */
export function formatSettingValue(value: SettingValue): string {
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (Array.isArray(value)) return value.join(', ');
  if (typeof value === 'number') return Number.isInteger(value) ? value.toFixed(0) : formatMicroseconds(Math.round(value * 1e6));
  return String(value);
}
