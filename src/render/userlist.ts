import { md5Secret } from '../auth/md5.js';
import { scramSecret, verifyScramPassword } from '../auth/scram.js';
import { formatUserlistEntry, parseUserlist, userlistEntriesOfBytes, type ByteUserlist } from '../auth/userlist.js';
import { setting, type ResolvedConfig } from '../profile/resolve.js';
import { renderTemplate } from './templates.js';

interface UserlistEntry {
  user: string;
  secret: string;
}

/**
 * The secret for a user: the one already on disk when it still matches the password (so a re-run
 * changes nothing and PostgreSQL's copy of a SCRAM verifier stays identical), else a new one.
 */
function secretFor(user: string, password: string, method: 'scram-sha-256' | 'md5', iterations: number, existing?: string): string {
  if (method === 'md5') return md5Secret(user, password);
  if (existing && existing.startsWith('SCRAM-SHA-256$') && verifyScramPassword(existing, password)) return existing;
  return scramSecret(password, { iterations });
}

export function userlistEntries(config: ResolvedConfig, existingText?: string | Uint8Array | ByteUserlist): UserlistEntry[] {
  const existing = new Map<string, string>();
  if (typeof existingText === 'string') {
    for (const e of parseUserlist(existingText).entries) existing.set(e.user, e.secret);
  } else if (existingText !== undefined) {
    for (const e of userlistEntriesOfBytes(existingText)) if (e.user !== undefined && e.secret !== undefined) existing.set(e.user, e.secret);
  }
  const authUser = setting(config, 'auth_user');
  if (typeof authUser === 'string' && authUser) {
    // auth_query mode: PostgreSQL holds the users' verifiers, userlist.txt only auth_user's own
    // plain-text password (written by `pgb-setup auth-query --apply-server --userlist FILE`), kept as it is.
    const kept = existing.get(authUser);
    return kept === undefined ? [] : [{ user: authUser, secret: kept }];
  }
  const db = config.profile.database;
  if (!db.user || !db.password) return [];
  const { method, iterations } = config.profile.userlist;
  return [{ user: db.user, secret: secretFor(db.user, db.password.reveal(), method, iterations, existing.get(db.user)) }];
}

export function renderUserlist(config: ResolvedConfig, entries: readonly UserlistEntry[]): string {
  return renderTemplate('userlist.txt', {
    environment: config.environment,
    entries: entries.map((e) => ({ line: formatUserlistEntry(e.user, e.secret) })),
  });
}
