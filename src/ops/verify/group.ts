/** A --processes group: every process's files, its socket, its share of the pool budget. */
import { pgbouncerFromPidfile } from '../../system/pgbouncer-process.js';
import type { ServiceUser } from '../../facts/distro/index.js';
import { splitIntoProcesses } from '../../render/processes.js';
import { poolBudget } from '../../profile/pool-budget.js';
import { setting, type ResolvedConfig } from '../../profile/resolve.js';
import type { IniFile } from '../ini-file.js';
import { num, str, type ConsoleResult } from '../console.js';
import { tcpListenPorts } from '../group.js';
import { listenTarget } from '../target.js';
import { checkIni, checkOwnerMode, readManagedText } from './files.js';
import { probeConnect } from '../../system/net.js';
import { type ConsoleOutcome, checkConsole, checkListening, checkLogin, checkService } from './live.js';
import type { Check, Env, Member } from './types.js';

// ---- a --processes group --------------------------------------------------------------------

/** The settings splitIntoProcesses divides between the processes (the totals stay the profile's). */
const SHARED_KEYS = ['default_pool_size', 'min_pool_size', 'reserve_pool_size', 'max_db_connections', 'max_user_connections'] as const;

/** One process's pool figures: what splitIntoProcesses promises, and what it runs with (undefined: not shown). */
interface ShareFigure {
  name: string;
  promised: number;
  running: number | undefined;
}

/** The promised share of one process next to SHOW CONFIG and SHOW DATABASES (pool_size, max_connections per database). */
export function shareFigures(processConfig: ResolvedConfig, snap: { config: ConsoleResult; databases: ConsoleResult }): ShareFigure[] {
  const running = new Map(snap.config.rows.map((r) => [str(r, 'key') ?? '', r]));
  const out: ShareFigure[] = [];
  for (const key of SHARED_KEYS) {
    const v = setting(processConfig, key);
    if (typeof v !== 'number') continue;
    const live = num({ v: str(running.get(key), 'value') ?? null }, 'v');
    if (v === 0 && !live) continue; // nothing to share: min_pool_size 0, reserve_pool_size 0
    out.push({ name: key, promised: v, running: live });
  }
  const dbs = new Map(snap.databases.rows.map((r) => [str(r, 'name') ?? '', r]));
  for (const d of poolBudget(processConfig).databases) {
    const row = dbs.get(d.name);
    out.push({ name: `${d.name} pool_size`, promised: d.poolSize, running: num(row, 'pool_size') });
    if (d.cap > 0) out.push({ name: `${d.name} max_db_connections`, promised: d.cap, running: num(row, 'max_connections') });
  }
  return out;
}

function checkShare(env: Env, snap: ConsoleOutcome['snap']): Check {
  const m = env.member!;
  const id = 'pool-share';
  const title = 'pool share is what the split promises';
  if (!snap) return { id, title, status: 'skip', detail: 'the console did not answer (see above), so the running pool sizes are unknown' };
  const figures = shareFigures(env.config, snap);
  const off = figures.filter((f) => f.running !== f.promised);
  const list = (fs: ShareFigure[]) => fs.map((f) => `${f.name} ${f.running ?? '?'}`).join(', ');
  if (off.length) {
    return {
      id,
      title,
      status: 'fail',
      detail: `running ${off.map((f) => `${f.name} ${f.running ?? '(not shown)'}`).join(', ')}; share ${m.id} of ${m.count} is ${off.map((f) => `${f.name} ${f.promised}`).join(', ')}`,
      fix: `pgb-setup apply ${env.environment} --processes ${m.count} writes each process's share; then reload process ${m.id} (kill -HUP <pid>${env.spec ? ` or systemctl reload ${m.unit}` : ''})`,
    };
  }
  return { id, title, status: 'pass', detail: `${list(figures)} (share ${m.id} of ${m.count})` };
}

/** The running shares of all processes add up to what the split promises in total (the profile's budget). */
function checkBudget(config: ResolvedConfig, members: { id: number; config: ResolvedConfig; snap: ConsoleOutcome['snap'] }[]): Check {
  const id = 'pool-budget';
  const title = "the processes' shares add up to the profile's pools";
  const total = new Map<string, { promised: number; running: number; profile: number | undefined }>();
  const profileValue = (name: string): number | undefined => {
    const v = setting(config, name);
    if (typeof v === 'number') return v;
    const db = poolBudget(config).databases.find((d) => name === `${d.name} pool_size` || name === `${d.name} max_db_connections`);
    return db ? (name.endsWith('pool_size') ? db.poolSize : db.cap) : undefined;
  };
  const silent = members.filter((m) => !m.snap);
  for (const m of members) {
    const figures = m.snap ? shareFigures(m.config, m.snap) : shareFigures(m.config, { config: { columns: [], rows: [] }, databases: { columns: [], rows: [] } });
    for (const f of figures) {
      const t = total.get(f.name) ?? { promised: 0, running: 0, profile: profileValue(f.name) };
      t.promised += f.promised;
      t.running += f.running ?? 0;
      total.set(f.name, t);
    }
  }
  const text = [...total].map(([name, t]) => `${name} ${t.running}${t.running !== t.promised ? ` (promised ${t.promised})` : ''}${t.profile !== undefined && t.profile !== t.promised ? ` (profile ${t.profile}: each process needs at least 1)` : ''}`).join(', ');
  if (silent.length) {
    return {
      id,
      title,
      status: 'fail',
      detail: `process ${silent.map((m) => m.id).join(', ')} not answering, so the group runs with less than the profile's budget: ${text}`,
      fix: `start the missing process${silent.length === 1 ? '' : 'es'} (see the checks above)`,
    };
  }
  const off = [...total].filter(([, t]) => t.running !== t.promised);
  if (off.length) return { id, title, status: 'fail', detail: text, fix: 'see the pool share checks above' };
  return { id, title, status: 'pass', detail: `${members.length} processes together: ${text}` };
}

