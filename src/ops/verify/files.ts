/** File checks: pgbouncer.ini parses and matches the profile, userlist.txt secrets match DBPASS, owners and modes. */
import type { ServiceUser } from '../../facts/distro/index.js';
import { findUserlistSecret, parseUserlist } from '../../auth/userlist.js';
import { isValidScramSecret, verifyScramPassword } from '../../auth/scram.js';
import { isValidMd5Secret, verifyMd5Password } from '../../auth/md5.js';
import { renderPgbouncerIni } from '../../render/pgbouncer-ini.js';
import { setting } from '../../profile/resolve.js';
import { compareIni, parseIniFile, type IniFile } from '../ini-file.js';
import { printable } from '../../text/printable.js';
import { memberPath } from '../group.js';
import { octal, type Check, type Env } from './types.js';
import { MAX_CONFIG_BYTES } from '../../facts/host-facts.js';
import type { System } from '../../system/system.js';

// ---- file checks ----------------------------------------------------------------------------

export async function checkIni(env: Env, text: string | undefined): Promise<{ checks: Check[]; parsed?: IniFile }> {
  const { paths, config, environment } = env;
  const rerender = `pgb-setup apply ${environment}${env.member ? ` --processes ${env.member.count}` : ''} (writes the profile's config and reloads pgbouncer)`;
  if (text === undefined) {
    const first = memberPath(paths.ini, 1);
    const group = !env.member && (await env.system.exists(first));
    return {
      checks: [
        {
          id: 'ini-parses',
          title: 'pgbouncer.ini parses',
          status: 'fail',
          detail: `${paths.ini} does not exist${group ? ` (but ${first} does: a --processes group is installed here)` : ''}`,
          fix: group ? `pgb-setup verify ${environment} --processes N (N = the number of pgbouncer-<i>.ini files)` : `${rerender}; or pass --ini with the path pgbouncer is started with`,
        },
      ],
    };
  }
  const parsed = parseIniFile(text);
  const checks: Check[] = [];
  if (parsed.problems.length > 0) {
    checks.push({ id: 'ini-parses', title: 'pgbouncer.ini parses', status: 'fail', detail: `${paths.ini}: ${parsed.problems.slice(0, 3).join('; ')}`, fix: `fix those lines (pgbouncer refuses to start or reload with them), or ${rerender}` });
  } else {
    const count = parsed.sections.get('pgbouncer')?.size ?? 0;
    const dbs = parsed.sections.get('databases')?.size ?? 0;
    checks.push({ id: 'ini-parses', title: 'pgbouncer.ini parses', status: 'pass', detail: `${paths.ini}: ${dbs} [databases] entr${dbs === 1 ? 'y' : 'ies'}, ${count} settings` });
  }
  // pgbouncer reads an included file as if its lines stood here, so it can override anything this
  // file says (auth_type = trust); pgb-setup never writes %include, so any is someone else's.
  if (parsed.includes.length > 0) {
    const shown = parsed.includes.slice(0, 3).map((i) => `line ${i.line}: %include ${printable(i.path)}`);
    if (parsed.includes.length > 3) shown.push(`${parsed.includes.length - 3} more`);
    checks.push({
      id: 'ini-includes',
      title: 'pgbouncer.ini includes no other file',
      status: 'fail',
      detail: `${paths.ini}: ${shown.join('; ')}: pgbouncer applies the included settings too (they can change auth_type, auth_file, listen_addr...), and verify cannot vouch for them; pgb-setup never writes %include`,
      fix: `put what the included file sets into the profile (--profile/--set), remove the %include line, then ${rerender}`,
    });
  }
  const expected = parseIniFile(renderPgbouncerIni(config, env.member?.group));
  const diffs = compareIni(parsed, expected);
  if (diffs.length === 0) {
    const what = env.member ? ` as process ${env.member.id} of ${env.member.count} (its socket folder, pidfile, logfile${env.member.group.peers.length ? ', peer_id, [peers]' : ''} and pool share)` : '';
    checks.push({ id: 'ini-matches', title: 'pgbouncer.ini matches the profile', status: 'pass', detail: `every [databases] entry and setting is what profile ${environment} renders for pgbouncer ${config.target.version}${what}` });
  } else {
    const show = diffs.slice(0, 6).map((d) => `[${d.section}] ${d.key}: file ${d.disk === undefined ? '(missing)' : JSON.stringify(d.disk)}, profile ${d.profile === undefined ? '(not set)' : JSON.stringify(d.profile)}`);
    if (diffs.length > 6) show.push(`${diffs.length - 6} more`);
    checks.push({ id: 'ini-matches', title: 'pgbouncer.ini matches the profile', status: 'fail', detail: show.join('; '), fix: `${rerender}, or change the profile (--profile/--set) to what you want` });
  }
  return { checks, parsed };
}

function verifySecret(secret: string, user: string, password: string): boolean {
  if (secret.startsWith('SCRAM-SHA-256$')) return verifyScramPassword(secret, password);
  if (isValidMd5Secret(secret)) return verifyMd5Password(secret, user, password);
  return secret === password;
}

