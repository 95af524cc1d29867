import { availableParallelism } from 'node:os';
import { join, posix, resolve } from 'node:path';
import type { Context } from '../system/context.js';
import { InputError, InputErrors, RuntimeError } from '../text/errors.js';
import { addConfigPathFacts, detectFacts, type HostFacts } from '../facts/host-facts.js';
import { DROP_IN_NAME, LEGACY_DROP_IN_NAME } from '../plan/open-files.js';
import { isCidr } from '../profile/schema.js';
import type { Layer } from '../profile/layers.js';
import { setting, type ResolvedConfig } from '../profile/resolve.js';
import { Secret } from '../profile/secret.js';
import { renderPgbouncerIni } from '../render/pgbouncer-ini.js';
import { desiredUserlist } from '../render/desired-userlist.js';
import { buildPlan, type DesiredFiles, type Instance, type PlanOptions } from '../plan/build-plan.js';
import { parseProcesses, splitIntoProcesses } from '../render/processes.js';
import { formatPlan, planToJson } from '../plan/format.js';
import type { Plan } from '../plan/types.js';
import { systemAt } from '../system/node-system.js';
import type { System } from '../system/system.js';
import { applyPlan } from '../apply/apply-plan.js';
import { acquireLock } from '../system/host-lock.js';
import { loadConfig, missingConnectionValues, type ProfileOptions } from './load-config.js';
import { configPathProblems } from '../preflight/config-paths.js';
import { throwProblems } from '../preflight/problems.js';
import { printWarnings } from '../text/output.js';
import { drainOption } from './drain-option.js';
import { keptTlsChoice } from '../facts/installed-tls.js';
import { parseTlsFlags, tlsLayer, tlsPaths, type TlsChoice, type TlsFlags } from '../profile/tls-layer.js';
import { certificateNames } from '../plan/tls.js';
import { settingList } from '../settings/listen.js';

