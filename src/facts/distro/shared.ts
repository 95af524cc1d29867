import { InputError } from '../../text/errors.js';

/** X.Y or X.Y.Z → its parts; anything else is an InputError on `--pgbouncer-version`. */
export function splitVersionArg(version: string): string[] {
  if (!/^\d+\.\d+(\.\d+)?$/.test(version)) {
    throw new InputError(
      `--pgbouncer-version: expected X.Y or X.Y.Z, got ${JSON.stringify(version)}`,
      '--pgbouncer-version',
    );
  }
  return version.split('.');
}

/** `uname -m` values are plain words; refuse anything that could smuggle a path into a URL. */
export function checkArch(arch: string): string {
  if (!/^[a-z0-9_]+$/.test(arch)) {
    throw new InputError(`unexpected machine architecture ${JSON.stringify(arch)}`, 'arch');
  }
  return arch;
}
