/** Reading and rewriting an existing userlist.txt through the System seam, validated first. */
import { resolve } from 'node:path';
import { parseUserlist, upsertUserlistBytes, userlistEntriesOfBytes, type Userlist } from '../auth/userlist.js';
import { MAX_USERLIST_BYTES } from '../facts/host-facts.js';
import type { Context } from '../system/context.js';
import { InputError } from '../text/errors.js';
import { setting, type ResolvedConfig } from '../profile/resolve.js';
import type { FileStat, System } from '../system/system.js';

/** userlist.txt always gets 0600: only its owner (the pgbouncer service user) reads it. */
const USERLIST_MODE = 0o600;

export interface UserlistFile {
  path: string;
  /**
   * The file's bytes, one character per byte (latin1), so that rewriting it keeps every line of other
   * users byte for byte whatever their encoding. `parsed` holds the entries as text.
   */
  text: string;
  stat: FileStat;
  parsed: Userlist;
}

/**
 * The userlist path from `--userlist [file]`: a file name as given (relative to the cwd), or with
 * no file name the profile's auth_file.
 */
export function userlistPathFrom(flag: string | boolean | undefined, config: ResolvedConfig | undefined, ctx: Context, flagName = '--userlist'): string | undefined {
  if (flag === undefined || flag === false) return undefined;
  if (typeof flag === 'string') return resolve(ctx.cwd, flag);
  if (!config) throw new InputError(`${flagName}: give a FILE, or name an environment so its profile's auth_file is used`, flagName);
  const authFile = setting(config, 'auth_file');
  if (typeof authFile !== 'string' || !authFile) {
    throw new InputError(`${flagName}: the ${config.environment} profile sets no auth_file; give a FILE`, flagName);
  }
  return authFile;
}

/**
 * Reads and parses an existing userlist. Missing, not a regular file, or malformed (reported with
 * its line number, as pgbouncer would choke on it): InputError, exit 2, nothing touched.
 */
export async function readUserlistFile(system: System, path: string): Promise<UserlistFile> {
  const stat = await system.stat(path);
  if (!stat) {
    throw new InputError(
      `${path} does not exist; give an existing userlist.txt (pgb-setup render writes one, or create an empty one: install -m 0600 /dev/null ${path})`,
      path,
    );
  }
  if (!stat.isFile) throw new InputError(`${path} is not a regular file`, path);
  let got;
  try {
    got = await system.readManaged(path, MAX_USERLIST_BYTES);
  } catch (e) {
    throw new InputError((e as Error).message, path);
  }
  if (got === undefined) throw new InputError(`${path} could not be read`, path);
  // Validated as bytes (limits in bytes as written), entries read as text.
  userlistEntriesOfBytes(got.bytes, { name: path });
  const parsed = parseUserlist(got.bytes.toString('utf8'), { name: path });
  return { path, text: got.bytes.toString('latin1'), stat: got.stat, parsed };
}

/** The file (bytes as latin1, like `text`) with `user`'s entry set to `secret`; every other line byte for byte. */
export function upsertedText(file: UserlistFile, user: string, secret: string): string {
  return upsertUserlistBytes(Buffer.from(file.text, 'latin1'), user, secret, { name: file.path }).toString('latin1');
}

/** Atomic replace keeping the file's owner and group, mode 0600. `text` is bytes as latin1, like UserlistFile.text. */
export async function writeUserlistText(system: System, file: UserlistFile, text: string): Promise<void> {
  await system.writeFile(file.path, Buffer.from(text, 'latin1'), { mode: USERLIST_MODE, uid: file.stat.uid, gid: file.stat.gid });
}
