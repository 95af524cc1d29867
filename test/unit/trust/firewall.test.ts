/**
 * Nothing a user types (--allow-from, a profile's firewall.allow_from, --set listen_port) and
 * nothing already in the firewall (ufw's user.rules, firewalld's rich rules, whatever their content)
 * can make pgb-setup plan a firewall command other than an allow for an accepted network, a deny
 * for the pgbouncer port, and (with --enable-firewall only) SSH and enabling. Checked on the plan
 * of a live host (FakeSystem with a command table) through `--dry-run --json`.
 */
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { isCidr } from '../../../src/profile/schema.js';
import type { FirewallStep, Plan } from '../../../src/plan/types.js';
import { FakeSystem } from '../../helpers/fake-system.js';
import { FIXTURES, recordFigures, runInProcess } from '../../helpers/trust.js';

const ENV = { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: 'fw-secret-never-shown', DBHOST: '10.0.0.20' };
const RUNS = Math.max(1, Number(process.env['PGB_TRUST_RUNS'] ?? 1));
const TIMEOUT = 60_000 * RUNS;
const scratch = mkdtempSync(join(tmpdir(), 'pgb-trust-fw-'));
const counts = { ufw: 0, firewalld: 0 };

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
  recordFigures('firewall rules (unit/trust/firewall)', { cases: counts.ufw + counts.firewalld, ...counts });
});

function debianWithUfw(rules: string, rules6: string, active: boolean): FakeSystem {
  return new FakeSystem()
    .file('/etc/os-release', readFileSync(join(FIXTURES, 'debian-12'), 'utf8'))
    .file('/etc/ufw/user.rules', rules)
    .file('/etc/ufw/user6.rules', rules6)
    .binary('ufw', '/usr/sbin/ufw')
    .binary('pgbouncer', '/usr/sbin/pgbouncer')
    .on('/usr/sbin/pgbouncer --version', { stdout: 'PgBouncer 1.18.0\n' })
    .on('systemctl cat pgbouncer', { exitCode: 1 })
    .on(/^getent passwd (postgres|101)$/, { stdout: 'postgres:x:101:104::/var/lib/postgresql:/bin/bash\n' })
    .on(/^getent group (104|postgres)$/, { stdout: 'postgres:x:104:\n' })
    .on('sh -c ulimit -n', { stdout: '1048576\n' })
    .on('/usr/sbin/ufw status', { stdout: active ? 'Status: active\n' : 'Status: inactive\n' })
    .on(/^(\/usr\/bin\/)?test /, { exitCode: 1 });
}

function rhelWithFirewalld(richRules: string, active: boolean): FakeSystem {
  const sys = new FakeSystem()
    .file('/etc/os-release', readFileSync(join(FIXTURES, 'rhel-9'), 'utf8'))
    .binary('firewall-cmd', '/usr/bin/firewall-cmd')
    .on('systemctl cat pgbouncer', { exitCode: 1 })
    .on(/^getent (passwd|group) /, { exitCode: 2 })
    .on(/^(\S*\/)?(dnf|yum) info -q pgbouncer$/, { stdout: 'Version      : 1.24.1\n' })
    .on('sh -c ulimit -n', { stdout: '1024\n' })
    .on('systemctl show -p Id -p LoadState -p MainPID -p LimitNOFILESoft -p LimitNOFILE pgbouncer pgbouncer-handover-*', { stdout: 'LimitNOFILE=524288\nLimitNOFILESoft=1024\n' })
    .on('/usr/bin/firewall-cmd --state', active ? { stdout: 'running\n' } : { exitCode: 252, stdout: 'not running\n' })
    .on('/usr/bin/firewall-cmd --permanent --list-rich-rules', { stdout: richRules });
  sys.dirs.add('/run/systemd/system');
  return sys;
}

