/**
 * `pgb-setup restart [environment]`: the handover on demand (after a package upgrade, say). The
 * pgbouncer processes running now (the single one, or every process of a --processes group) are
 * replaced by new ones on the same files, without a refused connection; see src/apply/handover.ts.
 * With an environment, the app user's login (DBUSER/DBPASS) is what each new process must accept;
 * without one, its admin console must answer (peer login as the service user).
 */
import { posix } from 'node:path';
import type { Context } from '../system/context.js';
import { PgbSetupError, RuntimeError } from '../text/errors.js';
import { detectFacts, findRunning, readFileFact, type HostFacts } from '../facts/host-facts.js';
import { handover } from '../apply/handover.js';
import { acquireLock } from '../system/host-lock.js';
import { handoverBlocker } from '../plan/handover-plan.js';
import { bridgesToStop, staleBridgeLines } from '../plan/stale-bridges.js';
import type { HandoverSpec } from '../plan/types.js';
import { loadConfig, type ProfileOptions } from './load-config.js';
import { memberPath } from '../ops/group.js';
import { drainOption } from './drain-option.js';
import { bridgesLeftRunning, cleanStaleBridges } from '../apply/stale-bridges.js';

export interface RestartOptions extends ProfileOptions {
  dryRun?: boolean;
  drain?: string;
}

const MAX_GROUP = 64;

