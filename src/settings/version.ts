import { compareVersion } from './pgbouncer-version.js';

function parts(v: string): { major: number; minor: number; patch: number } {
  const [major = 0, minor = 0, patch = 0] = v.split('.').map(Number);
  return { major, minor, patch };
}

/** "1.21.0" is at least "1.21": versions as the catalogue and the resolved target write them. */
export function versionAtLeast(version: string, minimum: string): boolean {
  return compareVersion(parts(version), parts(minimum)) >= 0;
}
