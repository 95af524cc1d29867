import type { System } from '../system/system.js';
import { parsePgbouncerVersion } from '../settings/pgbouncer-version.js';

/** The pgbouncer a command would run, and the version it says it is. */
interface PgbouncerBinary {
  binary: string;
  /** x.y.z, or undefined when `--version` printed none. */
  version: string | undefined;
}

/** What `BINARY --version` says (on stdout or stderr), as x.y.z. */
async function pgbouncerVersionOf(system: System, binary: string): Promise<{ version: string | undefined; exitCode: number }> {
  const r = await system.exec(binary, ['--version']);
  const v = parsePgbouncerVersion(`${r.stdout}\n${r.stderr}`);
  return { version: v ? `${v.major}.${v.minor}.${v.patch}` : undefined, exitCode: r.exitCode };
}

/** The pgbouncer on PATH and its version; undefined when there is none. */
export async function pgbouncerOnPath(system: System): Promise<PgbouncerBinary | undefined> {
  const binary = await system.which('pgbouncer');
  if (!binary) return undefined;
  return { binary, version: (await pgbouncerVersionOf(system, binary)).version };
}
