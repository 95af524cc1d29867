import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decideOpenFiles, DROP_IN_NAME, dropInContent, LEGACY_DROP_IN_NAME, neededOpenFiles } from '../../../src/plan/open-files.js';
import { parseUnitNofile } from '../../../src/facts/unit-nofile.js';
import type { DirectoryStep, FileStep, Plan, ServiceStep } from '../../../src/plan/types.js';
import { dryRunPlan } from '../../helpers/context.js';
import { FakeSystem } from '../../helpers/fake-system.js';

const DEFAULTS = { soft: 1024, hard: 524288 } as const;

describe('the LimitNOFILE drop-in rule', () => {
  it('needs max_client_conn plus servers with 20% headroom, in steps of 1024, at least 1024', () => {
    expect(neededOpenFiles(535)).toBe(1024);
    expect(neededOpenFiles(853)).toBe(1024);
    expect(neededOpenFiles(854)).toBe(2048);
    expect(neededOpenFiles(2035)).toBe(3072);
  });

  it('writes nothing when the unit already has enough (an admin drop-in, or the default)', () => {
    expect(decideOpenFiles(535, DEFAULTS, undefined)).toMatchObject({ dropIn: undefined, planned: 1024, current: 1024 });
    expect(decideOpenFiles(2035, { soft: 8192, hard: 8192 }, undefined)).toMatchObject({ dropIn: undefined, needed: 3072, planned: 8192 });
    expect(decideOpenFiles(2035, { soft: 'infinity', hard: 'infinity' }, undefined)).toMatchObject({ dropIn: undefined, planned: 'infinity' });
  });

  it('raises the soft limit to the need and never lowers the hard limit', () => {
    const d = decideOpenFiles(2035, DEFAULTS, undefined);
    expect(d.planned).toBe(3072);
    expect(d.dropIn).toMatch(/^\[Service\]\nLimitNOFILE=3072:524288$/m);
    expect(decideOpenFiles(2035, { soft: 1024, hard: 2048 }, undefined).dropIn).toMatch(/^LimitNOFILE=3072:3072$/m);
    expect(decideOpenFiles(2035, { soft: 1024, hard: 'infinity' }, undefined).dropIn).toMatch(/^LimitNOFILE=3072:infinity$/m);
  });

  it('its bytes depend only on the values it sets: other pool sizes with the same need give the same bytes', () => {
    const contents = [2000, 2035, 2300, 2559].map((fd) => decideOpenFiles(fd, DEFAULTS, undefined).dropIn);
    expect(new Set(contents).size).toBe(1);
    expect(contents[0]).toBe(dropInContent(3072, 524288));
    expect(contents[0]).not.toMatch(/2035|2000|about/);
  });

  it('keeps its own earlier drop-in while the limit it gave still covers the need (no rewrite, no restart)', () => {
    const ours = dropInContent(3072, 524288);
    // With ours in effect, systemctl show reports 3072; a smaller need or the same need changes nothing.
    expect(decideOpenFiles(535, { soft: 3072, hard: 524288 }, ours).dropIn).toBeUndefined();
    expect(decideOpenFiles(2100, { soft: 3072, hard: 524288 }, ours).dropIn).toBeUndefined();
    // A larger need raises it.
    expect(decideOpenFiles(4000, { soft: 3072, hard: 524288 }, ours).dropIn).toMatch(/^LimitNOFILE=5120:524288$/m);
  });

  it('never overrides an admin drop-in that sets less than pgbouncer needs: it says so instead', () => {
    const ours = dropInContent(3072, 524288);
    const d = decideOpenFiles(2035, { soft: 2048, hard: 2048 }, ours);
    expect(d.dropIn).toBeUndefined();
    expect(d.note).toMatch(/another drop-in .* LimitNOFILE=2048, below the 3072/);
  });

  it('sorts before an admin drop-in (override.conf, limits.conf), so the admin wins', () => {
    expect([DROP_IN_NAME, 'override.conf', 'limits.conf', '50-admin.conf'].sort()[0]).toBe(DROP_IN_NAME);
  });

  it('when the limit cannot be read: writes the need, or keeps its own drop-in that asks for enough', () => {
    expect(decideOpenFiles(2035, undefined, undefined)).toMatchObject({ planned: 3072, dropIn: dropInContent(3072, 3072) });
    expect(decideOpenFiles(2035, undefined, dropInContent(4096, 524288))).toMatchObject({ planned: 4096, dropIn: undefined });
  });

  it('reads systemctl show', () => {
    expect(parseUnitNofile('LimitNOFILE=524288\nLimitNOFILESoft=1024\n')).toEqual({ soft: 1024, hard: 524288 });
    expect(parseUnitNofile('LimitNOFILESoft=infinity\nLimitNOFILE=infinity\n')).toEqual({ soft: 'infinity', hard: 'infinity' });
    expect(parseUnitNofile('')).toBeUndefined();
  });
});

