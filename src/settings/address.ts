import { BlockList, isIP } from 'node:net';

/**
 * An IPv4 or IPv6 address, optionally with a /prefix, in the plain form ufw and firewalld take:
 * node:net decides what an address is; IPv6 is limited to hex digits and colons (no embedded
 * IPv4, no %zone), which the firewall rules and the profile never need.
 */
export function isCidr(s: string): boolean {
  const [addr, bits, extra] = s.split('/');
  if (extra !== undefined || addr === undefined) return false;
  const family = isIP(addr);
  if (family === 0 || (family === 6 && !/^[0-9A-Fa-f:]+$/.test(addr))) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** localhost, 127.0.0.0/8 or ::1 (in any of its spellings). */
export function isLoopbackAddress(host: string): boolean {
  if (host === 'localhost') return true;
  const family = isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}