const FRAGMENTS = ['\n', ' ', '"', "'", ';', '--force', 'enable', 'reset', 'delete', '0.0.0.0/0', '::/0', '10.0.0.0/8', '6432', '22', 'tcp', 'any', '###', '### tuple ###', 'allow', 'deny', '$(reboot)', '`id`', '-', '/', 'rule family="ipv4"', 'accept', 'drop'];
const junk = fc.array(fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ maxLength: 5 })), { minLength: 1, maxLength: 6 }).map((p) => p.join(''));
const goodCidr = fc.constantFrom('10.0.0.0/8', '192.168.1.7', '172.16.0.0/12', 'fd00::/8', '2001:db8::1', '0.0.0.0/0', '::/0');
const cidrInput = fc.oneof(goodCidr, junk, fc.tuple(goodCidr, junk).map(([a, b]) => a + b));
const field = fc.oneof(fc.constantFrom('allow', 'deny', 'reject', 'limit', 'allow_log', 'tcp', 'udp', 'any', '6432', '22', '6000:7000', '6432,22', '0.0.0.0/0', '::/0', '10.0.0.0/8', 'in', 'out'), junk.map((s) => s.replace(/\s/g, '') || 'x'));
const tuple = fc.array(field, { minLength: 6, maxLength: 8 }).map((f) => `### tuple ### ${f.join(' ')}`);
const rulesFile = fc.array(fc.oneof(tuple, junk, fc.constant('*filter'), fc.constant('COMMIT')), { maxLength: 8 }).map((l) => l.join('\n'));
const richRule = fc.oneof(
  goodCidr.map((c) => `rule family="${c.includes(':') ? 'ipv6' : 'ipv4'}" source address="${c}" port port="6432" protocol="tcp" accept`),
  junk,
);

async function planOf(system: FakeSystem, args: string[]): Promise<{ code: number; stderr: string; plan?: Plan }> {
  const r = await runInProcess(['production', '--dry-run', '--json', ...args], ENV, { system });
  expect(r.stdout + r.stderr).not.toContain(ENV.DBPASS);
  // commander takes an option-looking value such as `--allow-from -V` as that option (here: print the
  // version and stop): nothing is planned or run, which is all this test needs to know.
  if (r.code === 0 && !r.stdout.startsWith('{')) {
    expect(system.calls).toEqual([]);
    return { code: -1, stderr: r.stderr };
  }
  return { code: r.code, stderr: r.stderr, ...(r.code === 0 ? { plan: JSON.parse(r.stdout) as Plan } : {}) };
}

/** The accepted networks of a run: what --allow-from gave, else the profile's. */
function allowed(args: string[], profileAllow: string[] | undefined): string[] {
  const flags = args.flatMap((a, i) => (args[i - 1] === '--allow-from' ? [a] : []));
  return flags.length > 0 ? flags : (profileAllow ?? ['10.0.0.0/8']);
}

