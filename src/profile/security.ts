import { versionAtLeast } from '../settings/version.js';
import type { ResolvedConfig } from './types.js';

interface Advisory {
  id: string;
  fixedIn: string;
  applies: (c: ResolvedConfig) => boolean;
  summary: string;
}

const has = (c: ResolvedConfig, key: string) => c.settings.some((s) => s.key === key);
const listHas = (c: ResolvedConfig, key: string, item: string) => {
  const v = c.settings.find((s) => s.key === key)?.value;
  return Array.isArray(v) && v.some((x) => x.toLowerCase() === item.toLowerCase());
};

/** Published pgbouncer advisories that matter for a generated config, from pgbouncer's NEWS.md. */
const ADVISORIES: readonly Advisory[] = [
  {
    id: 'CVE-2025-2291',
    fixedIn: '1.24.1',
    applies: (c) => has(c, 'auth_user'),
    summary: 'the default auth_query ignores VALID UNTIL, so an expired password still logs in (Debian 12 backported the fix in 1.18.0-1+deb12u1; a custom auth_query must check rolvaliduntil itself)',
  },
  {
    id: 'CVE-2025-12819',
    fixedIn: '1.25.1',
    applies: (c) => has(c, 'auth_user') && listHas(c, 'track_extra_parameters', 'search_path'),
    summary: 'with auth_query and search_path in track_extra_parameters a client can run its own function during login; schema-qualify everything in auth_query',
  },
];

export function securityWarnings(config: ResolvedConfig): string[] {
  return ADVISORIES.filter((a) => !versionAtLeast(config.target.version, a.fixedIn) && a.applies(config)).map(
    (a) => `security: pgbouncer ${config.target.version} is affected by ${a.id}, fixed in ${a.fixedIn}: ${a.summary}`,
  );
}
