/**
 * `pgb-setup bench <environment> --processes N`: does a --processes group serve more than one
 * pgbouncer on this host? pgbench through one pgbouncer process, then through N processes on one
 * port (so_reuseport), persistent connections, the same workload, in one run; throughput of each
 * and the ratio.
 *
 * Both sides are throwaway pgbouncers this command starts and stops itself, so the comparison never
 * touches the running service and works before a group is installed:
 *  - the configs are what the profile renders (the group's with splitIntoProcesses: per-process
 *    socket folders, [peers], the pool budget split so the totals stay the profile's),
 *  - moved to a private temp folder (sockets, pidfiles, logs, auth_file) and a spare loopback port,
 *  - auth_file holds only DBUSER with DBPASS in plain text (0600, in that folder, removed afterwards),
 *    so pgbouncer can log in to PostgreSQL whatever verifier the server holds; auth_query, auth_user
 *    and hba/cert/pam auth are replaced by it, DBUSER is made a stats user (to read each process's
 *    SHOW STATS), and syslog is off,
 *  - started with `pgbouncer -d` as the service user (when run as root), stopped by PID.
 */
import { availableParallelism } from 'node:os';
import { rmSync } from 'node:fs';
import { posix } from 'node:path';
import type { Context } from '../system/context.js';
import { InputError, RuntimeError } from '../text/errors.js';
import { formatTable } from '../text/output.js';
import { formatUserlistEntry } from '../auth/userlist.js';
import { detectServiceUser, resolveDistro } from '../facts/distro/index.js';
import { readOsRelease } from '../facts/os-release.js';
import { parsePgbouncerVersion } from '../settings/pgbouncer-version.js';
import { renderPgbouncerIni } from '../render/pgbouncer-ini.js';
import { splitIntoProcesses, type ProcessConfig } from '../render/processes.js';
import { poolBudget } from '../profile/pool-budget.js';
import { setting, type ResolvedConfig, type ResolvedSetting } from '../profile/resolve.js';
import type { SettingValue } from '../settings/values.js';
import type { System } from '../system/system.js';
import { freeLoopbackPort, probeConnect, waitForListen } from '../system/net.js';
import { getentPasswd } from '../system/getent.js';
import { isAlive, pgbouncerError, pgbouncerProcess, pidFromFile, stopPid } from '../system/pgbouncer-process.js';
import { consoleSnapshot, num, str } from './console.js';
import { figuresJson, findPgbench, parseBounds, parsePgbenchOutput, tpsText, type BenchOptions, type PgbenchFigures } from './bench.js';
import { fmt } from './pools.js';
import { startPgbouncerDaemon } from '../system/pgbouncer-service.js';
import { processCount, tcpListenPorts } from './group.js';

/** Auth settings a throwaway cannot honour: it logs in with DBUSER/DBPASS from its own auth_file. */
const DROPPED = new Set(['user', 'auth_user', 'auth_query', 'auth_dbname', 'auth_hba_file', 'auth_ident_file']);
const KEPT_AUTH_TYPES = new Set(['scram-sha-256', 'md5', 'plain', 'trust']);

function withSettings(config: ResolvedConfig, overrides: Record<string, SettingValue>, drop: ReadonlySet<string> = new Set()): ResolvedConfig {
  const source = 'bench --processes (throwaway)';
  const settings: ResolvedSetting[] = config.settings.filter((s) => !drop.has(s.key)).map((s) => (s.key in overrides ? { ...s, value: overrides[s.key]!, source } : s));
  for (const [key, value] of Object.entries(overrides)) if (!settings.some((s) => s.key === key)) settings.push({ key, value, source });
  return { ...config, settings };
}

/**
 * The profile's config moved into `dir` on loopback `port`: sockets, pidfile, logfile and auth_file
 * under `dir`, DBUSER allowed to read the console, auth through the plain auth_file.
 */
function throwawayConfig(config: ResolvedConfig, dir: string, port: number): ResolvedConfig {
  const user = config.profile.database.user;
  const stats = setting(config, 'stats_users');
  const statsUsers = [...new Set([...(Array.isArray(stats) ? stats.map(String) : typeof stats === 'string' && stats ? stats.split(',').map((s) => s.trim()) : []), ...(user ? [user] : [])])];
  const authType = String(setting(config, 'auth_type') ?? 'scram-sha-256');
  return withSettings(
    config,
    {
      listen_addr: ['127.0.0.1'],
      listen_port: port,
      unix_socket_dir: dir,
      pidfile: posix.join(dir, 'pgbouncer.pid'),
      logfile: posix.join(dir, 'pgbouncer.log'),
      auth_file: posix.join(posix.dirname(dir), 'userlist.txt'),
      stats_users: statsUsers,
      ...(KEPT_AUTH_TYPES.has(authType) ? {} : { auth_type: 'scram-sha-256' }),
      ...(config.settings.some((s) => s.key === 'syslog') ? { syslog: false } : {}),
    },
    DROPPED,
  );
}

