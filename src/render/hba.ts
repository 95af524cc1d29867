import type { ResolvedConfig } from '../profile/resolve.js';
import { isCidr } from '../profile/schema.js';
import { renderTemplate } from './templates.js';

type HbaMethod = 'scram-sha-256' | 'md5';

/** A network as pg_hba.conf wants it: a bare address becomes /32 (IPv4) or /128 (IPv6). */
export function hbaNetwork(cidr: string): string {
  if (!isCidr(cidr)) throw new Error(`not a CIDR: ${cidr}`);
  if (cidr.includes('/')) return cidr;
  return cidr.includes(':') ? `${cidr}/128` : `${cidr}/32`;
}

/**
 * pgbouncer's auth_hba_file for the allowed networks: local and loopback lines for admin use, a
 * hostssl line per allowed network, nothing else (pgbouncer refuses a connection no line matches).
 * Only record types, address forms and methods pgbouncer 1.15+ reads are written (no "all"
 * address, which came in 1.23; no host names).
 */
export function renderHba(input: { environment: string; allowFrom: readonly string[]; method: HbaMethod }): string {
  const networks = [...new Set(input.allowFrom.map(hbaNetwork))];
  const width = Math.max(20, ...networks.map((n) => n.length + 2));
  return renderTemplate('pgbouncer-hba.conf', { environment: input.environment, method: input.method, networks: networks.map((n) => n.padEnd(width)) });
}

/** The hba method for the profile's secrets: SCRAM secrets log in with scram-sha-256, md5 ones with md5. */
export function hbaMethod(config: ResolvedConfig): HbaMethod {
  return config.profile.userlist.method === 'md5' ? 'md5' : 'scram-sha-256';
}
