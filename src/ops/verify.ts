/**
 * `pgb-setup verify <environment>`: checks an installed setup end to end and prints a checklist,
 * each failure with its fix (the command exits 1 when any failed). The checks live in ops/verify/.
 *
 * File checks: the ini parses and matches what the profile renders (userlist salts are ignored:
 * each secret is verified against DBPASS instead), owners and modes (ini 0640, userlist 0600,
 * owned by the service user). Live checks (skipped with --root): the service runs (systemd when
 * the host booted with it, else pidfile + kill -0), the port listens, a login through pgbouncer
 * works, the admin console answers and runs with the file's settings. Django consistency: the
 * server-side cursor reminder for transaction pooling, client TLS vs Django's sslmode.
 */
import { resolve } from 'node:path';
import type { Context } from '../system/context.js';
import { InputError, PgbSetupError } from '../text/errors.js';
import { detectServiceUser, resolveDistro, type DistroSpec, type ServiceUser } from '../facts/distro/index.js';
import { readOsRelease } from '../facts/os-release.js';
import { MAX_USERLIST_BYTES } from '../facts/host-facts.js';
import { setting, type ResolvedConfig } from '../profile/resolve.js';
import { systemAt } from '../system/node-system.js';
import { getentPasswd } from '../system/getent.js';
import { processCount } from './group.js';
import { parseTimeoutMs } from './target.js';
import { certificateExpiry, clientCertPath, expiryCheck } from './tls-expiry.js';
import { formatChecklist } from './verify/checklist.js';
import { checkDjango } from './verify/django.js';
import { checkIni, checkOwnerMode, checkUserlist, readManagedText } from './verify/files.js';
import { groupChecks } from './verify/group.js';
import { checkConsole, checkListening, checkLogin, checkService } from './verify/live.js';
import type { Check, Env, Paths, VerifyOptions } from './verify/types.js';

// ---- runner ---------------------------------------------------------------------------------

/** --root, when given, must be a folder: checked before the profile is loaded. */
export async function checkVerifyRoot(opts: VerifyOptions, ctx: Context): Promise<void> {
  const root = opts.root === undefined ? undefined : resolve(ctx.cwd, opts.root);
  if (root !== undefined && !(await ctx.system.stat(root))?.isDirectory) {
    throw new InputError(`--root: ${opts.root} is not a folder`, '--root');
  }
}

export async function verifyChecks(config: ResolvedConfig, opts: VerifyOptions, ctx: Context): Promise<{ checks: Check[]; serviceUser: ServiceUser | undefined; config: ResolvedConfig }> {
  const environment = config.environment;
  const root = opts.root === undefined ? undefined : resolve(ctx.cwd, opts.root);
  const live = opts.root === undefined;
  const system = systemAt(ctx.system, root);
  let spec: DistroSpec | undefined;
  try {
    spec = resolveDistro(await readOsRelease(system));
  } catch (e) {
    if (!(opts.ini && opts.serviceUser) || !(e instanceof PgbSetupError)) throw e;
  }
  const authFile = setting(config, 'auth_file');
  const pidfile = setting(config, 'pidfile');
  const paths: Paths = {
    ini: opts.ini ?? spec!.iniPath,
    userlist: typeof authFile === 'string' && authFile ? authFile : spec?.userlistPath,
    pidfile: typeof pidfile === 'string' && pidfile ? pidfile : undefined,
  };
  const env: Env = { ctx, config, system, live, spec, paths, timeoutMs: parseTimeoutMs(opts.timeout, 5), environment };

  let serviceUser: ServiceUser | undefined;
  if (opts.serviceUser) {
    const pw = await getentPasswd(ctx.system, opts.serviceUser);
    serviceUser = {
      user: opts.serviceUser,
      group: opts.serviceUser,
      uid: pw?.uid,
      gid: pw?.gid,
      source: 'default',
      detail: '--service-user',
    };
  } else if (spec) {
    serviceUser = await detectServiceUser(system, spec, { live });
  }

  const checks: Check[] = [];
  const n = processCount(opts.processes);
  if (n > 1) {
    const group = await groupChecks(env, n, opts.peers !== false, serviceUser);
    checks.push(...group.files);
    checks.push(checkUserlist(env, paths.userlist ? await readManagedText(system, paths.userlist, MAX_USERLIST_BYTES) : undefined));
    checks.push(await checkOwnerMode(env, 'userlist-mode', 'userlist.txt owner and mode', paths.userlist, 0o600, serviceUser));
    checks.push(...group.live);
    if (!live) checks.push({ id: 'service', title: 'the processes run, listen and answer', status: 'skip', detail: `--root ${opts.root}: live checks skipped` });
    checks.push(...(await checkDjango(env)));
    return { checks, serviceUser, config };
  }
  const iniText = await readManagedText(system, paths.ini);
  const ini = await checkIni(env, iniText);
  checks.push(...ini.checks);
  const certPath = clientCertPath(iniText);
  if (certPath) checks.push(expiryCheck(await certificateExpiry(system, certPath, new Date())));
  checks.push(checkUserlist(env, paths.userlist ? await readManagedText(system, paths.userlist, MAX_USERLIST_BYTES) : undefined));
  checks.push(await checkOwnerMode(env, 'ini-mode', 'pgbouncer.ini owner and mode', paths.ini, 0o640, serviceUser));
  checks.push(await checkOwnerMode(env, 'userlist-mode', 'userlist.txt owner and mode', paths.userlist, 0o600, serviceUser));
  if (live) {
    checks.push(await checkService(env, serviceUser));
    checks.push(await checkListening(env));
    checks.push(await checkLogin(env));
    checks.push(...(await checkConsole(env, ini.parsed)).checks);
  } else {
    for (const [id, title] of [['service', 'pgbouncer is running'], ['listening', 'pgbouncer listens'], ['login', 'an app login through pgbouncer works'], ['console', 'admin console answers']]) {
      checks.push({ id: id!, title: title!, status: 'skip', detail: `--root ${opts.root}: live checks skipped` });
    }
  }
  checks.push(...(await checkDjango(env)));
  return { checks, serviceUser, config };
}

/** Runs every check and prints the checklist (or JSON); true when none failed. */
export async function reportVerify(config: ResolvedConfig, opts: VerifyOptions, ctx: Context): Promise<boolean> {
  const environment = config.environment;
  const { checks, serviceUser } = await verifyChecks(config, opts, ctx);
  const failed = checks.some((c) => c.status === 'fail');
  if (opts.json) {
    ctx.stdout.write(`${JSON.stringify({ environment, ok: !failed, pgbouncer_version: config.target.version, service_user: serviceUser?.user ?? null, checks }, null, 2)}\n`);
  } else {
    const svc = serviceUser ? `, service user ${serviceUser.user} (${serviceUser.detail})` : '';
    ctx.stdout.write(formatChecklist(checks, `pgb-setup verify ${environment}: pgbouncer ${config.target.version}${svc}${opts.root ? `, files under ${opts.root}` : ''}`));
  }
  return !failed;
}