export function checkUserlist(env: Env, text: string | undefined): Check {
  const { paths, config, environment } = env;
  const title = 'userlist.txt holds the right secret';
  const db = config.profile.database;
  if (!paths.userlist) return { id: 'userlist-secret', title, status: 'skip', detail: 'the profile sets no auth_file' };
  if (text === undefined) return { id: 'userlist-secret', title, status: 'fail', detail: `${paths.userlist} does not exist`, fix: `pgb-setup apply ${environment} writes it` };
  let list;
  try {
    list = parseUserlist(text, { name: paths.userlist });
  } catch (e) {
    return { id: 'userlist-secret', title, status: 'fail', detail: (e as Error).message, fix: `fix that line, or pgb-setup apply ${environment} to rewrite the file` };
  }
  const authUser = setting(config, 'auth_user');
  if (typeof authUser === 'string' && authUser) {
    // auth_query mode: PostgreSQL holds the users' verifiers; userlist.txt only auth_user's own password.
    if (findUserlistSecret(list, authUser) === undefined) {
      return { id: 'userlist-secret', title, status: 'fail', detail: `auth_query mode: ${paths.userlist} has no entry for auth_user ${authUser}, so pgbouncer cannot run auth_query`, fix: `pgb-setup auth-query ${environment} --apply-server --userlist ${paths.userlist}` };
    }
    return { id: 'userlist-secret', title, status: 'pass', detail: `auth_query mode: auth_user ${authUser} is listed; ${db.user ?? 'the app user'}'s secret is looked up in PostgreSQL (the login check below tries it)` };
  }
  if (!db.user) return { id: 'userlist-secret', title, status: 'skip', detail: 'DBUSER is not set, so there is no user to look for' };
  const secret = findUserlistSecret(list, db.user);
  if (secret === undefined) {
    return { id: 'userlist-secret', title, status: 'fail', detail: `${paths.userlist} has no entry for ${db.user}`, fix: `pgb-setup apply ${environment} adds it (with the same SCRAM verifier on the server)` };
  }
  if (!db.password) return { id: 'userlist-secret', title, status: 'skip', detail: `${db.user} is listed; DBPASS is not set, so the secret cannot be checked` };
  const method = config.profile.userlist.method;
  const kind = secret.startsWith('SCRAM-SHA-256$') ? (isValidScramSecret(secret) ? 'scram-sha-256' : 'malformed SCRAM') : isValidMd5Secret(secret) ? 'md5' : 'plain text';
  if (!verifySecret(secret, db.user, db.password.reveal())) {
    return { id: 'userlist-secret', title, status: 'fail', detail: `the ${kind} secret of ${db.user} in ${paths.userlist} does not match DBPASS`, fix: `pgb-setup apply ${environment} (writes a new verifier for DBPASS and sets it on the server), or fix DBPASS` };
  }
  const auth = String(setting(config, 'auth_type') ?? '');
  if (kind !== method) {
    const fatal = auth === 'scram-sha-256' && kind === 'md5';
    return {
      id: 'userlist-secret',
      title,
      status: fatal ? 'fail' : 'note',
      detail: `${db.user}'s secret matches DBPASS but is ${kind}, the profile asks for ${method}${fatal ? '; auth_type scram-sha-256 cannot use an md5 secret, so logins fail' : ''}`,
      fix: `pgb-setup apply ${environment} rewrites it as ${method}`,
    };
  }
  const others = list.entries.filter((e) => e.user !== db.user).length;
  return { id: 'userlist-secret', title, status: 'pass', detail: `${db.user}: ${kind} secret matches DBPASS (salt ignored)${others ? `; ${others} other entr${others === 1 ? 'y' : 'ies'} not checked` : ''}` };
}

export async function checkOwnerMode(env: Env, id: string, title: string, path: string | undefined, maxMode: number, svc: ServiceUser | undefined): Promise<Check> {
  if (!path) return { id, title, status: 'skip', detail: 'no such file in the profile' };
  const st = await env.system.stat(path);
  if (!st) return { id, title, status: 'fail', detail: `${path} does not exist`, fix: `pgb-setup apply ${env.environment}` };
  const problems: string[] = [];
  const extra = st.mode & ~maxMode & 0o7777;
  if (extra) {
    const who = [extra & 0o700 ? 'the owner' : '', extra & 0o070 ? 'the group' : '', extra & 0o007 ? 'everyone' : ''].filter(Boolean).join(' and ');
    problems.push(`mode ${octal(st.mode)} gives ${who} more than ${octal(maxMode)}${extra & 0o004 ? ' (world-readable)' : ''}`);
  }
  if ((st.mode & 0o400) === 0) problems.push(`mode ${octal(st.mode)}: the owner cannot read it`);
  if (svc?.uid !== undefined && st.uid !== svc.uid) problems.push(`owned by uid ${st.uid}, not ${svc.user} (uid ${svc.uid}) that runs pgbouncer`);
  const owner = svc ? `${svc.user}:${svc.group}` : undefined;
  if (problems.length) {
    const fix = [owner && svc?.uid !== undefined && st.uid !== svc.uid ? `chown ${owner} ${path}` : '', `chmod ${octal(maxMode)} ${path}`].filter(Boolean).join(' && ');
    return { id, title, status: 'fail', detail: `${path}: ${problems.join('; ')}`, fix };
  }
  const ownerText = svc?.uid !== undefined ? `owned by ${svc.user}` : `owner uid ${st.uid} (service user unknown)`;
  return { id, title, status: 'pass', detail: `${path}: mode ${octal(st.mode)}, ${ownerText}` };
}

/** A managed file's text; a link, FIFO, directory or device there is refused before it is read. */
export async function readManagedText(system: System, path: string, maxBytes = MAX_CONFIG_BYTES): Promise<string | undefined> {
  return (await system.readManaged(path, maxBytes))?.bytes.toString('utf8');
}
