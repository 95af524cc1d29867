/**
 * examples/ansible for real: Debian's ansible-playbook runs site.yml against this host (`-c local`,
 * inventory `localhost,`), installing pgb-setup from a tarball packed from this repository into a
 * temp npm prefix, with `pgb_setup_root` set to a temp image root, so neither the live pgbouncer
 * nor a global pgb-setup install is touched. Installs Debian's `ansible` with apt-get when missing.
 *
 * The tarball is `npm pack --ignore-scripts` of the dist/ that `npm test` has just built (built
 * here only when missing): re-running the build in the middle of the suite would delete dist/
 * under everything else.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../helpers/proc.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

const REPO = join(import.meta.dirname, '../..');
const PLAYBOOK = join(REPO, 'examples/ansible/site.yml');
// Every quoting case at once: $, space, #, both quote kinds (the env file needs backticks for it).
const PASSWORD = `Pa$$ "w'rd" #1-ansible`;
const DB_ENV = { DBNAME: 'appdb', DBUSER: 'app_user', DBHOST: '127.0.0.1', DBPORT: '5432' };

let tmp: TempDir;
let tarball: string;
let prefix: string;
let root: string;
let envFile: string;
let globalBefore: string | undefined;

interface Recap {
  ok: number;
  changed: number;
  unreachable: number;
  failed: number;
}

interface PlaybookRun {
  code: number | null;
  out: string;
  recap: Recap;
  /** Status word (ok, changed, skipping, fatal) of the first result line after `TASK [pgb_setup : <name>]`. */
  status(task: string): string | undefined;
}

function parseRecap(out: string): Recap {
  const m = /^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/m.exec(out);
  if (!m) throw new Error(`no PLAY RECAP for localhost in the ansible output:\n${out}`);
  return { ok: Number(m[1]), changed: Number(m[2]), unreachable: Number(m[3]), failed: Number(m[4]) };
}

function varsFile(name: string, overrides: Record<string, unknown> = {}): string {
  const vars = {
    pgb_setup_hosts: 'all',
    ansible_become: false, // already root; there is no sudo here
    ansible_python_interpreter: '/usr/bin/python3',
    pgb_setup_environment: 'development',
    pgb_setup_tarball: tarball,
    pgb_setup_npm_prefix: prefix,
    pgb_setup_cache_dir: join(tmp.path, 'cache'),
    pgb_setup_env_file: envFile,
    pgb_setup_root: root,
    pgb_setup_dbname: DB_ENV.DBNAME,
    pgb_setup_dbuser: DB_ENV.DBUSER,
    pgb_setup_dbpass: PASSWORD,
    pgb_setup_dbhost: DB_ENV.DBHOST,
    pgb_setup_dbport: Number(DB_ENV.DBPORT),
    pgb_setup_allow_from: ['10.0.0.0/8', '192.168.1.10'],
    // With --root the version is not read from the image: pin it, so the host's pgbouncer (which
    // other host tests purge and install) cannot change what is rendered.
    pgb_setup_extra_args: ['--pgbouncer-version', '1.18'],
    ...overrides,
  };
  // The password reaches ansible-playbook through a 0600 file (-e @file), never its command line.
  const path = join(tmp.path, `${name}.vars.json`);
  writeFileSync(path, JSON.stringify(vars), { mode: 0o600 });
  return path;
}

async function playbook(vars: string, flags: string[] = ['-v']): Promise<PlaybookRun> {
  const r = await run('ansible-playbook', [...flags, '-i', 'localhost,', '-c', 'local', PLAYBOOK, '-e', `@${vars}`], {
    cwd: tmp.path, // no stray ansible.cfg from the repo or the caller
    env: {
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_FORCE_COLOR: '0',
      ANSIBLE_STDOUT_CALLBACK: 'default',
      ANSIBLE_LOCAL_TEMP: join(tmp.path, 'ansible-local'),
      ANSIBLE_REMOTE_TEMP: join(tmp.path, 'ansible-remote'),
      ANSIBLE_RETRY_FILES_ENABLED: '0',
    },
    check: false,
    timeoutMs: 120_000,
  });
  const out = `${r.stdout}\n${r.stderr}`;
  return {
    code: r.code,
    out,
    recap: parseRecap(out),
    status(task) {
      const at = out.indexOf(`TASK [pgb_setup : ${task}]`);
      if (at < 0) return undefined;
      return /^(ok|changed|skipping|fatal):/m.exec(out.slice(at))?.[1];
    },
  };
}

function globalInstallStamp(): string | undefined {
  const globalPrefix = execFileSync('npm', ['prefix', '-g'], { encoding: 'utf8' }).trim();
  const pkg = join(globalPrefix, 'lib/node_modules/pgb-setup/package.json');
  return existsSync(pkg) ? `${statSync(pkg).mtimeMs}:${readFileSync(pkg, 'utf8')}` : undefined;
}

async function ensureAnsible(): Promise<void> {
  if ((await run('ansible-playbook', ['--version'], { check: false }).catch(() => undefined))?.code === 0) return;
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => run('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', '-q', '--no-install-recommends', 'ansible'], { env });
  try {
    await install();
  } catch {
    await run('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'update', '-q'], { env });
    await install();
  }
}

