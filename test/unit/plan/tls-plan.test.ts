/**
 * The live plan with --tls-cert/--tls-key/--tls-ca on a fake Debian 12 host without a firewall tool:
 * the TLS and HBA file steps (modes, owners, secrets kept out of the JSON), the candidate check
 * before them, and the note that pgbouncer's HBA rules are what keeps other networks out.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/main.js';
import { scramSecret } from '../../../src/auth/scram.js';
import type { FileStep, Plan } from '../../../src/plan/types.js';
import { captureContext } from '../../helpers/context.js';
import { FakeSystem } from '../../helpers/fake-system.js';

const FIX = join(import.meta.dirname, '../../fixtures');
const ENV = { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: 'secret-never-shown', DBHOST: '10.0.0.20' };
const tls = (name: string) => readFileSync(join(FIX, 'tls', name), 'utf8');

function debianWithoutFirewall(): FakeSystem {
  return new FakeSystem()
    .file('/etc/os-release', readFileSync(join(FIX, 'os-release/debian-12'), 'utf8'))
    .file('/home/me/server.crt', tls('server.crt'))
    .file('/home/me/server.key', tls('server.key'), 0o600)
    .file('/home/me/ca.crt', tls('ca.crt'))
    .on('systemctl cat pgbouncer', { exitCode: 1, stderr: 'No files found for pgbouncer.service.' })
    .on('getent passwd postgres', { stdout: 'postgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n' })
    .on(/^getent passwd (pgbouncer|101)$/, (args) => (args[1] === '101' ? { stdout: 'postgres:x:101:104::/var/lib/postgresql:/bin/bash\n' } : { exitCode: 2 }))
    .on(/^getent group (104|postgres)$/, { stdout: 'postgres:x:104:\n' })
    .on('apt-cache policy pgbouncer', { stdout: 'pgbouncer:\n  Installed: (none)\n  Candidate: 1.18.0-1+deb12u1\n' })
    .on('sh -c ulimit -n', { stdout: '1048576\n' });
}

describe('plan with your own certificate on a host without ufw or firewalld', () => {
  it('TLS and HBA files after userlist.txt, checked by the candidate start first; the key never in the JSON', async () => {
    const ctx = captureContext({ system: debianWithoutFirewall(), env: ENV, cwd: '/home/me' });
    const code = await main(['node', 'pgb-setup', 'production', '--tls-cert', 'server.crt', '--tls-key', 'server.key', '--tls-ca', 'ca.crt', '--allow-from', '10.0.0.0/8', '--dry-run', '--json'], ctx);
    expect(ctx.err()).not.toMatch(/pgb-setup:/);
    expect(code).toBe(0);
    const out = ctx.out();
    for (const line of tls('server.key').split('\n').filter((l) => l.length > 20 && !l.startsWith('-'))) expect(out).not.toContain(line);
    const plan = JSON.parse(out) as Plan;
    const files = plan.steps.filter((s): s is FileStep => s.kind === 'file');
    const byPath = (p: string) => files.find((f) => f.path === p)!;
    expect(byPath('/etc/pgbouncer/tls/server.key')).toMatchObject({ mode: 0o600, owner: 'postgres', secret: true, action: 'create', setting: 'client_tls_key_file' });
    expect(byPath('/etc/pgbouncer/tls/server.key').content).toBeUndefined();
    expect(byPath('/etc/pgbouncer/tls/server.crt')).toMatchObject({ mode: 0o644, owner: 'root', secret: false, content: tls('server.crt') });
    expect(byPath('/etc/pgbouncer/tls/ca.crt')).toMatchObject({ setting: 'client_tls_ca_file', content: tls('ca.crt') });
    expect(byPath('/etc/pgbouncer/pgbouncer_hba.conf')).toMatchObject({ mode: 0o640, owner: 'postgres', setting: 'auth_hba_file' });
    expect(byPath('/etc/pgbouncer/pgbouncer_hba.conf').content).toMatch(/^hostssl +all +all +10\.0\.0\.0\/8 +scram-sha-256$/m);
    expect(files.some((f) => f.path === '/etc/pgbouncer/tls/ca.key')).toBe(false); // your own CA's key is not ours
    const order = plan.steps.map((s) => (s.kind === 'file' ? s.path : s.kind));
    expect(order.indexOf('candidate-check')).toBeLessThan(order.indexOf('/etc/pgbouncer/pgbouncer.ini'));
    expect(order.indexOf('/etc/pgbouncer/userlist.txt')).toBeLessThan(order.indexOf('/etc/pgbouncer/tls/server.key'));
    expect(plan.steps.some((s) => s.kind === 'directory' && s.path === '/etc/pgbouncer/tls')).toBe(true);
    expect(plan.notes.join('\n')).toMatch(/no ufw or firewalld on this host: pgbouncer's own HBA rules \(auth_hba_file\) are what keeps other networks out/);
    const ini = byPath('/etc/pgbouncer/pgbouncer.ini').content;
    expect(ini).toMatch(/^client_tls_sslmode = require$/m);
    expect(ini).toMatch(/^auth_type = hba$/m);
  });
});

describe('a running pgbouncer: a change to the HBA file alone is a reload, not a restart', () => {
  it('re-plans after the files are in place: only pgbouncer_hba.conf changes, and the service step reloads', async () => {
    const sys = debianWithoutFirewall()
      .binary('pgbouncer', '/usr/sbin/pgbouncer')
      .on('/usr/sbin/pgbouncer --version', { stdout: 'PgBouncer 1.18.0\n' });
    const args = ['production', '--tls-cert', 'server.crt', '--tls-key', 'server.key', '--tls-ca', 'ca.crt'];
    const planOf = async (allow: string[]) => {
      const ctx = captureContext({ system: sys, env: ENV, cwd: '/home/me' });
      const code = await main(['node', 'pgb-setup', ...args, ...allow.flatMap((a) => ['--allow-from', a]), '--dry-run', '--json'], ctx);
      expect(ctx.err()).not.toMatch(/pgb-setup:/);
      expect(code).toBe(0);
      return JSON.parse(ctx.out()) as Plan;
    };
    // Put the first plan's files in place (the key from the fixture: the JSON leaves secret contents out).
    const first = await planOf(['10.0.0.0/8']);
    for (const f of first.steps.filter((s): s is FileStep => s.kind === 'file')) {
      const content = f.path.endsWith('server.key') ? tls('server.key') : f.path.endsWith('userlist.txt') ? `"app_user" "${scramSecret(ENV.DBPASS)}"\n` : f.content;
      sys.file(f.path, content, f.mode, f.uid ?? 0, f.gid ?? 0);
    }
    for (const d of first.steps.filter((s) => s.kind === 'directory')) sys.dirs.add((d as { path: string }).path);
    // pgbouncer runs on that config.
    sys.file('/var/run/postgresql/pgbouncer.pid', '500\n')
      .file('/proc/500/stat', '500 (pgbouncer) S 1')
      .file('/proc/500/comm', 'pgbouncer\n')
      .file('/proc/500/cmdline', '/usr/sbin/pgbouncer\0-d\0/etc/pgbouncer/pgbouncer.ini\0')
      .link('/proc/500/exe', '/usr/sbin/pgbouncer')
      .link('/proc/500/cwd', '/')
      .on(/^kill -0 500$/, { exitCode: 0 });
    const second = await planOf(['10.0.0.0/8', '192.168.0.0/16']);
    const changed = second.steps.filter((s): s is FileStep => s.kind === 'file' && s.action !== 'unchanged').map((f) => `${f.path} ${f.action}`);
    expect(changed).toEqual(['/etc/pgbouncer/pgbouncer_hba.conf update']);
    const service = second.steps.find((s) => s.kind === 'service');
    expect(service).toMatchObject({ action: 'reload' });
    expect(second.steps.some((s) => s.kind === 'candidate-check')).toBe(true);
  });
});
