import { availableParallelism } from 'node:os';
import { join, posix, resolve } from 'node:path';
import type { Context } from '../context.js';
import { InputError, InputErrors, PgbSetupError } from '../errors.js';
import { addConfigPathFacts, detectFacts, type HostFacts } from '../facts/host-facts.js';
import { DROP_IN_NAME, LEGACY_DROP_IN_NAME } from '../plan/open-files.js';
import { isCidr } from '../profile/schema.js';
import type { Layer } from '../profile/layers.js';
import { setting, type ResolvedConfig } from '../profile/resolve.js';
import { Secret } from '../profile/secret.js';
import { parseUserlistBytes, upsertUserlistBytes } from '../auth/userlist.js';
import { renderPgbouncerIni } from '../render/pgbouncer-ini.js';
import { renderUserlist, userlistEntries } from '../render/userlist.js';
import { buildPlan, type Instance, type PlanOptions } from '../plan/build-plan.js';
import { parseProcesses, splitIntoProcesses } from '../render/processes.js';
import { formatPlan, planToJson } from '../plan/format.js';
import type { Plan } from '../plan/types.js';
import { createNodeSystem } from '../system/node-system.js';
import type { System } from '../system/system.js';
import { applyPlan } from '../apply/apply-plan.js';
import { acquireLock } from '../apply/lock.js';
import { loadConfig, missingConnectionValues, type ProfileOptions } from './load-config.js';
import { printWarnings } from './output.js';

export interface ApplyOptions extends ProfileOptions {
  dryRun?: boolean;
  json?: boolean;
  root?: string;
  yes?: boolean;
  allowFrom?: string[];
  enableFirewall?: boolean;
  skipInstall?: boolean;
  skipFirewall?: boolean;
  skipService?: boolean;
  skipVerify?: boolean;
  /** Handover: seconds clients may stay on the old process (pgbouncer 1.23+). */
  drain?: string;
  copyServerSecret?: boolean;
  processes?: string;
  peers?: boolean;
  repo?: 'distro' | 'pgdg';
  verbose?: boolean;
}

interface Prepared {
  config: ResolvedConfig;
  plan: Plan;
  password: string | undefined;
}

/** e.g. 2026-11-28T13-50-00-123Z: milliseconds, so two runs in one second never share a backup folder. */
function backupStamp(now: Date): string {
  return now.toISOString().replaceAll(':', '-').replace('.', '-');
}

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

async function askMissing(config: ResolvedConfig, ctx: Context): Promise<Layer> {
  const { askSecret, askText } = await import('../ui/prompts.js');
  const db = config.profile.database;
  const data: Record<string, unknown> = { database: {} };
  const answers = data['database'] as Record<string, unknown>;
  ctx.stderr.write('Some values are missing; answer below (or set DBNAME, DBHOST, DBUSER, DBPASS and re-run with --yes).\n');
  if (!db.name) answers['name'] = await askText('Database name (DBNAME)');
  if (!db.host) answers['host'] = await askText('PostgreSQL host (DBHOST)', '127.0.0.1');
  if (!db.user) answers['user'] = await askText('Database user (DBUSER)');
  if (!db.password) answers['password'] = new Secret(await askSecret('Database password (DBPASS)'));
  return { source: 'prompt', data };
}

