/**
 * Real ufw, never this machine's own firewall: every run happens inside `unshare --net --mount`
 * with /etc/ufw and /lib/ufw (and the config folders apply writes) bind-mounted to temp copies.
 */
import { execFileSync } from 'node:child_process';
import { run, type RunResult } from '../helpers/proc.js';
import { cpSync, mkdtempSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '../../bin/pgb-setup.js');
let work: string;
// Read once ufw is there: a fresh machine gets it from the beforeAll below.
let hostRulesBefore: string;

function inNamespace(script: string, env: Record<string, string> = {}): Promise<RunResult> {
  const mounts = [
    ['etc-ufw', '/etc/ufw'],
    ['lib-ufw', '/lib/ufw'],
    ['etc-pgbouncer', '/etc/pgbouncer'],
    ['backups', '/var/backups'],
    ['log', '/var/log/postgresql'],
  ]
    .map(([from, to]) => `mount --bind ${join(work, from!)} ${to}`)
    .join(' && ');
  return run('unshare', ['--net', '--mount', 'bash', '-euo', 'pipefail', '-c', `${mounts} && ip link set lo up && ${script}`], {
    env: { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: 'pw', DBHOST: '10.0.0.20', ...env },
    timeoutMs: 120_000,
    check: false,
  });
}

const apply = (args: string) => `${process.execPath} ${BIN} production --skip-install --skip-service --skip-verify ${args}`;

function userRules(): string[] {
  return readFileSync(join(work, 'etc-ufw/user.rules'), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('### tuple ###'));
}

beforeAll(async () => {
  await run('bash', ['-c', 'command -v ufw >/dev/null || (apt-get -o DPkg::Lock::Timeout=600 update -q && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-upgrade ufw)']);
  hostRulesBefore = readFileSync('/etc/ufw/user.rules', 'utf8');
  work = mkdtempSync(join(tmpdir(), 'pgb-ufw-'));
  cpSync('/etc/ufw', join(work, 'etc-ufw'), { recursive: true });
  cpSync('/lib/ufw', join(work, 'lib-ufw'), { recursive: true });
  cpSync('/usr/share/ufw/iptables/user.rules', join(work, 'etc-ufw/user.rules'));
  cpSync('/usr/share/ufw/iptables/user6.rules', join(work, 'etc-ufw/user6.rules'));
  for (const d of ['etc-pgbouncer', 'backups', 'log']) mkdirSync(join(work, d));
  cpSync('/etc/pgbouncer', join(work, 'etc-pgbouncer'), { recursive: true });
  execFileSync('sed', ['-i', 's/^ENABLED=.*/ENABLED=no/', join(work, 'etc-ufw/ufw.conf')]);
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
  // The host's own firewall was never touched.
  expect(readFileSync('/etc/ufw/user.rules', 'utf8')).toBe(hostRulesBefore);
});

describe('ufw rules from a real apply, in a private network namespace', () => {
  it('puts the allows ahead of a deny for the port that existed before, and leaves an inactive ufw inactive', async () => {
    const r = await inNamespace(`ufw deny 6432/tcp >/dev/null && ${apply('--allow-from 10.0.0.0/8 --allow-from 192.168.1.0/24')} && ufw status`);
    expect(r.stderr).not.toMatch(/pgb-setup: /);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Status: inactive/);
    const rules = userRules();
    const allows = rules.filter((l) => /^### tuple ### allow tcp 6432 \S+ any (10\.0\.0\.0\/8|192\.168\.1\.0\/24) in/.test(l));
    expect(allows).toHaveLength(2);
    const firstDeny = rules.findIndex((l) => /^### tuple ### deny tcp 6432 /.test(l));
    expect(firstDeny).toBeGreaterThan(-1);
    for (const a of allows) expect(rules.indexOf(a)).toBeLessThan(firstDeny);
  });

  it('a second run adds nothing and reports no change', async () => {
    const before = readFileSync(join(work, 'etc-ufw/user.rules'), 'utf8');
    const before6 = readFileSync(join(work, 'etc-ufw/user6.rules'), 'utf8');
    const r = await inNamespace(apply('--allow-from 10.0.0.0/8 --allow-from 192.168.1.0/24 --json'));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ changed: false });
    expect(readFileSync(join(work, 'etc-ufw/user.rules'), 'utf8')).toBe(before);
    expect(readFileSync(join(work, 'etc-ufw/user6.rules'), 'utf8')).toBe(before6);
  });

  it('--enable-firewall allows SSH first, then enables ufw with allow-before-deny order', async () => {
    const r = await inNamespace(`${apply('--allow-from 10.0.0.0/8 --allow-from 192.168.1.0/24 --enable-firewall')} && ufw status numbered`);
    expect(r.stderr).not.toMatch(/pgb-setup: /);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Status: active/);
    const numbered = r.stdout.split('\n').filter((l) => /^\[\s*\d+\]/.test(l));
    const ssh = numbered.findIndex((l) => /^\[\s*\d+\] 22\/tcp\s+LIMIT IN/.test(l));
    const allow = numbered.findIndex((l) => /6432\/tcp\s+ALLOW IN\s+10\.0\.0\.0\/8/.test(l));
    const deny = numbered.findIndex((l) => /6432\/tcp\s+DENY IN\s+Anywhere/.test(l));
    expect(ssh).toBeGreaterThan(-1);
    expect(allow).toBeGreaterThan(-1);
    expect(allow).toBeLessThan(deny);
    expect(readFileSync(join(work, 'etc-ufw/ufw.conf'), 'utf8')).toMatch(/^ENABLED=yes/m);
  });
});