interface ApplyOptions extends ProfileOptions, TlsFlags {
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

async function askMissing(config: ResolvedConfig, ctx: Context): Promise<Layer> {
  const { askSecret, askText } = await import('../system/prompts.js');
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
  const askedTls = parseTlsFlags(opts);
  const drain = drainOption(opts.drain);
  const root = opts.root ? resolve(ctx.cwd, opts.root) : undefined;
  if (root && !(await ctx.system.stat(root))?.isDirectory) {
    throw new InputError(`--root ${opts.root}: no such folder; create it (with etc/os-release inside) or fix the path`, '--root');
  }
  const system: System = systemAt(ctx.system, root);
  const isRoot = process.getuid?.() === 0;
  const dryRun = Boolean(opts.dryRun);
  if (!dryRun && !root && !isRoot) {
    throw new RuntimeError('applying changes this host: run it with sudo, or add --dry-run to only print the plan');
  }
  const { createProgress } = await import('../system/progress.js');
  const spinner = createProgress(ctx.stderr, ctx.isTTY && !opts.json);
  const progress = (line: string) => spinner.line(line);
  const begin = (label: string) => spinner.begin(label);
  const release = dryRun ? async () => {} : await acquireLock(root ? join(root, '.pgb-setup.lock') : ctx.hostLockPath, (l) => progress(`! ${l}`));
  try {
    let facts = await detectFacts(system, { root, isRoot });
    const paths = tlsPaths(facts.distro.iniPath);
    const tls = keptTlsChoice(askedTls, facts.ini?.content, paths, await system.exists(paths.caKey), facts.live);
    if (tls.kept) ctx.stderr.write(`note: ${tls.kept}\n`);
    let answers: Layer | undefined;
    const prepare = async (): Promise<Prepared> => {
      const config = await configFor(environment, opts, ctx, facts, allowFrom, answers, tls);
      const missing = missingConnectionValues(config);
      if (missing.length > 0) {
        if (opts.yes || !ctx.isTTY || opts.json) {
          throw new InputErrors(missing.map((m) => `${m}: missing; set it in the environment or an --env-file${opts.yes ? '' : ' (no terminal to ask on)'}`));
        }
        answers = await askMissing(config, ctx);
        return prepare();
      }
      return planFor(config, facts, system, opts, ctx, allowFrom, tls);
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
    const result = await applyPlan(prepared.plan, { system, facts, password: prepared.password, progress, begin, ...drain });
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

async function configFor(environment: string, opts: ApplyOptions, ctx: Context, facts: HostFacts, allowFrom: string[], answers: Layer | undefined, tls: TlsChoice): Promise<ResolvedConfig> {
  const { distro } = facts;
  const factsLayer: Layer = { source: 'host facts', data: {} };
  if (!facts.systemd && facts.nofileLimit !== undefined) factsLayer.data['host'] = { nofile_limit: facts.nofileLimit };
  const tlsOptions = tlsLayer(tls, tlsPaths(distro.iniPath), opts.sslrootcert);
  const set = [...(opts.set ?? [])];
  if (allowFrom.length > 0) set.unshift(`firewall.allow_from=${allowFrom.join(',')}`);
  return loadConfig(environment, { ...opts, set }, ctx, {
    hostPaths: { name: distro.name, pidfile: distro.pidfile, logfile: distro.logfile, unixSocketDir: distro.unixSocketDir, userlistPath: distro.userlistPath },
    ...(facts.pgbouncer.version ?? facts.candidateVersion ? { detectedVersion: facts.pgbouncer.version ?? facts.candidateVersion } : {}),
    facts: factsLayer,
    ...(tlsOptions ? { tls: tlsOptions } : {}),
    noLiveDetection: !facts.live,
    ...(answers ? { answers } : {}),
  });
}

/** One instance per pgbouncer process: the single pgbouncer.ini, or pgbouncer-<n>.ini for --processes. */
function instancesFor(config: ResolvedConfig, facts: HostFacts, opts: Pick<ApplyOptions, 'processes' | 'peers'>): Instance[] {
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

async function planFor(config: ResolvedConfig, facts: HostFacts, system: System, opts: ApplyOptions, ctx: Context, allowFrom: string[], tls: TlsChoice): Promise<Prepared> {
  const instances = instancesFor(config, facts, opts);
  const text = (c: ResolvedConfig, key: string) => {
    const v = setting(c, key);
    return typeof v === 'string' ? v : undefined;
  };
  const each = (key: string) => instances.map((i) => text(i.config, key)).filter((p): p is string => !!p);
  const authFile = text(config, 'auth_file');
  throwProblems(await configPathProblems(config, (path) => system.stat(path)));
  await addConfigPathFacts(system, facts, {
    dirs: [
      posix.dirname(facts.distro.iniPath),
      posix.dirname(authFile ?? facts.distro.userlistPath),
      ...each('pidfile').map((p) => posix.dirname(p)),
      ...each('logfile').map((p) => posix.dirname(p)),
      ...each('unix_socket_dir'),
      facts.distro.systemdDropInDir,
      ...(tls.client || tls.serverCa ? [tlsPaths(facts.distro.iniPath).dir] : []),
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
    const { readServerVerifier } = await import('../facts/server-verifier.js');
    serverSecret = await readServerVerifier(ctx, config, config.profile.database.user, password);
  } else if (!opts.root && system.scramLogin) {
    // Under --root nothing logs in anywhere (the files are for another host).
    const { needsAlignment, roleStateByPeer, serverVerifierByLogin } = await import('../preflight/server-alignment.js');
    if (needsAlignment(config)) {
      serverSecret = await serverVerifierByLogin({
        config,
        scramLogin: system.scramLogin.bind(system),
        warn: ctx.stderr,
        roleState: () => roleStateByPeer(ctx, config, config.profile.database.user!),
      });
    }
  }
  const desired: DesiredFiles = { instances, userlist: desiredUserlist(config, facts.userlist?.bytes ?? facts.userlist?.content, serverSecret) };
  const planAllowFrom = allowFrom.length > 0 ? allowFrom : config.profile.firewall.allow_from;
  if (tls.client || tls.serverCa) desired.tls = await tlsFilesFor(config, facts, system, ctx, opts, tls, planAllowFrom);
  const planOptions: PlanOptions = {
    allowFrom: planAllowFrom,
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

/** The TLS key and certificates (kept, renewed or made now) and the HBA file, for the plan. */
async function tlsFilesFor(config: ResolvedConfig, facts: HostFacts, system: System, ctx: Context, opts: ApplyOptions, tls: TlsChoice, allowFrom: string[]) {
  const { hostname } = await import('node:os');
  const { prepareTlsFiles } = await import('../apply/tls-files.js');
  const { renderHba, hbaMethod } = await import('../render/hba.js');
  const paths = tlsPaths(facts.distro.iniPath);
  const hbaPath = setting(config, 'auth_hba_file');
  const hbaOn = tls.client !== undefined && setting(config, 'auth_type') === 'hba' && hbaPath === paths.hba;
  // Under --root the files are for another host: this machine's name is not that host's.
  const names = certificateNames({ extra: opts.tlsName ?? [], hostname: facts.live ? hostname() : undefined, listenAddr: settingList(setting(config, 'listen_addr')) });
  return prepareTlsFiles({
    target: system,
    host: ctx.system,
    cwd: ctx.cwd,
    choice: tls,
    paths,
    names,
    hba: hbaOn ? renderHba({ environment: config.environment, allowFrom, method: hbaMethod(config) }) : undefined,
    now: new Date(),
  });
}