export async function runApply(environment: string, opts: ApplyOptions, ctx: Context): Promise<number> {
  const allowFrom = opts.allowFrom ?? [];
  for (const cidr of allowFrom) {
    if (!isCidr(cidr)) throw new InputError(`--allow-from ${cidr}: not an IPv4/IPv6 address or CIDR; use e.g. 10.0.0.0/8`, '--allow-from');
  }
  const root = opts.root ? resolve(ctx.cwd, opts.root) : undefined;
  if (root && !(await ctx.system.stat(root))?.isDirectory) {
    throw new InputError(`--root ${opts.root}: no such folder; create it (with etc/os-release inside) or fix the path`, '--root');
  }
  const system: System = root ? createNodeSystem({ root }) : ctx.system;
  const isRoot = process.getuid?.() === 0;
  const dryRun = Boolean(opts.dryRun);
  if (!dryRun && !root && !isRoot) {
    throw new PgbSetupError('applying changes this host: run it with sudo, or add --dry-run to only print the plan', 1);
  }
  const { createProgress } = await import('../ui/progress.js');
  const spinner = createProgress(ctx.stderr, ctx.isTTY && !opts.json);
  const progress = (line: string) => spinner.line(line);
  const begin = (label: string) => spinner.begin(label);
  const release = dryRun ? async () => {} : await acquireLock(root ? join(root, '.pgb-setup.lock') : ctx.hostLockPath, (l) => progress(`! ${l}`));
  try {
    let facts = await detectFacts(system, { root, isRoot });
    let answers: Layer | undefined;
    const prepare = async (): Promise<Prepared> => {
      const config = await configFor(environment, opts, ctx, facts, allowFrom, answers);
      const missing = missingConnectionValues(config);
      if (missing.length > 0) {
        if (opts.yes || !ctx.isTTY || opts.json) {
          throw new InputErrors(missing.map((m) => `${m}: missing; set it in the environment or an --env-file${opts.yes ? '' : ' (no terminal to ask on)'}`));
        }
        answers = await askMissing(config, ctx);
        return prepare();
      }
      return planFor(config, facts, system, opts, ctx, allowFrom);
    };
    let prepared = await prepare();
    printWarnings(prepared.config.warnings, ctx);

    if (dryRun) {
      ctx.stdout.write(opts.json ? `${JSON.stringify(planToJson(prepared.plan), null, 2)}\n` : formatPlan(prepared.plan, opts.verbose));
      return 0;
    }

    // Packages first: nothing else is written when the install fails, and the plan is remade
    // afterwards from what the package really installed (version, service user, paths).
    const install = prepared.plan.steps.find((s) => s.kind === 'package' && s.action === 'install');
    let installed = false;
    if (install) {
      progress(`… installing ${install.kind === 'package' ? install.packages.join(' ') : ''}`);
      await applyPlan({ ...prepared.plan, steps: [install] }, { system, facts, progress, begin });
      installed = true;
      facts = await detectFacts(system, { root, isRoot });
      prepared = await prepare();
    }
    if (!prepared.plan.changed) {
      if (opts.json) ctx.stdout.write(`${JSON.stringify({ changed: installed, environment, results: [] }, null, 2)}\n`);
      else ctx.stderr.write('nothing to do: the host already matches the profile\n');
      return 0;
    }
    if (!opts.json) ctx.stderr.write(formatPlan(prepared.plan, opts.verbose));
    const result = await applyPlan(prepared.plan, { system, facts, password: prepared.password, progress, begin, ...drainOption(opts.drain) });
    spinner.stop();
    const changed = installed || result.changed;
    if (opts.json) ctx.stdout.write(`${JSON.stringify({ changed, environment, results: result.results }, null, 2)}\n`);
    else if (!changed) ctx.stderr.write('nothing to do: the host already matches the profile\n');
    else if (root) ctx.stderr.write(`done: files written under ${root}; service, firewall and login checks are left to the live host\n`);
    else ctx.stderr.write(`done: pgbouncer is configured${prepared.plan.steps.some((s) => s.kind === 'verify') ? ' and verified' : ''}\n`);
    return 0;
  } finally {
    spinner.stop();
    await release();
  }
}

async function configFor(environment: string, opts: ApplyOptions, ctx: Context, facts: HostFacts, allowFrom: string[], answers: Layer | undefined): Promise<ResolvedConfig> {
  const { distro } = facts;
  const factsLayer: Layer = { source: 'host facts', data: {} };
  if (!facts.systemd && facts.nofileLimit !== undefined) factsLayer.data['host'] = { nofile_limit: facts.nofileLimit };
  const set = [...(opts.set ?? [])];
  if (allowFrom.length > 0) set.unshift(`firewall.allow_from=${allowFrom.join(',')}`);
  return loadConfig(environment, { ...opts, set }, ctx, {
    hostPaths: { name: distro.name, pidfile: distro.pidfile, logfile: distro.logfile, unixSocketDir: distro.unixSocketDir, userlistPath: distro.userlistPath },
    ...(facts.pgbouncer.version ?? facts.candidateVersion ? { detectedVersion: facts.pgbouncer.version ?? facts.candidateVersion } : {}),
    facts: factsLayer,
    noLiveDetection: !facts.live,
    ...(answers ? { answers } : {}),
  });
}

/** One instance per pgbouncer process: the single pgbouncer.ini, or pgbouncer-<n>.ini for --processes. */
export function instancesFor(config: ResolvedConfig, facts: HostFacts, opts: Pick<ApplyOptions, 'processes' | 'peers'>): Instance[] {
  const count = parseProcesses(opts.processes, availableParallelism());
  if (count === 1) return [{ id: undefined, iniPath: facts.distro.iniPath, content: renderPgbouncerIni(config), config }];
  return splitIntoProcesses(config, count, facts.distro.iniPath, { peers: opts.peers !== false }).map((p) => ({
    id: p.id,
    iniPath: p.iniPath,
    content: renderPgbouncerIni(p.config, p.group),
    config: p.config,
  }));
}

const MAX_GROUP = 64;

function groupPidfiles(pidfile: string | undefined): string[] {
  if (!pidfile) return [];
  const ext = posix.extname(pidfile);
  return Array.from({ length: MAX_GROUP }, (_, i) => `${pidfile.slice(0, pidfile.length - ext.length)}-${i + 1}${ext}`);
}

/**
 * A file setting that names a folder on the host, or a path under an existing file (a folder the
 * plan would have to create where a file is): bad input, exit 2 naming the setting, found before
 * anything is read from those paths or written.
 */
