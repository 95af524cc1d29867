/**
 * Whether a change that a reload cannot apply can be handed over (src/apply/handover.ts) instead
 * of a plain restart, and the handover's data for the plan. A handover needs so_reuseport on the
 * running processes AND on the new ones (the kernel only lets sockets that all set it share a
 * port), the same port (clients on the old port would be cut), and the service user's uid/gid.
 */
import { posix } from 'node:path';
import { parse as parseIni } from 'ini';
import type { HostFacts } from '../facts/host-facts.js';
import type { ResolvedConfig } from '../profile/resolve.js';
import { SETTINGS_BY_KEY } from '../settings/catalogue.js';
import { formatSettingValue } from '../settings/values.js';
import { versionAtLeast } from '../settings/version.js';
import type { HandoverProcess, HandoverSpec } from './types.js';

export interface HandoverInstance {
  id: number | undefined;
  iniPath: string;
  config: ResolvedConfig;
}

function section(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    return ((parseIni(text) as Record<string, Record<string, unknown>>)['pgbouncer'] ?? {}) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

const ON = /^(1|true|yes|on)$/i;

function value(config: ResolvedConfig, key: string): string | undefined {
  const s = config.settings.find((x) => x.key === key);
  return s ? formatSettingValue(s.value) : undefined;
}

/** What a handover needs to know of each new process's config. */
export interface HandoverTarget {
  listenPort: string;
  soReuseport: boolean;
}

export function handoverTarget(config: ResolvedConfig): HandoverTarget {
  return { listenPort: value(config, 'listen_port') ?? '6432', soReuseport: ON.test(value(config, 'so_reuseport') ?? '') };
}

/** The reason a handover cannot work here, or undefined when it can. */
export function handoverBlocker(facts: HostFacts, version: string, oldInis: (string | undefined)[], next: HandoverTarget[]): string | undefined {
  const since = SETTINGS_BY_KEY.get('so_reuseport')?.since ?? '1.12';
  if (!versionAtLeast(version, since)) return `pgbouncer ${version} has no so_reuseport, so no second process can bind the port`;
  if (facts.serviceUser.uid === undefined || facts.serviceUser.gid === undefined) return `the service user ${facts.serviceUser.user} does not exist yet`;
  const newOn = next.every((n) => n.soReuseport);
  const newPort = next[0]!.listenPort;
  for (const text of oldInis) {
    const old = section(text);
    if (!old) return 'the running config cannot be read';
    if (!ON.test(String(old['so_reuseport'] ?? '').trim())) return `the running pgbouncer listens without so_reuseport, so nothing can bind its port beside it${newOn ? ' (this run turns it on: the next restart-class change is a handover)' : ''}`;
  }
  if (!newOn) return 'so_reuseport is off in the new config (so_reuseport = 1 makes the next change a handover)';
  for (const text of oldInis) {
    const oldPort = String(section(text)?.['listen_port'] ?? '6432').trim();
    if (oldPort !== newPort) return `listen_port changes (${oldPort} → ${newPort}): clients of the old port cannot be handed to the new one`;
  }
  return undefined;
}

/** A running process of an earlier --processes group: its socket folder follows the group's naming. */
function groupSocketDir(pidfile: string, baseSocketDir: string): string {
  const m = /-(\d+)\.pid$/.exec(pidfile);
  return m && baseSocketDir ? posix.join(baseSocketDir, `pgbouncer-${m[1]}`) : '';
}

export function handoverSpec(
  facts: HostFacts,
  version: string,
  next: (HandoverInstance & { pidfile: string })[],
  old: { pid: number; pidfile: string; iniText: string | undefined; unit: string | undefined }[],
  options: { binary: string; nofile?: number; login: HandoverSpec['login'] },
): HandoverSpec {
  const port = Number(value(next[0]!.config, 'listen_port') ?? 6432);
  const base = value(next[0]!.config, 'unix_socket_dir') ?? facts.distro.iniPath;
  const nextProcs: HandoverProcess[] = next.map((n) => ({
    iniPath: n.iniPath,
    pidfile: n.pidfile,
    socketDir: value(n.config, 'unix_socket_dir') ?? '',
    ...(facts.systemd ? { unit: n.id === undefined ? facts.distro.serviceName : `pgbouncer@${n.id}` } : {}),
  }));
  const oldProcs = old.map((o) => {
    const dir = section(o.iniText)?.['unix_socket_dir'];
    return {
      pid: o.pid,
      iniPath: '',
      pidfile: o.pidfile,
      socketDir: typeof dir === 'string' ? dir.trim() : groupSocketDir(o.pidfile, base),
      ...(o.unit ? { unit: o.unit } : {}),
    };
  });
  const group = next.length > 1;
  const wasGroup = old.length > 1 || old.some((o) => o.unit?.startsWith('pgbouncer@'));
  return {
    manager: facts.systemd ? 'systemd' : 'daemon',
    port,
    binary: options.binary,
    version,
    old: oldProcs,
    next: nextProcs,
    enable: facts.systemd && group ? ['pgbouncer-group.target'] : [],
    disable: facts.systemd && !group && wasGroup ? ['pgbouncer-group.target'] : [],
    ...(options.nofile ? { nofile: options.nofile } : {}),
    login: options.login,
  };
}
