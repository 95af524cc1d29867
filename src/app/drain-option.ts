import { InputError } from '../text/errors.js';

/** `--drain SECONDS` (main job and restart): how long clients may stay on the old process in a handover. */
export function drainOption(value: string | undefined): { drainMs?: number } {
  if (value === undefined) return {};
  const ms = Math.round(Number(value) * 1000);
  if (!/^\d+(\.\d+)?$/.test(value) || ms > 3_600_000) throw new InputError(`--drain ${value}: seconds from 0 to 3600`, '--drain');
  return { drainMs: ms };
}