describe('firewall commands come only from accepted networks and the pgbouncer port', () => {
  it('ufw: any --allow-from, any profile allow_from, any user.rules content', async () => {
    await fc.assert(
      fc.asyncProperty(rulesFile, rulesFile, fc.boolean(), fc.array(cidrInput, { maxLength: 3 }), fc.option(fc.array(cidrInput, { maxLength: 3 })), fc.boolean(), async (v4, v6, active, flags, profileAllow, enable) => {
        counts.ufw++;
        const args = flags.flatMap((c) => ['--allow-from', c]);
        if (enable) args.push('--enable-firewall');
        if (profileAllow) {
          const file = join(scratch, 'p.json');
          writeFileSync(file, JSON.stringify({ firewall: { allow_from: profileAllow } }));
          args.push('--profile', file);
        }
        const system = debianWithUfw(v4, v6, active);
        const { code, stderr, plan } = await planOf(system, args);
        if (code === -1) return true;
        const networks = allowed(args, profileAllow ?? undefined);
        if (networks.some((c) => !isCidr(c))) {
          expect(code, stderr).toBe(2);
          expect(stderr).toMatch(/^pgb-setup: (--allow-from|firewall\.allow_from)/m);
          return true;
        }
        expect(code, stderr).toBe(0);
        const fw = plan!.steps.filter((s): s is FirewallStep => s.kind === 'firewall');
        if (networks.length === 0) {
          expect(fw).toHaveLength(0); // "no --allow-from networks: firewall left alone"
          return true;
        }
        expect(fw).toHaveLength(1);
        const port = String(fw[0]!.port);
        expect(port).toBe('6432');
        const spec = (c: string) => ['from', c, 'to', 'any', 'port', port, 'proto', 'tcp'];
        const seen = new Set<string>();
        for (const c of fw[0]!.commands) {
          expect(c.cmd).toBe('ufw');
          const line = c.args.join('\u0000');
          expect(seen.has(line), `duplicate ${c.args.join(' ')}`).toBe(false);
          seen.add(line);
          const ok =
            networks.some((n) => line === ['allow', ...spec(n), 'comment', 'pgb-setup'].join('\u0000') || line === ['prepend', 'allow', ...spec(n), 'comment', 'pgb-setup'].join('\u0000') || line === ['delete', 'allow', ...spec(n)].join('\u0000')) ||
            line === ['deny', `${port}/tcp`, 'comment', 'pgb-setup'].join('\u0000') ||
            (enable && !active && (line === ['limit', '22/tcp', 'comment', 'pgb-setup'].join('\u0000') || line === ['--force', 'enable'].join('\u0000')));
          expect(ok, `unexpected firewall command: ufw ${c.args.join(' ')}`).toBe(true);
        }
        // At most one allow per network, and the host itself ran nothing that changes the firewall.
        expect(fw[0]!.commands.filter((c) => c.args[0] === 'allow' || c.args[0] === 'prepend').length).toBeLessThanOrEqual(new Set(networks).size);
        expect(system.commandLines().filter((l) => /ufw (?!status)/.test(l))).toEqual([]);
        return true;
      }),
      { numRuns: 150 * RUNS },
    );
  }, TIMEOUT);

  it('firewalld: any --allow-from, any rich rules already there', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(richRule, { maxLength: 5 }), fc.boolean(), fc.array(cidrInput, { maxLength: 3 }), fc.boolean(), async (rich, active, flags, enable) => {
        counts.firewalld++;
        const args = flags.flatMap((c) => ['--allow-from', c]);
        if (enable) args.push('--enable-firewall');
        const system = rhelWithFirewalld(rich.join('\n'), active);
        const { code, stderr, plan } = await planOf(system, args);
        if (code === -1) return true;
        const networks = allowed(args, undefined);
        if (networks.some((c) => !isCidr(c))) {
          expect(code, stderr).toBe(2);
          expect(stderr).toMatch(/^pgb-setup: --allow-from/m);
          return true;
        }
        expect(code, stderr).toBe(0);
        const fw = plan!.steps.filter((s): s is FirewallStep => s.kind === 'firewall');
        expect(fw).toHaveLength(1);
        const rule = (c: string) => `rule family="${c.includes(':') ? 'ipv6' : 'ipv4'}" source address="${c}" port port="6432" protocol="tcp" accept`;
        for (const c of fw[0]!.commands) {
          const line = [c.cmd, ...c.args].join('\u0000');
          const ok =
            networks.some((n) => line === ['firewall-cmd', '--permanent', `--add-rich-rule=${rule(n)}`].join('\u0000') || (enable && line === ['firewall-offline-cmd', `--add-rich-rule=${rule(n)}`].join('\u0000'))) ||
            line === ['firewall-cmd', '--reload'].join('\u0000') ||
            (enable && !active && (line === ['firewall-offline-cmd', '--add-service=ssh'].join('\u0000') || line === ['systemctl', 'enable', '--now', 'firewalld'].join('\u0000')));
          expect(ok, `unexpected firewall command: ${c.cmd} ${c.args.join(' ')}`).toBe(true);
        }
        // A rule already there is never added again (firewalld must be running to list them; when it
        // is not, firewall-offline-cmd treats an existing rule as already enabled).
        if (active) for (const c of fw[0]!.commands) expect(rich).not.toContain(c.args.find((a) => a.startsWith('--add-rich-rule='))?.slice('--add-rich-rule='.length));
        return true;
      }),
      { numRuns: 100 * RUNS },
    );
  }, TIMEOUT);
});
