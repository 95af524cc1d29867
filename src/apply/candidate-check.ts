import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuntimeError } from '../text/errors.js';
import type { System } from '../system/system.js';
import { freeLoopbackPort, tryLogin, waitForListen } from '../system/net.js';
import { startPgbouncerDaemon } from '../system/pgbouncer-service.js';
import { isAlive, pgbouncerConfigArg, pgbouncerError, pgbouncerProcess, pidFromFile, stopPid } from '../system/pgbouncer-process.js';

/** Replaces (or adds) settings in the [pgbouncer] section of an ini text. */
export function overrideIniSettings(text: string, overrides: Record<string, string>): string {
  const lines = text.split('\n');
  let section = '';
  const seen = new Set<string>();
  const out = lines.map((line) => {
    const header = /^\s*\[([^\]]+)\]/.exec(line);
    if (header) section = header[1]!.trim().toLowerCase();
    const kv = /^\s*([A-Za-z0-9_]+)\s*=/.exec(line);
    if (section === 'pgbouncer' && kv && kv[1]! in overrides) {
      seen.add(kv[1]!);
      return `${kv[1]} = ${overrides[kv[1]!]}`;
    }
    return line;
  });
  const missing = Object.entries(overrides).filter(([k]) => !seen.has(k));
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return `${[...out, ...missing.map(([k, v]) => `${k} = ${v}`)].join('\n')}\n`;
}

interface CandidateInput {
  system: System;
  binary: string;
  ini: string;
  userlist: string | Uint8Array;
  user: string;
  uid: number;
  gid: number;
  login?: { user: string; password: string; database: string };
  /** Files the ini names (TLS key and certificates, HBA file): the candidate reads its own copies. */
  files?: { setting: string; content: string | Uint8Array }[];
}

/** pgbouncer refuses TCP clients without TLS when client_tls_sslmode is require or stricter. */
export function requiresClientTls(iniText: string | undefined): boolean {
  const mode = /^\s*client_tls_sslmode\s*=\s*(\S+)\s*$/im.exec(iniText ?? '')?.[1]?.toLowerCase();
  return mode === 'require' || mode === 'verify-ca' || mode === 'verify-full';
}

/**
 * pgbouncer has no config-check mode: start the candidate files in a throwaway pgbouncer (as the
 * service user, on a spare loopback port and its own socket dir), log in through it when we can,
 * and stop it. Throws with pgbouncer's own error line when it refuses the config.
 */
const PREFIX = 'pgb-setup-candidate-';

/** PIDs of pgbouncer processes started on a candidate config (a pgbouncer whose config argument lies in a candidate folder). */
async function candidatePids(system: System): Promise<{ pid: number; config: string }[]> {
  const marker = join(tmpdir(), PREFIX);
  const entries = ((await system.readdir('/proc')) ?? []).filter((n) => /^\d+$/.test(n));
  const found = await Promise.all(
    entries.map(async (n) => {
      const cmdline = (await system.readFile(`/proc/${n}/cmdline`).catch(() => undefined)) ?? '';
      if (!cmdline.includes(marker)) return undefined;
      const p = await pgbouncerProcess(system, Number(n));
      const config = p.ok ? pgbouncerConfigArg(p.identity) : undefined;
      return config?.startsWith(marker) ? { pid: p.pid!, config } : undefined;
    }),
  );
  return found.filter((f): f is { pid: number; config: string } => f !== undefined);
}

/**
 * A run killed during the check leaves its throwaway pgbouncer (a daemon) running. Live applies
 * hold the host lock, so any candidate pgbouncer found now is stale: stop it by PID, remove its folder.
 */
export async function cleanStaleCandidates(system: System): Promise<void> {
  for (const c of await candidatePids(system)) await stopPid(system, c.pid, 3000);
  const names = ((await system.readdir(tmpdir())) ?? []).filter((n) => n.startsWith(PREFIX));
  for (const name of names) await system.remove(join(tmpdir(), name), { recursive: true });
}

export async function checkCandidate(input: CandidateInput): Promise<void> {
  await cleanStaleCandidates(input.system);
  const dir = await input.system.mkdtemp(PREFIX);
  await input.system.setPermissions(dir, 0o700, input.uid, input.gid);
  const port = await freeLoopbackPort();
  const files = { ini: join(dir, 'pgbouncer.ini'), userlist: join(dir, 'userlist.txt'), pid: join(dir, 'pgbouncer.pid'), log: join(dir, 'pgbouncer.log') };
  const ini = overrideIniSettings(input.ini, {
    listen_addr: '127.0.0.1',
    listen_port: String(port),
    unix_socket_dir: dir,
    pidfile: files.pid,
    logfile: files.log,
    auth_file: files.userlist,
    so_reuseport: '0',
    ...Object.fromEntries((input.files ?? []).map((f) => [f.setting, join(dir, `${f.setting}.pem`)])),
  });
  let pid: number | undefined;
  try {
    const extra = (input.files ?? []).map((f) => [join(dir, `${f.setting}.pem`), f.content] as const);
    for (const [path, content] of [[files.ini, ini], [files.userlist, input.userlist], [files.log, ''], ...extra] as const) {
      await input.system.writeFile(path, content, { mode: 0o600, uid: input.uid, gid: input.gid });
    }
    const asRoot = process.getuid?.() === 0;
    const started = await startPgbouncerDaemon(input.system, input.binary, files.ini, asRoot ? input.user : undefined);
    const log = async () => ((await input.system.readFile(files.log).catch(() => undefined)) ?? '') + started.stderr;
    const up = await waitForListen('127.0.0.1', port, 10_000, async () => {
      pid ??= await pidFromFile(input.system, files.pid);
      return pid === undefined ? started.exitCode === 0 : isAlive(input.system, pid);
    });
    pid ??= await pidFromFile(input.system, files.pid);
    if (!up) {
      throw new RuntimeError(`pgbouncer refused the new config, nothing was changed: ${pgbouncerError(await log()) ?? (started.stderr.trim() || 'it did not start listening')}`);
    }
    if (input.login) {
      const error = await tryLogin({ host: '127.0.0.1', port, ...input.login, tls: requiresClientTls(ini) });
      if (error) {
        const logged = pgbouncerError(await log());
        throw new RuntimeError(
          `a login as ${input.login.user} through the new config failed, nothing was changed: ${error}${logged && !error.includes(logged) ? ` (pgbouncer: ${logged})` : ''}` +
            (/password authentication failed|wrong password type/.test(`${error} ${logged}`)
              ? `; PostgreSQL must hold the same SCRAM verifier as userlist.txt (pgb-setup takes it by logging in as ${input.login.user} with DBPASS): check that DBHOST/DBPORT reach the PostgreSQL pgbouncer uses, or set both sides with "pgb-setup hash-user ${input.login.user} --apply-server"`
              : ''),
        );
      }
    }
  } finally {
    // The pidfile can lag behind the listening socket; the command line never does.
    const ours = (await candidatePids(input.system)).filter((c) => c.config === files.ini).map((c) => c.pid);
    for (const p of new Set([...(pid !== undefined ? [pid] : []), ...ours])) if ((await pgbouncerProcess(input.system, p, files.ini)).ok) await stopPid(input.system, p, 3000);
    await input.system.remove(dir, { recursive: true });
  }
}