/** A process of the group: its socket answers, and it holds a listening socket on the shared TCP port (so_reuseport worked). */
async function checkMemberListening(env: Env): Promise<Check> {
  const m = env.member!;
  const id = 'listening';
  const title = 'pgbouncer listens';
  const port = Number(setting(env.config, 'listen_port') ?? 6432);
  const path = `${m.socketDir}/.s.PGSQL.${port}`;
  const err = await probeConnect({ path }, env.timeoutMs);
  if (err) {
    return { id, title, status: 'fail', detail: `nothing accepts connections on ${path} (${err})`, fix: `start process ${m.id}, or read its logfile for "Cannot listen"` };
  }
  const found = env.paths.pidfile ? await pgbouncerFromPidfile(env.system, env.paths.pidfile, env.paths.ini) : undefined;
  const pid = found?.ok ? found.pid : undefined;
  const ports = pid !== undefined ? await tcpListenPorts(env.system, pid) : undefined;
  if (ports === undefined) return { id, title, status: 'pass', detail: `accepts connections on ${path}` };
  if (!ports.has(port)) {
    return {
      id,
      title,
      status: 'fail',
      detail: `${path} answers, but pid ${pid} holds no listening TCP socket on port ${port}: its bind failed (another process holds the port without so_reuseport), so clients on the TCP port never reach it`,
      fix: `stop whatever holds port ${port} without so_reuseport (ss -ltnp 'sport = :${port}'), then restart process ${m.id}`,
    };
  }
  return { id, title, status: 'pass', detail: `accepts connections on ${path}; pid ${pid} listens on TCP port ${port} (so_reuseport)` };
}

/** A check about one process: id `<id>@<process>`, title prefixed with the process. */
function tag(c: Check, m: Member, iniName: string): Check {
  return { ...c, id: `${c.id}@${m.id}`, title: `process ${m.id}: ${c.title.replace('pgbouncer.ini', iniName)}`, process: m.id };
}

export async function groupChecks(env: Env, n: number, peers: boolean, serviceUser: ServiceUser | undefined): Promise<{ files: Check[]; live: Check[] }> {
  const procs = splitIntoProcesses(env.config, n, env.paths.ini, { peers });
  const members = procs.map((p) => {
    const member: Member = { id: p.id, count: n, group: p.group, socketDir: p.socketDir, unit: `pgbouncer@${p.id}` };
    const menv: Env = { ...env, config: p.config, member, paths: { ...env.paths, ini: p.iniPath, pidfile: p.pidfile } };
    return { p, member, menv, name: p.iniPath.split('/').pop() ?? p.iniPath };
  });
  const files: Check[] = [];
  const parsed = new Map<number, IniFile | undefined>();
  for (const { menv, member, name } of members) {
    const ini = await checkIni(menv, await readManagedText(menv.system, menv.paths.ini));
    parsed.set(member.id, ini.parsed);
    files.push(...ini.checks.map((c) => tag(c, member, name)));
    files.push(tag(await checkOwnerMode(menv, 'ini-mode', 'pgbouncer.ini owner and mode', menv.paths.ini, 0o640, serviceUser), member, name));
  }
  const live: Check[] = [];
  if (!env.live) return { files, live };
  const answers: { id: number; config: ResolvedConfig; snap: ConsoleOutcome['snap'] }[] = [];
  for (const { menv, member, name } of members) {
    live.push(tag(await checkService(menv, serviceUser), member, name));
    live.push(tag(await checkMemberListening(menv), member, name));
    const outcome = await checkConsole(menv, parsed.get(member.id));
    live.push(...outcome.checks.map((c) => tag(c, member, name)));
    live.push(tag(checkShare(menv, outcome.snap), member, name));
    answers.push({ id: member.id, config: menv.config, snap: outcome.snap });
  }
  // The shared TCP port (any process answers) and a login through it; without listen_addr, through process 1's socket.
  const tcpTarget = listenTarget(env.config);
  if (tcpTarget && !tcpTarget.host.startsWith('/')) {
    const tcp = await checkListening({ ...env, config: { ...env.config, settings: env.config.settings.filter((s) => s.key !== 'unix_socket_dir') } });
    live.push({ ...tcp, id: 'listening-tcp', title: 'the shared TCP port listens' });
    live.push(await checkLogin(env));
  } else {
    live.push({ id: 'listening-tcp', title: 'the shared TCP port listens', status: 'skip', detail: 'the profile sets no listen_addr: the processes listen on their unix sockets only' });
    live.push(await checkLogin(members[0]!.menv));
  }
  live.push(checkBudget(env.config, answers));
  return { files, live };
}