async function checkConfigPaths(system: System, config: ResolvedConfig): Promise<void> {
  const paths: [string, 'file' | 'folder'][] = [['auth_file', 'file'], ['auth_hba_file', 'file'], ['logfile', 'file'], ['pidfile', 'file'], ['unix_socket_dir', 'folder']];
  for (const [key, kind] of paths) {
    const path = setting(config, key);
    if (typeof path !== 'string' || !path.startsWith('/')) continue;
    if (kind === 'file' && /\/\.{0,2}$/.test(path)) throw new InputError(`pgbouncer.${key}: ${path} names a folder; name a file`, `pgbouncer.${key}`);
    // Top down, so that a file in the middle is found before a stat below it fails with ENOTDIR.
    const parts = path.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const at = `/${parts.slice(0, i).join('/')}`;
      const st = await system.stat(at);
      if (!st) break;
      const last = i === parts.length;
      if (!last && !st.isDirectory) throw new InputError(`pgbouncer.${key}: ${at} is a file on this host, so ${path} cannot be under it; name another path`, `pgbouncer.${key}`);
      if (last && kind === 'file' && st.isDirectory) throw new InputError(`pgbouncer.${key}: ${path} is a folder on this host; name a file`, `pgbouncer.${key}`);
      if (last && kind === 'folder' && !st.isDirectory) throw new InputError(`pgbouncer.${key}: ${path} is a file on this host; name a folder`, `pgbouncer.${key}`);
    }
  }
}

async function planFor(config: ResolvedConfig, facts: HostFacts, system: System, opts: ApplyOptions, ctx: Context, allowFrom: string[]): Promise<Prepared> {
  const instances = instancesFor(config, facts, opts);
  const text = (c: ResolvedConfig, key: string) => {
    const v = setting(c, key);
    return typeof v === 'string' ? v : undefined;
  };
  const each = (key: string) => instances.map((i) => text(i.config, key)).filter((p): p is string => !!p);
  const authFile = text(config, 'auth_file');
  await checkConfigPaths(system, config);
  await addConfigPathFacts(system, facts, {
    dirs: [
      posix.dirname(facts.distro.iniPath),
      posix.dirname(authFile ?? facts.distro.userlistPath),
      ...each('pidfile').map((p) => posix.dirname(p)),
      ...each('logfile').map((p) => posix.dirname(p)),
      ...each('unix_socket_dir'),
      facts.distro.systemdDropInDir,
    ],
    iniPaths: instances.map((i) => i.iniPath),
    logfiles: each('logfile'),
    // A single process also looks for a group left by an earlier --processes run: it must give back the port.
    pidfiles: instances.length === 1 ? [...each('pidfile'), ...groupPidfiles(each('pidfile')[0])] : each('pidfile'),
    unitPaths: [posix.join(facts.distro.systemdDropInDir, DROP_IN_NAME), posix.join(facts.distro.systemdDropInDir, LEGACY_DROP_IN_NAME), '/etc/systemd/system/pgbouncer@.service', '/etc/systemd/system/pgbouncer-group.target'],
    ...(authFile ? { authFile } : {}),
  });
  const password = config.profile.database.password?.reveal();
  let serverSecret: string | undefined;
  if (opts.copyServerSecret && config.profile.database.user && password) {
    const { readServerVerifier } = await import('../apply/server-secret.js');
    serverSecret = await readServerVerifier(ctx, config, config.profile.database.user, password);
  } else if (!opts.root && system.scramLogin) {
    // Under --root nothing logs in anywhere (the files are for another host).
    const { needsAlignment, roleStateByPeer, serverVerifierByLogin } = await import('../apply/server-alignment.js');
    if (needsAlignment(config)) {
      serverSecret = await serverVerifierByLogin({
        config,
        scramLogin: system.scramLogin.bind(system),
        warn: ctx.stderr,
        roleState: () => roleStateByPeer(ctx, config, config.profile.database.user!),
      });
    }
  }
  const desired = { instances, userlist: desiredUserlist(config, facts.userlist?.bytes ?? facts.userlist?.content, serverSecret) };
  const planOptions: PlanOptions = {
    allowFrom: allowFrom.length > 0 ? allowFrom : config.profile.firewall.allow_from,
    skipInstall: Boolean(opts.skipInstall),
    skipFirewall: Boolean(opts.skipFirewall),
    skipService: Boolean(opts.skipService),
    skipVerify: Boolean(opts.skipVerify),
    enableFirewall: Boolean(opts.enableFirewall),
    repo: opts.repo ?? 'distro',
    backupStamp: backupStamp(new Date()),
  };
  return { config, plan: buildPlan(facts, config, desired, planOptions), password };
}

function drainOption(value: string | undefined): { drainMs?: number } {
  if (value === undefined) return {};
  const ms = Math.round(Number(value) * 1000);
  if (!/^\d+(\.\d+)?$/.test(value) || ms > 3_600_000) throw new InputError(`--drain ${value}: seconds from 0 to 3600`, '--drain');
  return { drainMs: ms };
}
