import { InputError } from '../text/errors.js';

/** A TCP port from a flag or environment variable: 1 to 5 digits, 1-65535 (`what` names the flag). */
export function parsePort(value: string, what: string): number {
  if (!/^\d{1,5}$/.test(value.trim()) || Number(value) < 1 || Number(value) > 65535) {
    throw new InputError(`${what}: "${value}" is not a port (1-65535)`, what);
  }
  return Number(value);
}
