import { z } from 'zod';
import type { SettingType } from './catalogue.js';

/**
 * zod schemas for setting values. Each accepts the JSON form (from a profile file) and the string
 * form (from the environment or --set) and yields one canonical value, so that nothing a user types
 * can carry a line break, a section header or a second setting into a rendered file.
 */
export type SettingValue = number | boolean | string | string[];

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

export const safeText = z
  .string()
  .refine((s) => !CONTROL.test(s), { message: 'must not contain line breaks or control characters' })
  .refine((s) => s === s.trim(), { message: 'must not start or end with spaces' })
  // A lone surrogate has no UTF-8 form: it would reach the file as U+FFFD, not as what was given.
  .refine((s) => !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s), { message: 'contains an unpaired UTF-16 surrogate, which has no UTF-8 form; use valid Unicode text' });

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

export function settingSchema(type: SettingType): z.ZodType<SettingValue> {
  switch (type.kind) {
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
      return z.preprocess(
        numberLike,
        z
          .number({ message: 'must be a number of seconds, like 30 or 0.5' })
          .min(0, { message: 'must be 0 or more seconds' })
          .max(31_536_000, { message: 'must be at most a year' }),
      ) as z.ZodType<SettingValue>;
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
        safeText.refine((v) => v.length > 0 && (!item || item.test(v)), {
          message: `items must be ${type.hint ?? 'non-empty'}`,
        }),
      );
      return z.preprocess((v) => (typeof v === 'string' ? listFromString(v) : v), items) as z.ZodType<SettingValue>;
    }
  }
}

/** The text pgbouncer reads for a value. */
export function formatSettingValue(value: SettingValue): string {
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (Array.isArray(value)) return value.join(', ');
  return String(value);
}