beforeAll(async () => {
  await ensureAnsible();
  tmp = await makeTempDir('ansible');
  if (!existsSync(join(REPO, 'dist/cli.js'))) await run('npm', ['run', 'build'], { cwd: REPO });
  const packed = JSON.parse((await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp.path], { cwd: REPO })).stdout) as { filename: string }[];
  tarball = join(tmp.path, packed[0]!.filename);
  prefix = join(tmp.path, 'npm-prefix');
  envFile = join(tmp.path, 'etc/pgb-setup/development.env');
  root = join(tmp.path, 'image');
  mkdirSync(join(root, 'etc'), { recursive: true });
  copyFileSync('/etc/os-release', join(root, 'etc/os-release'));
  globalBefore = globalInstallStamp();
});

afterAll(async () => {
  await tmp?.cleanup();
});

describe('examples/ansible: site.yml with the pgb_setup role, run by ansible-playbook against this host', () => {
  let first: PlaybookRun;

  it('first run: installs pgb-setup into the given npm prefix, writes a 0600 env file, runs pgb-setup and reports changed', async () => {
    first = await playbook(varsFile('main'), ['-vvv']);
    expect(first.code, first.out).toBe(0);
    expect(first.recap).toMatchObject({ failed: 0, unreachable: 0 });
    expect(first.recap.changed).toBeGreaterThanOrEqual(1);
    expect(first.status('pgb-setup development')).toBe('changed');
    expect(existsSync(join(prefix, 'bin/pgb-setup'))).toBe(true);
    expect(globalInstallStamp()).toBe(globalBefore);

    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(tmp.path, 'etc/pgb-setup')).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(root, 'etc/pgbouncer/pgbouncer.ini'), 'utf8')).toMatch(/^\[databases\]\nappdb = host=127\.0\.0\.1 port=5432 dbname=appdb$/m);
    expect(statSync(join(root, 'etc/pgbouncer/userlist.txt')).mode & 0o777).toBe(0o600);
  });

  it('the password never appears in the output (-vvv), and the env file holds it exactly', async () => {
    expect(first.out).not.toContain(PASSWORD);
    expect(first.out).not.toContain(`w'rd`);
    // The same inputs given straight to the installed pgb-setup (DBPASS in its environment) find
    // nothing to change: the env file's quoting gave pgb-setup the very same password.
    const direct = await run(join(prefix, 'bin/pgb-setup'), ['development', '--yes', '--json', '--root', root, '--pgbouncer-version', '1.18', '--allow-from', '10.0.0.0/8', '--allow-from', '192.168.1.10'], {
      env: { ...DB_ENV, DBPASS: PASSWORD },
    });
    expect(JSON.parse(direct.stdout)).toMatchObject({ changed: false });
  });

  it('second run: changed=0, pgb-setup not reinstalled, no file rewritten', async () => {
    const files = [envFile, join(root, 'etc/pgbouncer/pgbouncer.ini'), join(root, 'etc/pgbouncer/userlist.txt'), join(prefix, 'bin/pgb-setup')];
    const before = files.map((f) => statSync(f).mtimeMs);
    const second = await playbook(varsFile('main'));
    expect(second.code, second.out).toBe(0);
    expect(second.recap).toMatchObject({ changed: 0, failed: 0, unreachable: 0 });
    expect(second.status('pgb-setup development')).toBe('ok');
    expect(second.status('npm install -g ' + join(tmp.path, 'cache', tarball.split('/').pop()!))).toBe('skipping');
    expect(files.map((f) => statSync(f).mtimeMs)).toEqual(before);
    expect(second.out).not.toContain(PASSWORD);
  });

  it('--check with a new port: reports the pgb-setup plan as changed and changes nothing', async () => {
    const ini = readFileSync(join(root, 'etc/pgbouncer/pgbouncer.ini'), 'utf8');
    const env = readFileSync(envFile, 'utf8');
    const check = await playbook(varsFile('port', { pgb_setup_pgbouncer_port: 6433 }), ['--check', '-v']);
    expect(check.code, check.out).toBe(0);
    expect(check.status('pgb-setup --dry-run --json')).toBe('changed');
    expect(check.out).toContain('+listen_port = 6433');
    expect(readFileSync(join(root, 'etc/pgbouncer/pgbouncer.ini'), 'utf8')).toBe(ini);
    expect(readFileSync(envFile, 'utf8')).toBe(env);
    expect(check.out).not.toContain(PASSWORD);
  });

  it("pgb-setup's own error fails the play with its stderr (bad --allow-from is exit 2)", async () => {
    const bad = await playbook(varsFile('bad', { pgb_setup_allow_from: ['not-a-network'] }));
    expect(bad.code).not.toBe(0);
    expect(bad.recap.failed).toBe(1);
    expect(bad.status('pgb-setup failed')).toBe('fatal');
    expect(bad.out).toContain('pgb-setup exited with 2: pgb-setup: --allow-from not-a-network: not an IPv4/IPv6 address or CIDR');
    expect(bad.out).not.toContain(PASSWORD);
  });

  it('a Node.js older than pgb_setup_node_min_version stops the play with a message that says what to do', async () => {
    const old = await playbook(varsFile('node', { pgb_setup_node_min_version: '99.0.0' }));
    expect(old.recap.failed).toBe(1);
    expect(old.status('Node.js is new enough for pgb-setup')).toBe('fatal');
    expect(old.out).toMatch(/pgb-setup needs Node\.js >= 99\.0\.0, and this host has Node\.js \d+\.\d+\.\d+\..*pgb_setup_nodejs_tarball/s);
  });
});
