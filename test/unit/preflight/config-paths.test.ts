/**
 * Preflight as data: the path settings checked against what exists on the host, before anything is
 * written. One row per case: the setting, the paths that exist (d = folder, f = file), the problem.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configPathProblems } from '../../../src/preflight/config-paths.js';
import type { ResolvedConfig } from '../../../src/profile/resolve.js';
import type { FileStat } from '../../../src/system/system.js';
import { snapshotTree } from '../../helpers/tree.js';
import { makeRoot, runInProcess } from '../../helpers/trust.js';

function configWith(settings: Record<string, string>): ResolvedConfig {
  return { settings: Object.entries(settings).map(([key, value]) => ({ key, value, source: 'test' })) } as unknown as ResolvedConfig;
}

function hostWith(paths: Record<string, 'd' | 'f'>) {
  return async (path: string): Promise<FileStat | undefined> => {
    const kind = path === '/' ? 'd' : paths[path];
    return kind ? ({ isDirectory: kind === 'd', isFile: kind === 'f' } as FileStat) : undefined;
  };
}

const ROWS: [string, string, string, Record<string, 'd' | 'f'>, string | undefined][] = [
  ['a file that does not exist yet', 'pidfile', '/run/pgbouncer/pgbouncer.pid', { '/run': 'd' }, undefined],
  ['an existing file', 'auth_file', '/etc/pgbouncer/userlist.txt', { '/etc': 'd', '/etc/pgbouncer': 'd', '/etc/pgbouncer/userlist.txt': 'f' }, undefined],
  ['a file path ending in a slash', 'logfile', '/var/log/pgbouncer/', {}, 'pgbouncer.logfile: /var/log/pgbouncer/ names a folder; name a file'],
  ['a file path ending in /..', 'pidfile', '/run/..', {}, 'pgbouncer.pidfile: /run/.. names a folder; name a file'],
  ['a file setting naming a folder', 'auth_hba_file', '/etc/pgbouncer', { '/etc': 'd', '/etc/pgbouncer': 'd' }, 'pgbouncer.auth_hba_file: /etc/pgbouncer is a folder on this host; name a file'],
  ['a path under a file', 'logfile', '/var/log/x/pgbouncer.log', { '/var': 'd', '/var/log': 'd', '/var/log/x': 'f' }, 'pgbouncer.logfile: /var/log/x is a file on this host, so /var/log/x/pgbouncer.log cannot be under it; name another path'],
  ['a folder setting naming a file', 'unix_socket_dir', '/run/pgbouncer', { '/run': 'd', '/run/pgbouncer': 'f' }, 'pgbouncer.unix_socket_dir: /run/pgbouncer is a file on this host; name a folder'],
  ['an existing folder', 'unix_socket_dir', '/run/pgbouncer', { '/run': 'd', '/run/pgbouncer': 'd' }, undefined],
  ['a relative path (pgbouncer resolves it)', 'logfile', 'pgbouncer.log/', {}, undefined],
];

describe('preflight: path settings against the host', () => {
  it.each(ROWS)('%s', async (_name, key, value, host, problem) => {
    const problems = await configPathProblems(configWith({ [key]: value }), hostWith(host));
    expect(problems).toEqual(problem === undefined ? [] : [{ field: `pgbouncer.${key}`, message: problem }]);
  });

  it('every bad setting is reported, in the order of the settings, not only the first', async () => {
    const host = hostWith({ '/etc': 'd', '/etc/pgbouncer': 'd', '/run': 'd', '/run/pgbouncer': 'f' });
    const problems = await configPathProblems(configWith({ unix_socket_dir: '/run/pgbouncer', auth_file: '/etc/pgbouncer' }), host);
    expect(problems.map((p) => p.field)).toEqual(['pgbouncer.auth_file', 'pgbouncer.unix_socket_dir']);
  });

  it('through the main job under --root: exit 2, one line per problem, nothing written', async () => {
    const r = makeRoot('pgb-preflight-');
    mkdirSync(join(r, 'srv/pgb'), { recursive: true });
    writeFileSync(join(r, 'srv/pgb/file'), '');
    const before = snapshotTree(r);
    const env = { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: 'preflight-Pass-1', DBHOST: '10.0.0.20' };
    const out = await runInProcess(['production', '--root', r, '--yes', '--skip-install', '--skip-service', '--skip-firewall', '--set', 'logfile=/srv/pgb', '--set', 'pidfile=/srv/pgb/file/p.pid'], env);
    expect(out.code).toBe(2);
    expect(out.stderr).toBe(
      'pgb-setup: pgbouncer.logfile: /srv/pgb is a folder on this host; name a file\n' +
        'pgb-setup: pgbouncer.pidfile: /srv/pgb/file is a file on this host, so /srv/pgb/file/p.pid cannot be under it; name another path\n',
    );
    expect(snapshotTree(r)).toEqual(before);
    rmSync(r, { recursive: true, force: true });
  });
});