function iniValue(text: string | undefined, key: string): string | undefined {
  let section = '';
  for (const line of (text ?? '').split('\n')) {
    const header = /^\s*\[([^\]]+)\]/.exec(line);
    if (header) section = header[1]!.trim().toLowerCase();
    const kv = /^\s*([A-Za-z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (section === 'pgbouncer' && kv && kv[1] === key) return kv[2];
  }
  return undefined;
}

/** The processes running now: the single pgbouncer of pgbouncer.ini, or the members of a group. */
async function runningProcesses(ctx: Context, facts: HostFacts): Promise<{ pid: number; pidfile: string; iniPath: string; text: string; id: number | undefined }[]> {
  const iniPath = facts.distro.iniPath;
  const found: { pid: number; pidfile: string; iniPath: string; text: string; id: number | undefined }[] = [];
  const main = facts.ini?.content;
  const pidfile = iniValue(main, 'pidfile') ?? facts.distro.pidfile;
  if (facts.running) found.push({ pid: facts.running.pid, pidfile: facts.running.pidfile, iniPath, text: main ?? '', id: undefined });
  const ext = posix.extname(pidfile);
  for (let i = 1; i <= MAX_GROUP; i++) {
    const path = memberPath(iniPath, i);
    const fact = await readFileFact(ctx.system, path).catch(() => undefined);
    if (!fact) break;
    const memberPid = iniValue(fact.content, 'pidfile') ?? `${pidfile.slice(0, pidfile.length - ext.length)}-${i}${ext}`;
    const running = await findRunning(ctx.system, memberPid);
    if (running) found.push({ pid: running.pid, pidfile: running.pidfile, iniPath: path, text: fact.content, id: i });
  }
  return found;
}

export async function runRestart(environment: string | undefined, opts: RestartOptions, ctx: Context): Promise<number> {
  const isRoot = process.getuid?.() === 0;
  if (!opts.dryRun && !isRoot) throw new PgbSetupError('restarting pgbouncer: run it with sudo, or add --dry-run to only print what would happen', 1);
  const drain = drainOption(opts.drain);
  const release = opts.dryRun ? async () => {} : await acquireLock(ctx.hostLockPath, (l) => ctx.stderr.write(`! ${l}\n`));
  try {
    const facts = await detectFacts(ctx.system, { isRoot });
    const procs = await runningProcesses(ctx, facts);
    const { bridges, notes } = bridgesToStop(facts.staleBridges);
    for (const n of notes) ctx.stderr.write(`note: ${n}\n`);
    if (procs.length === 0) {
      const left = bridgesLeftRunning(bridges);
      throw new RuntimeError(`no pgbouncer runs from ${facts.distro.iniPath} (or a --processes group beside it): nothing to hand over; start it with pgb-setup ${environment ?? '<environment>'}${left ? `; ${left}` : ''}`);
    }
    const version = facts.pgbouncer.version ?? '1.15.0';
    const config = environment ? await loadConfig(environment, opts, ctx, { ...(facts.pgbouncer.version ? { detectedVersion: facts.pgbouncer.version } : {}) }) : undefined;
    const user = config?.profile.database.user;
    const database = config?.profile.database.name;
    const password = config?.profile.database.password?.reveal();
    const login = user && database && password ? { user, database } : undefined;
    // The next processes are the same files: the handover checks what runs now against itself.
    const next = procs.map((p) => ({ id: p.id, iniPath: p.iniPath, pidfile: p.pidfile, socketDir: iniValue(p.text, 'unix_socket_dir') ?? facts.distro.unixSocketDir, port: iniValue(p.text, 'listen_port') ?? '6432', reuse: iniValue(p.text, 'so_reuseport') ?? '0' }));
    const blocker = handoverBlocker(facts, version, procs.map((p) => p.text), next.map((n) => ({ listenPort: n.port, soReuseport: /^(1|true|yes|on)$/i.test(n.reuse) })));
    if (blocker) throw new RuntimeError(`cannot hand over: ${blocker}; a plain restart (systemctl restart ${facts.distro.serviceName}) cuts every client`);
    const spec: HandoverSpec = {
      manager: facts.systemd ? 'systemd' : 'daemon',
      port: Number(next[0]!.port),
      binary: facts.pgbouncer.binary ?? facts.distro.pgbouncerBinary,
      version,
      old: procs.map((p, n) => ({ pid: p.pid, pidfile: p.pidfile, iniPath: p.iniPath, socketDir: next[n]!.socketDir, ...(facts.systemd ? { unit: p.id === undefined ? facts.distro.serviceName : `pgbouncer@${p.id}` } : {}) })),
      next: next.map((n) => ({ iniPath: n.iniPath, pidfile: n.pidfile, socketDir: n.socketDir, ...(facts.systemd ? { unit: n.id === undefined ? facts.distro.serviceName : `pgbouncer@${n.id}` } : {}) })),
      enable: [],
      disable: [],
      // The bridge unit gets the main unit's open-files limit.
      ...(typeof facts.unitNofile?.soft === 'number' ? { nofile: facts.unitNofile.soft } : {}),
      login,
    };
    const what = `${procs.length === 1 ? 'pgbouncer' : `${procs.length} pgbouncer processes`} (pid ${procs.map((p) => p.pid).join(', ')}) on port ${spec.port}`;
    if (opts.dryRun) {
      ctx.stdout.write(`would hand over ${what}: start each again beside the running one (so_reuseport), check ${login ? `a login as ${login.user}` : 'its admin console'}, then shut the old one down gracefully\n`);
      for (const line of staleBridgeLines({ bridges })) ctx.stdout.write(`then ${line}\n`);
      return 0;
    }
    ctx.stderr.write(`handing over ${what}\n`);
    const { uid, gid, user: account } = facts.serviceUser;
    if (uid === undefined || gid === undefined) throw new RuntimeError(`the service user ${account} does not exist`);
    const deps = { system: ctx.system, account: { name: account, uid, gid }, ...(password ? { password } : {}), progress: (l: string) => ctx.stderr.write(`${l}\n`), ...drain };
    await handover(spec, deps).catch((e: unknown) => {
      const left = bridgesLeftRunning(bridges);
      if (left) ctx.stderr.write(`! ${left}\n`);
      throw e;
    });
    if (bridges.length > 0) await cleanStaleBridges({ bridges, serving: spec.next, port: spec.port, login, version }, deps);
    ctx.stderr.write(`done: ${procs.length === 1 ? 'pgbouncer runs' : 'the processes run'} again on ${spec.next.map((n) => n.iniPath).join(', ')}, no connection was refused\n`);
    return 0;
  } finally {
    await release();
  }
}
