/**
 * PgBouncer version facts: parse what `pgbouncer -V` (or the console's SHOW VERSION) prints, and
 * the `--pgbouncer-version X.Y[.Z]` flag used when planning for a host where it is not installed.
 *
 * What the binary prints (pgbouncer/pgbouncer src/main.c, configure.ac per tag):
 *   1.12+  `PgBouncer 1.18.0`, then (1.15+) lines `libevent …`, `adns: …`, `tls: …`, `systemd: yes`
 *   ≤1.11  `pgbouncer version 1.10.0` (`FULLVER`), with ` (<dbgver>)` appended on debug builds
 *   rc's   `pgbouncer version 1.7rc1` (two-part version with a suffix)
 */
import { InputError } from '../text/errors.js';

interface PgbouncerVersion {
  major: number;
  minor: number;
  /** 0 when the version has only two parts (`1.7`, `1.7rc1`). */
  patch: number;
  /** A suffix glued to the version (`rc1`), when there is one; it sorts before the release. */
  prerelease?: string;
  /** The version as printed, e.g. `1.18.0`. */
  text: string;
}

// "PgBouncer 1.18.0", "pgbouncer version 1.10.0", "PgBouncer version 1.10.0" (SHOW VERSION on old
// releases), and a bare "bouncer 1.x" prefix as seen in some wrappers.
const OUTPUT_RE = /\b(?:pg)?bouncer(?:\s+version)?\s+v?(\d+)\.(\d+)(?:\.(\d+))?([a-z][a-z0-9]*)?/i;

/** Parses `pgbouncer --version` output. Returns undefined when no version line is found. */
export function parsePgbouncerVersion(output: string): PgbouncerVersion | undefined {
  const m = OUTPUT_RE.exec(output);
  if (!m) return undefined;
  const [, maj, min, pat, pre] = m;
  const text = `${maj}.${min}${pat !== undefined ? `.${pat}` : ''}${pre ?? ''}`;
  return {
    major: Number(maj),
    minor: Number(min),
    patch: pat !== undefined ? Number(pat) : 0,
    ...(pre !== undefined ? { prerelease: pre.toLowerCase() } : {}),
    text,
  };
}

type Comparable = Pick<PgbouncerVersion, 'major' | 'minor' | 'patch'> & { prerelease?: string };

/** -1, 0 or 1. A pre-release sorts before the release with the same numbers (1.7rc1 < 1.7.0). */
export function compareVersion(a: Comparable, b: Comparable): -1 | 0 | 1 {
  for (const k of ['major', 'minor', 'patch'] as const) {
    if (a[k] !== b[k]) return a[k] < b[k] ? -1 : 1;
  }
  const pa = a.prerelease;
  const pb = b.prerelease;
  if (pa === pb) return 0;
  if (pa === undefined) return 1;
  if (pb === undefined) return -1;
  return pa < pb ? -1 : 1;
}

/** True when `v` is at least `major.minor[.patch]`: the usual "is this setting supported" gate. */
export function isAtLeast(v: Comparable, major: number, minor: number, patch = 0): boolean {
  return compareVersion(v, { major, minor, patch }) >= 0;
}

const ARG_RE = /^(\d{1,3})\.(\d{1,3})(?:\.(\d{1,3}))?$/;

/**
 * Parses the `--pgbouncer-version X.Y[.Z]` flag. A missing patch counts as 0. Throws InputError
 * (field `--pgbouncer-version`) on anything else.
 */
export function parseVersionArg(value: string): PgbouncerVersion {
  const s = value.trim();
  const m = ARG_RE.exec(s);
  if (!m) {
    throw new InputError(
      `--pgbouncer-version: expected X.Y or X.Y.Z (e.g. 1.21 or 1.21.0), got ${JSON.stringify(value)}`,
      '--pgbouncer-version',
    );
  }
  const [, maj, min, pat] = m;
  const major = Number(maj);
  if (major < 1) {
    throw new InputError(
      `--pgbouncer-version: ${s} is not a PgBouncer release (they start at 1.0)`,
      '--pgbouncer-version',
    );
  }
  return { major, minor: Number(min), patch: pat !== undefined ? Number(pat) : 0, text: s };
}
