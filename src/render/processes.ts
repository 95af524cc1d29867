import { posix } from 'node:path';
import { InputError } from '../text/errors.js';
import type { ResolvedConfig, ResolvedSetting } from '../profile/resolve.js';
import { versionAtLeast } from '../settings/version.js';
import { SETTING_KEYS } from '../settings/catalogue.js';
import type { ProcessGroup } from './pgbouncer-ini.js';

/** Settings whose total the profile promises: split across the processes so the sum stays the same. */
const SPLIT_KEYS = ['default_pool_size', 'min_pool_size', 'reserve_pool_size', 'max_db_connections', 'max_user_connections'] as const;

export interface ProcessConfig {
  id: number;
  config: ResolvedConfig;
  group: ProcessGroup;
  iniPath: string;
  socketDir: string;
  pidfile: string;
  logfile: string;
}

/** `auto` = one per core; otherwise a whole number 1–64. */
export function parseProcesses(value: string | undefined, cores: number): number {
  if (value === undefined) return 1;
  if (value === 'auto') return Math.max(1, cores);
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 64) {
    throw new InputError(`--processes ${value}: use a whole number from 1 to 64, or auto (one per core)`, '--processes');
  }
  return Number(value);
}

/** Share `i` (0-based) of `total` split `n` ways; the first processes take the remainder, so the shares add up to total. */
function share(total: number, n: number, i: number): number {
  return Math.floor(total / n) + (i < total % n ? 1 : 0);
}

function withSuffix(path: string, id: number): string {
  const ext = posix.extname(path);
  return `${path.slice(0, path.length - ext.length)}-${id}${ext}`;
}

/**
 * One config per process: the same listen port with so_reuseport, its own socket folder, pidfile,
 * logfile and peer_id, a [peers] list of all of them (pgbouncer 1.19+), and its share of the pools.
 */
export function splitIntoProcesses(config: ResolvedConfig, n: number, iniPath: string, options: { peers: boolean }): ProcessConfig[] {
  if (n < 2) throw new Error('splitIntoProcesses needs at least 2 processes');
  if (options.peers && !versionAtLeast(config.target.version, '1.19')) {
    throw new InputError(
      `--processes ${n}: several processes on one port need [peers] (pgbouncer 1.19+) so a cancel request reaches the process running the query; the target is ${config.target.version}. Install a newer pgbouncer (--repo pgdg), or add --no-peers to run without them (cancel requests then often get lost)`,
      '--processes',
    );
  }
  const get = (key: string) => config.settings.find((s) => s.key === key)?.value;
  const size = get('default_pool_size');
  if (typeof size === 'number' && size > 0 && size < n) {
    throw new InputError(`--processes ${n}: default_pool_size ${size} cannot be split across ${n} processes; use at most ${size} processes or a larger pool`, '--processes');
  }
  const baseSocket = (get('unix_socket_dir') as string | undefined) || '/tmp';
  const basePid = (get('pidfile') as string | undefined) ?? '/var/run/postgresql/pgbouncer.pid';
  const baseLog = (get('logfile') as string | undefined) ?? '/var/log/postgresql/pgbouncer.log';
  const procs = Array.from({ length: n }, (_, i) => ({ id: i + 1, socketDir: posix.join(baseSocket, `pgbouncer-${i + 1}`), pidfile: withSuffix(basePid, i + 1), logfile: withSuffix(baseLog, i + 1), iniPath: withSuffix(iniPath, i + 1) }));
  const port = get('listen_port') as number;
  const peers = options.peers ? procs.map((p) => ({ id: p.id, socketDir: p.socketDir, port })) : [];
  return procs.map((p, i) => {
    const overrides = new Map<string, ResolvedSetting['value']>([
      ['so_reuseport', true],
      ['unix_socket_dir', p.socketDir],
      ['pidfile', p.pidfile],
      ['logfile', p.logfile],
    ]);
    if (options.peers) overrides.set('peer_id', p.id);
    for (const key of SPLIT_KEYS) {
      const v = get(key);
      if (typeof v === 'number' && v > 0) overrides.set(key, Math.max(key === 'min_pool_size' ? 0 : 1, share(v, n, i)));
    }
    const settings: ResolvedSetting[] = config.settings.map((s) => (overrides.has(s.key) ? { ...s, value: overrides.get(s.key)!, source: `--processes ${n}` } : s));
    for (const [key, value] of overrides) if (!settings.some((s) => s.key === key)) settings.push({ key, value, source: `--processes ${n}` });
    const databases = Object.fromEntries(
      Object.entries(config.profile.databases).map(([name, e]) => [
        name,
        {
          ...e,
          ...(e.pool_size ? { pool_size: Math.max(1, share(e.pool_size, n, i)) } : {}),
          ...(e.reserve_pool_size ? { reserve_pool_size: share(e.reserve_pool_size, n, i) } : {}),
          ...(e.max_db_connections ? { max_db_connections: Math.max(1, share(e.max_db_connections, n, i)) } : {}),
        },
      ]),
    );
    return {
      ...p,
      config: { ...config, settings: sortLikeCatalogue(settings), profile: { ...config.profile, databases } },
      group: { id: p.id, count: n, peers },
    };
  });
}

const CATALOGUE_ORDER = new Map(SETTING_KEYS.map((k, i) => [k, i]));

function sortLikeCatalogue(settings: ResolvedSetting[]): ResolvedSetting[] {
  return [...settings].sort((a, b) => (CATALOGUE_ORDER.get(a.key) ?? 0) - (CATALOGUE_ORDER.get(b.key) ?? 0));
}
