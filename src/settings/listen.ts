import { isLoopbackAddress } from './address.js';
import { listFromString, type SettingValue } from './values.js';

/** A list setting (listen_addr, admin_users, ...) as an array, whether resolved or raw text. */
export function settingList(value: SettingValue | undefined): string[] {
  if (Array.isArray(value)) return value.map(String);
  if (typeof value === 'string') return listFromString(value);
  return [];
}

/** A host name or address that stays on this machine: localhost, ::1 or 127.0.0.0/8. */
export function isLoopbackHost(host: string): boolean {
  return isLoopbackAddress(host);
}

/** A host to connect to for a listen_addr: wildcards mean "every interface", so loopback reaches it. */
export function connectHostFor(listenAddr: readonly string[]): string | undefined {
  const first = listenAddr[0];
  if (!first) return undefined;
  if (first === '*' || first === '0.0.0.0') return '127.0.0.1';
  if (first === '::') return '::1';
  return first;
}
