/**
 * examples/ansible on a fresh systemd host (#16.2): inside a Debian 12 guest, Debian's ansible-core
 * runs site.yml with `-c local` and only the role's documented variables (no admin credentials, the
 * distro's Node.js 18). First run changed, second not, and --check shows the plan at default verbosity.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CACHE, Guest, type RunResult } from '../helpers/guests/guest.js';

const REPO = join(import.meta.dirname, '../..');
const PASSWORD = `Pa$$ "w'rd" #1-ansible`;

let guest: Guest;
let tarball: string;

function recap(out: string): { changed: number; failed: number; unreachable: number } {
  const m = /^localhost\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/m.exec(out);
  if (!m) throw new Error(`no PLAY RECAP in:\n${out}`);
  return { changed: Number(m[1]), unreachable: Number(m[2]), failed: Number(m[3]) };
}

async function playbook(flags: string[] = [], extra: Record<string, unknown> = {}): Promise<RunResult> {
  const vars = {
    pgb_setup_hosts: 'all',
    ansible_python_interpreter: '/usr/bin/python3',
    pgb_setup_tarball: `/root/${tarball}`,
    pgb_setup_dbname: 'appdb',
    pgb_setup_dbuser: 'app',
    pgb_setup_dbpass: PASSWORD,
    pgb_setup_dbhost: '127.0.0.1',
    ...extra,
  };
  // The password reaches ansible-playbook through a 0600 file (-e @file), never a command line.
  guest.writeFile('/root/vars.json', JSON.stringify(vars), 0o600);
  return await guest.run(['ansible-playbook', ...flags, '-i', 'localhost,', '-c', 'local', '/root/ansible/site.yml', '-e', '@/root/vars.json'], {
    env: { ANSIBLE_NOCOLOR: '1', ANSIBLE_RETRY_FILES_ENABLED: '0', ANSIBLE_STDOUT_CALLBACK: 'default' },
    timeout: 600_000,
  });
}

beforeAll(async () => {
  guest = await Guest.boot('bookworm');
  tarball = readdirSync(join(CACHE, 'pack')).find((f) => /^pgb-setup-.*\.tgz$/.test(f))!;
  guest.writeFile(`/root/${tarball}`, readFileSync(join(CACHE, 'pack', tarball)));
  // The example as shipped, copied in (the guest cannot see the host's files).
  const staging = mkdtempSync(join(tmpdir(), 'pgb-ansible-'));
  try {
    cpSync(join(REPO, 'examples/ansible'), join(staging, 'ansible'), { recursive: true });
    const r = await guest.run(['mkdir', '-p', '/root/ansible']);
    expect(r.code).toBe(0);
    cpSync(join(staging, 'ansible'), `/proc/${guest.pid}/root/root/ansible`, { recursive: true });
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  const role = await guest.run(['runuser', '-u', 'postgres', '--', 'psql', '-X', '-v', 'ON_ERROR_STOP=1'], {
    input: `CREATE ROLE app LOGIN PASSWORD '${PASSWORD.replaceAll("'", "''")}';\nCREATE DATABASE appdb OWNER app;\n`,
  });
  expect(role.code, role.err).toBe(0);
}, 600_000);

afterAll(async () => {
  await guest?.stop();
}, 120_000);

describe('examples/ansible on a fresh Debian 12 guest under systemd (ansible-playbook -c local)', () => {
  it('first run: changed, pgbouncer running under systemd, a login through 6432 works, no password in the output', async () => {
    const r = await playbook();
    expect(r.code, `${r.out}\n${r.err}`).toBe(0);
    expect(recap(r.out)).toMatchObject({ failed: 0, unreachable: 0 });
    expect(recap(r.out).changed).toBeGreaterThanOrEqual(1);
    expect(r.out + r.err).not.toContain(PASSWORD);
    expect((await guest.run(['systemctl', 'is-active', 'pgbouncer'])).out.trim()).toBe('active');
    guest.writeFile('/root/pg.env', `PGPASSWORD='${PASSWORD.replaceAll("'", `'"'"'`)}'\n`, 0o600);
    const login = await guest.run(['psql', '-X', '-At', '-h', '127.0.0.1', '-p', '6432', '-U', 'app', '-d', 'appdb', '-c', 'select current_user'], { envFile: '/root/pg.env' });
    expect(login.code, login.err).toBe(0);
    expect(login.out.trim()).toBe('app');
    console.log(`[ansible] first run ${r.seconds.toFixed(1)} s`);
  });

  it('second run: changed=0', async () => {
    const r = await playbook();
    expect(r.code, `${r.out}\n${r.err}`).toBe(0);
    expect(recap(r.out)).toEqual({ changed: 0, failed: 0, unreachable: 0 });
    console.log(`[ansible] second run ${r.seconds.toFixed(1)} s`);
  });

  it('--check with a new port shows the plan at default verbosity and changes nothing', async () => {
    const ini = guest.readFile('/etc/pgbouncer/pgbouncer.ini');
    const r = await playbook(['--check'], { pgb_setup_pgbouncer_port: 6433 });
    expect(r.code, `${r.out}\n${r.err}`).toBe(0);
    expect(r.out).toContain('TASK [pgb_setup : pgb-setup plan for localhost]');
    expect(r.out).toMatch(/pgb-setup production: pgbouncer 1\.18/);
    expect(r.out).toContain('+listen_port = 6433');
    expect(r.out + r.err).not.toContain(PASSWORD);
    expect(recap(r.out).changed).toBeGreaterThanOrEqual(1);
    expect(guest.readFile('/etc/pgbouncer/pgbouncer.ini')).toBe(ini);
  });
});