const ENV = { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: 'secret-never-shown', DBHOST: '10.0.0.20' };

/** A fresh Debian 12 host booted with systemd: no pgbouncer, no pgbouncer.service.d/. */
function freshSystemdDebian(nofile: string): FakeSystem {
  const sys = new FakeSystem()
    .file('/etc/os-release', readFileSync(join(import.meta.dirname, '../../fixtures/os-release/debian-12'), 'utf8'))
    .on('systemctl cat pgbouncer', { exitCode: 1, stderr: 'No files found for pgbouncer.service.' })
    .on('getent passwd postgres', { stdout: 'postgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n' })
    .on(/^getent passwd (pgbouncer|101)$/, (args) => (args[1] === '101' ? { stdout: 'postgres:x:101:104::/var/lib/postgresql:/bin/bash\n' } : { exitCode: 2 }))
    .on(/^getent group (104|postgres)$/, { stdout: 'postgres:x:104:\n' })
    .on('apt-cache policy pgbouncer', { stdout: 'pgbouncer:\n  Installed: (none)\n  Candidate: 1.18.0-1+deb12u1\n' })
    .on('sh -c ulimit -n', { stdout: '1024\n' })
    .on('systemctl show -p Id -p LoadState -p MainPID -p LimitNOFILESoft -p LimitNOFILE pgbouncer pgbouncer-handover-*', { stdout: nofile })
    .on('systemctl show -p DefaultLimitNOFILESoft -p DefaultLimitNOFILE', { stdout: 'DefaultLimitNOFILE=524288\nDefaultLimitNOFILESoft=1024\n' });
  sys.dirs.add('/run/systemd/system');
  sys.dirs.add('/etc/systemd/system');
  return sys;
}

const plan = (system: FakeSystem, args: string[]): Promise<Plan> => dryRunPlan(system, ENV, args);