interface Throwaway {
  label: string;
  processes: number;
  port: number;
  /** One per process: ini path, its config, socket folder, pidfile, logfile. */
  members: { id: number; iniPath: string; text: string; config: ResolvedConfig; socketDir: string; pidfile: string; logfile: string }[];
}

/** The two sides of the comparison: one process with the profile's whole budget, and the group of `n` with its split. */
export function throwawayPlan(config: ResolvedConfig, n: number, base: string, ports: [number, number], peers: boolean): [Throwaway, Throwaway] {
  const singleDir = posix.join(base, 'single');
  const single = throwawayConfig(config, singleDir, ports[0]);
  const groupBase = throwawayConfig(config, posix.join(base, 'group'), ports[1]);
  const procs: ProcessConfig[] = splitIntoProcesses(groupBase, n, posix.join(base, 'group', 'pgbouncer.ini'), { peers });
  const file = (c: ResolvedConfig, key: string) => String(setting(c, key));
  return [
    {
      label: '1 process',
      processes: 1,
      port: ports[0],
      members: [{ id: 1, iniPath: posix.join(singleDir, 'pgbouncer.ini'), text: renderPgbouncerIni(single), config: single, socketDir: singleDir, pidfile: file(single, 'pidfile'), logfile: file(single, 'logfile') }],
    },
    {
      label: `${n} processes`,
      processes: n,
      port: ports[1],
      members: procs.map((p) => ({ id: p.id, iniPath: p.iniPath, text: renderPgbouncerIni(p.config, p.group), config: p.config, socketDir: p.socketDir, pidfile: p.pidfile, logfile: p.logfile })),
    },
  ];
}

/** The pool size each process gives DBNAME (the profile's budget, split). */
function poolSizes(t: Throwaway, database: string): number[] {
  return t.members.map((m) => poolBudget(m.config).databases.find((d) => d.name === database)?.poolSize ?? 0);
}

export interface ProcessesRun extends PgbenchFigures {
  processes: number;
  address: string;
  poolSizes: number[];
  /** Transactions each process served (SHOW STATS total_xact_count), in process order; undefined when a console did not answer. */
  perProcess: (number | undefined)[];
}

export interface ProcessesReport {
  workload: 'select1' | 'select-only';
  clients: number;
  jobs: number;
  seconds: number;
  processes: number;
  cores: number;
  pgbench: string;
  pgbenchVersion: string | undefined;
  pgbouncer: string;
  pgbouncerVersion: string;
  environment: string;
  runs: [ProcessesRun, ProcessesRun];
  /** N processes ÷ 1 process, tps. */
  ratio: number;
}

interface RunAs {
  user: string;
  uid: number;
  gid: number;
}

async function serviceAccount(ctx: Context, explicit: string | undefined): Promise<RunAs | undefined> {
  if (process.getuid?.() !== 0) return undefined; // pgbouncer runs as whoever we are
  const lookup = async (name: string) => {
    const pw = await getentPasswd(ctx.system, name);
    return pw ? { user: name, uid: pw.uid, gid: pw.gid } : undefined;
  };
  if (explicit) {
    const a = await lookup(explicit);
    if (!a) throw new InputError(`--service-user: no account ${explicit} on this host`, '--service-user');
    if (a.uid === 0) throw new InputError('--service-user: pgbouncer refuses to run as root; name the account it runs as (postgres on Debian, pgbouncer on RHEL)', '--service-user');
    return a;
  }
  try {
    const found = await detectServiceUser(ctx.system, resolveDistro(await readOsRelease(ctx.system)));
    if (found.uid !== undefined && found.gid !== undefined && found.uid !== 0) return { user: found.user, uid: found.uid, gid: found.gid };
  } catch {
    /* an unsupported or unknown distro: ask for the flag below */
  }
  throw new InputError('--service-user: cannot tell which account pgbouncer runs as here; pass --service-user (pgbouncer refuses to run as root)', '--service-user');
}

async function binaryVersion(ctx: Context, binary: string): Promise<string> {
  const r = await ctx.system.exec(binary, ['--version']);
  const v = parsePgbouncerVersion(`${r.stdout}\n${r.stderr}`);
  if (!v) throw new InputError(`--pgbouncer-binary: ${binary} --version printed no pgbouncer version (exit ${r.exitCode})`, '--pgbouncer-binary');
  return `${v.major}.${v.minor}.${v.patch}`;
}

