import type { ResolvedConfig } from '../profile/resolve.js';
import { parseUserlistBytes, upsertUserlistBytes } from '../auth/userlist.js';
import { renderUserlist, userlistEntries } from './userlist.js';

/**
 * userlist.txt as it should be, as bytes: the app user's entry upserted, every other line kept byte
 * for byte (whatever its encoding: lines pgb-setup does not own are not decoded and re-encoded).
 */
export function desiredUserlist(config: ResolvedConfig, existing: Uint8Array | string | undefined, serverSecret?: string): Buffer {
  const bytes = typeof existing === 'string' ? Buffer.from(existing, 'utf8') : existing;
  // Parsed once (a userlist may hold hundreds of thousands of users): read for the secrets, then edited.
  const parsed = bytes === undefined ? undefined : parseUserlistBytes(bytes);
  let entries = userlistEntries(config, parsed);
  // PostgreSQL's verifier belongs to DBUSER only (in auth_query mode the entry is the auth_user's).
  if (serverSecret) entries = entries.map((e) => (e.user === config.profile.database.user ? { ...e, secret: serverSecret } : e));
  if (parsed === undefined || parsed.lines.every((l) => typeof l !== 'string' && l.kind === 'blank')) return Buffer.from(renderUserlist(config, entries), 'utf8');
  let out: Buffer | undefined;
  for (const e of entries) out = upsertUserlistBytes(out ?? parsed, e.user, e.secret);
  return out ?? Buffer.from(bytes!);
}