describe('plan data on a fresh systemd host (#12, #16.1)', () => {
  const dropIn = `/etc/systemd/system/pgbouncer.service.d/${DROP_IN_NAME}`;

  it('creates pgbouncer.service.d/ before writing the drop-in into it, and restarts through daemon-reload', async () => {
    const p = await plan(freshSystemdDebian('LimitNOFILE=524288\nLimitNOFILESoft=1024\n'), ['production', '--set', 'max_client_conn=2000']);
    const dirIndex = p.steps.findIndex((s) => s.kind === 'directory' && s.path === '/etc/systemd/system/pgbouncer.service.d');
    const fileIndex = p.steps.findIndex((s) => s.kind === 'file' && s.path === dropIn);
    expect(dirIndex).toBeGreaterThanOrEqual(0);
    expect(p.steps[dirIndex] as DirectoryStep).toMatchObject({ action: 'create', owner: 'root', mode: 0o755 });
    expect(fileIndex).toBeGreaterThan(dirIndex);
    expect(p.steps[fileIndex] as FileStep).toMatchObject({ action: 'create', owner: 'root', mode: 0o644, notify: 'daemon-reload', content: dropInContent(3072, 524288) });
    expect(p.openFiles).toEqual({ needed: 3072, current: 1024, planned: 3072 });
    const svc = p.steps.find((s) => s.kind === 'service') as ServiceStep;
    expect(svc.commands.map((c) => [c.cmd, ...c.args].join(' '))).toEqual(['systemctl daemon-reload', 'systemctl enable --now pgbouncer']);
  });

  it('pgbouncer not installed yet: the manager\'s defaults for services count, not its own limit (systemctl show of a missing unit)', async () => {
    const p = await plan(freshSystemdDebian('LoadState=not-found\nLimitNOFILE=20000\nLimitNOFILESoft=20000\n'), ['production', '--set', 'max_client_conn=2000']);
    expect(p.openFiles).toEqual({ needed: 3072, current: 1024, planned: 3072 });
    expect(p.steps.find((s) => s.kind === 'file' && s.path === dropIn)).toMatchObject({ action: 'create', content: dropInContent(3072, 524288) });
    const small = await plan(freshSystemdDebian('LoadState=not-found\nLimitNOFILE=20000\nLimitNOFILESoft=20000\n'), ['production']);
    expect(small.openFiles).toEqual({ needed: 1024, current: 1024, planned: 1024 });
  });

  it('an admin drop-in above the need: no drop-in, no folder, the admin limit is the planned one', async () => {
    const p = await plan(freshSystemdDebian('LimitNOFILE=8192\nLimitNOFILESoft=8192\n'), ['production', '--set', 'max_client_conn=2000']);
    expect(p.steps.some((s) => (s.kind === 'file' || s.kind === 'directory') && s.path.startsWith('/etc/systemd/system/pgbouncer.service.d'))).toBe(false);
    expect(p.openFiles).toEqual({ needed: 3072, current: 8192, planned: 8192 });
  });

  it('an existing drop-in of ours that still covers the need stays, unchanged, and is managed (owner, mode)', async () => {
    const sys = freshSystemdDebian('LimitNOFILE=524288\nLimitNOFILESoft=3072\n');
    sys.dirs.add('/etc/systemd/system/pgbouncer.service.d');
    sys.file(dropIn, dropInContent(3072, 524288), 0o644, 0, 0);
    const p = await plan(sys, ['production', '--set', 'max_client_conn=1900']);
    expect(p.steps.find((s) => s.kind === 'file' && s.path === dropIn)).toMatchObject({ action: 'unchanged' });
    expect(p.steps.find((s) => s.kind === 'directory' && s.path === '/etc/systemd/system/pgbouncer.service.d')).toMatchObject({ action: 'unchanged' });
    expect((p.steps.find((s) => s.kind === 'service') as ServiceStep).commands.map((c) => c.args.join(' '))).not.toContain('daemon-reload');
  });
});

describe('an earlier pgb-setup\'s drop-in (pgb-setup.conf sorts after ours and would win)', () => {
  const legacy = `/etc/systemd/system/pgbouncer.service.d/${LEGACY_DROP_IN_NAME}`;

  it('is named in a warning with the command that removes it', async () => {
    const sys = freshSystemdDebian('LimitNOFILE=524288\nLimitNOFILESoft=1024\n');
    sys.dirs.add('/etc/systemd/system/pgbouncer.service.d');
    sys.file(legacy, '# Written by pgb-setup: max_client_conn plus server connections need about 540 open files.\n[Service]\nLimitNOFILE=1024\n', 0o644, 0, 0);
    const p = await plan(sys, ['production', '--set', 'max_client_conn=2000']);
    expect(p.warnings).toContainEqual(expect.stringContaining(`${legacy} was written by an earlier pgb-setup (LimitNOFILE=1024) and overrides ${DROP_IN_NAME}: remove it`));
  });

  it('an admin\'s own file of that name is left alone, without a warning', async () => {
    const sys = freshSystemdDebian('LimitNOFILE=8192\nLimitNOFILESoft=8192\n');
    sys.dirs.add('/etc/systemd/system/pgbouncer.service.d');
    sys.file(legacy, '[Service]\nLimitNOFILE=8192\n', 0o644, 0, 0);
    const p = await plan(sys, ['production']);
    expect(p.warnings.some((w) => w.includes(LEGACY_DROP_IN_NAME))).toBe(false);
  });
});