/** Starts every process of a throwaway, waits until each answers on its socket (and the group on the port); returns the PIDs. */
async function start(system: System, binary: string, t: Throwaway, runAs: RunAs | undefined, pids: number[], log: (s: string) => void): Promise<void> {
  for (const m of t.members) {
    const r = await startPgbouncerDaemon(system, binary, m.iniPath, runAs?.user, { timeoutMs: 15_000 });
    let pid: number | undefined;
    const socket = `${m.socketDir}/.s.PGSQL.${t.port}`;
    const deadline = Date.now() + 10_000;
    let up = false;
    while (Date.now() < deadline) {
      pid ??= await pidFromFile(system, m.pidfile);
      if (pid !== undefined && !pids.includes(pid)) pids.push(pid);
      if (pid !== undefined && (await probeConnect({ path: socket })) === undefined) {
        up = true;
        break;
      }
      if ((pid !== undefined && !(await isAlive(system, pid))) || (pid === undefined && r.exitCode !== 0)) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    if (!up) {
      const text = (await system.readFile(m.logfile)) ?? '';
      throw new RuntimeError(`the throwaway pgbouncer (${t.label}, process ${m.id}) did not start: ${pgbouncerError(`${text}\n${r.stderr}`) ?? (r.stderr.trim() || `nothing listens on ${socket}`)}`);
    }
    log(`started throwaway pgbouncer pid ${pid} (${t.label}${t.processes > 1 ? `, process ${m.id}` : ''}) on 127.0.0.1:${t.port}${runAs ? ` as ${runAs.user}` : ''}`);
  }
  if (!(await waitForListen('127.0.0.1', t.port, 10_000))) throw new RuntimeError(`the throwaway pgbouncer (${t.label}) does not listen on 127.0.0.1:${t.port}`);
  // Every process of the group must hold the port itself (so_reuseport), or the kernel never hands it a client.
  for (const [i, m] of t.members.entries()) {
    const pid = await pidFromFile(system, m.pidfile);
    const ports = pid === undefined ? undefined : await tcpListenPorts(system, pid);
    if (ports && !ports.has(t.port)) throw new RuntimeError(`process ${i + 1} of the throwaway group (pid ${pid}) does not listen on 127.0.0.1:${t.port}: so_reuseport did not take effect`);
  }
}

/** What the flags ask for and the pgbouncer they name, checked before any profile is loaded. */
interface BenchProcessesRequest {
  bounds: ReturnType<typeof parseBounds>;
  n: number;
  workload: NonNullable<BenchOptions['workload']>;
  binary: string;
  /** The binary's version: the profile is rendered for it. */
  version: string;
}

export async function benchProcessesRequest(opts: BenchOptions, ctx: Context): Promise<BenchProcessesRequest> {
  const bounds = parseBounds(opts);
  const n = processCount(opts.processes);
  if (n < 2) throw new InputError(`--processes ${opts.processes}: the comparison is 1 process against N; give N of 2 or more`, '--processes');
  const workload = opts.workload ?? 'select1';
  if (opts.svg) throw new InputError('--svg: draws the direct vs pgbouncer comparison only; leave it out with --processes', '--svg');
  const binary = opts.pgbouncerBinary ?? (await ctx.system.which('pgbouncer'));
  if (!binary) throw new InputError('--pgbouncer-binary: no pgbouncer on PATH; install it or pass --pgbouncer-binary', '--pgbouncer-binary');
  if (opts.pgbouncerBinary && !(await ctx.system.exists(binary))) throw new InputError(`--pgbouncer-binary: ${binary} does not exist`, '--pgbouncer-binary');
  const version = await binaryVersion(ctx, binary);
  return { bounds, n, workload, binary, version };
}

/** 1 pgbouncer process against N on one port, in throwaway pgbouncers rendered from the profile. */
export async function benchProcesses(config: ResolvedConfig, request: BenchProcessesRequest, opts: BenchOptions, ctx: Context): Promise<number> {
  const { bounds, n, workload, binary, version } = request;
  const environment = config.environment;
  const db = config.profile.database;
  const missing = [!db.name && 'DBNAME', !db.host && 'DBHOST', !db.user && 'DBUSER', !db.password && 'DBPASS'].filter(Boolean);
  if (missing.length) throw new InputError(`${missing.join(', ')}: missing; bench logs in through the throwaway pgbouncers as DBUSER with DBPASS`);
  const maxClient = Number(setting(config, 'max_client_conn') ?? 100);
  if (bounds.clients + 1 > maxClient) throw new InputError(`--clients ${bounds.clients}: the profile's max_client_conn is ${maxClient}; each process must take every client (the kernel may send them all to one) plus a console login`, '--clients');
  const runAs = await serviceAccount(ctx, opts.serviceUser);
  const pgbench = await findPgbench(ctx, opts.pgbench);
  const pgbenchVersion = (await ctx.system.exec(pgbench, ['--version'])).stdout.trim() || undefined;
  const jobs = Math.max(1, Math.min(bounds.clients, availableParallelism()));
  const env = { PGPASSWORD: db.password!.reveal(), PGAPPNAME: 'pgb-setup bench', PGCONNECT_TIMEOUT: '10', PGSSLMODE: 'prefer' };
  const log = (s: string) => ctx.stderr.write(`${s}\n`);

  const base = await ctx.system.mkdtemp('pgb-setup-bench-processes-');
  const pids: number[] = [];
  const stopAll = async () => {
    for (const pid of pids.splice(0)) {
      if ((await pgbouncerProcess(ctx.system, pid)).ok) await stopPid(ctx.system, pid, 3000);
      log(`stopped pid ${pid}`);
    }
  };
  // Ctrl-C or a TERM mid-run: the daemons are in their own session, so stop them here.
  const onSignal = (signal: NodeJS.Signals) => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    rmSync(base, { recursive: true, force: true });
    // Then die of the same signal (a shell reports 128 + its number: 130, 143); the handler is gone,
    // so the default action (or signal-exit's, which stops the programs still running) applies.
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const ports: [number, number] = [await freeLoopbackPort(), await freeLoopbackPort()];
    const plans = throwawayPlan(config, n, base, ports, opts.peers !== false);
    const own = async (path: string, mode: number) => ctx.system.setPermissions(path, mode, runAs?.uid, runAs?.gid);
    await own(base, 0o700);
    const userlist = posix.join(base, 'userlist.txt');
    await ctx.system.writeFile(userlist, `${formatUserlistEntry(db.user!, db.password!.reveal())}\n`, { mode: 0o600, ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}) });
    for (const plan of plans) {
      for (const m of plan.members) {
        for (const d of new Set([posix.dirname(m.iniPath), m.socketDir])) {
          await ctx.system.mkdir(d, { mode: 0o700, ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}) });
          await own(d, 0o700);
        }
        await ctx.system.writeFile(m.iniPath, m.text, { mode: 0o600, ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}) });
      }
    }
    const script = posix.join(base, 'select1.sql');
    await ctx.system.writeFile(script, 'SELECT 1;\n', { mode: 0o644 });
    if (workload === 'select-only') {
      log(`pgbench -i -s ${bounds.scale} into ${db.name} at ${db.host}:${db.port} (drops and recreates the pgbench_* tables)`);
      const init = await ctx.system.exec(pgbench, ['-i', '-q', '-s', String(bounds.scale), '-h', db.host!, '-p', String(db.port), '-U', db.user!, db.name!], { env, timeoutMs: 600_000 });
      if (init.exitCode !== 0) throw new RuntimeError(`pgbench -i failed (exit ${init.exitCode}): ${init.stderr.trim().split('\n').slice(-3).join(' / ')}`);
    }

    const runs: ProcessesRun[] = [];
    for (const plan of plans) {
      await start(ctx.system, binary, plan, runAs, pids, log);
      const args = ['-n', '-c', String(bounds.clients), '-j', String(jobs), '-T', String(bounds.seconds), ...(workload === 'select1' ? ['-f', script] : ['-S']), '-h', '127.0.0.1', '-p', String(plan.port), '-U', db.user!, db.name!];
      log(`pgbench through ${plan.label} at 127.0.0.1:${plan.port}, persistent connections, ${bounds.clients} clients, ${bounds.seconds} s`);
      const r = await ctx.system.exec(pgbench, args, { env, timeoutMs: (bounds.seconds + 60) * 1000, cwd: base });
      if (r.exitCode !== 0) {
        const logs = (await Promise.all(plan.members.map((m) => ctx.system.readFile(m.logfile)))).join('\n');
        const why = pgbouncerError(logs);
        throw new RuntimeError(`pgbench through ${plan.label} failed with exit ${r.exitCode}: ${`${r.stderr}\n${r.stdout}`.trim().split('\n').slice(-4).join(' / ')}${why ? ` (pgbouncer: ${why})` : ''}`);
      }
      const perProcess = await Promise.all(
        plan.members.map(async (m) => {
          try {
            const snap = await consoleSnapshot({ host: m.socketDir, port: plan.port, user: db.user!, password: db.password!.reveal(), timeoutMs: 5000 }, { stats: 'SHOW STATS' });
            return num(snap.stats.rows.find((row) => str(row, 'database') === db.name), 'total_xact_count');
          } catch {
            return undefined;
          }
        }),
      );
      runs.push({ processes: plan.processes, address: `127.0.0.1:${plan.port}`, poolSizes: poolSizes(plan, db.name!), perProcess, ...parsePgbenchOutput(r.stdout) });
      await stopAll();
    }
    const report: ProcessesReport = {
      workload,
      clients: bounds.clients,
      jobs,
      seconds: bounds.seconds,
      processes: n,
      cores: availableParallelism(),
      pgbench,
      pgbenchVersion,
      pgbouncer: binary,
      pgbouncerVersion: version,
      environment,
      runs: [runs[0]!, runs[1]!],
      ratio: runs[1]!.tps / runs[0]!.tps,
    };
    ctx.stdout.write(opts.json ? `${JSON.stringify(processesJson(report), null, 2)}\n` : formatProcesses(report));
    return 0;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await stopAll();
    await ctx.system.remove(base, { recursive: true });
  }
}

function shares(run: ProcessesRun): string | undefined {
  if (run.perProcess.some((x) => x === undefined)) return undefined;
  const total = run.perProcess.reduce<number>((a, b) => a + (b ?? 0), 0);
  if (total === 0) return undefined;
  return run.perProcess.map((x, i) => `p${i + 1} ${fmt(((x ?? 0) / total) * 100, 0)}%`).join(', ');
}

export function formatProcesses(r: ProcessesReport): string {
  const [one, many] = r.runs;
  const what = r.workload === 'select1' ? 'custom script "SELECT 1;"' : 'built-in select-only (-S)';
  const latency = (x: ProcessesRun) => (x.latencyMs !== undefined ? `${fmt(x.latencyMs, 3)} ms` : '?');
  const rows = [
    ['through pgbouncer', 'throughput', 'mean latency', `pool_size per process (profile ${r.environment})`],
    ['1 process', `${tpsText(one.tps)} tps`, latency(one), one.poolSizes.join(' + ')],
    [`${r.processes} processes (so_reuseport)`, `${tpsText(many.tps)} tps`, latency(many), many.poolSizes.join(' + ')],
    [`${r.processes} processes ÷ 1`, `${fmt(r.ratio, 2)}×`, '', ''],
  ];
  const spread = shares(many);
  const total = many.perProcess.reduce<number>((a, b) => a + (b ?? 0), 0);
  const idle = total > 0 ? many.perProcess.map((x, i) => [i + 1, (x ?? 0) / total] as const).filter(([, f]) => f < 0.5 / r.processes) : [];
  const lopsided = idle.length
    ? `note: process ${idle.map(([id]) => id).join(', ')} served ${idle.map(([, f]) => `${fmt(f * 100, 0)}%`).join(', ')} of the transactions: the kernel placed the ${r.clients} connections unevenly, so the ${r.processes}-process figure is mostly ${r.processes - idle.length === 1 ? 'one process' : 'fewer processes'} with a smaller pool share; more clients (--clients) spread better\n`
    : '';
  return (
    `pgbench ${what}, persistent connections, ${r.clients} clients, ${r.jobs} threads, ${r.seconds} s per run, through throwaway pgbouncer ${r.pgbouncerVersion} on loopback (${r.pgbenchVersion ?? r.pgbench})\n\n` +
    formatTable(rows) +
    `\n${spread ? `transactions per process with ${r.processes}: ${spread} (the kernel spreads connections over the so_reuseport group by hash, not by load)\n` : ''}` +
    lopsided +
    `pgbench, PostgreSQL and pgbouncer share this host's ${r.cores} core${r.cores === 1 ? '' : 's'}; one pgbouncer process uses at most one. Measure on the real hosts before deciding.\n`
  );
}

function processesJson(r: ProcessesReport): object {
  const run = (x: ProcessesRun) => ({
    processes: x.processes,
    address: x.address,
    ...figuresJson(x),
    pool_sizes: x.poolSizes,
    transactions_per_process: x.perProcess.map((v) => v ?? null),
  });
  return {
    mode: 'processes',
    workload: r.workload,
    connections: 'persistent',
    clients: r.clients,
    jobs: r.jobs,
    seconds: r.seconds,
    processes: r.processes,
    cores: r.cores,
    pgbench: r.pgbench,
    pgbench_version: r.pgbenchVersion ?? null,
    pgbouncer: r.pgbouncer,
    pgbouncer_version: r.pgbouncerVersion,
    runs: r.runs.map(run),
    ratio: r.ratio,
  };
}
