/**
 * Reference hosts: a cached Debian root filesystem (build-rootfs.sh) booted with systemd as PID 1 by
 * systemd-nspawn, with its own loopback only (--private-network), driven through nsenter.
 *
 * Every boot is a fresh copy: --volatile=overlay mounts the cached rootfs read-only under a tmpfs
 * overlay that vanishes at poweroff (boot to "running" about 4 s here; `cp -a --reflink=auto` of the
 * 1.2 GB rootfs on this ext4, which has no reflinks, took 15 s plus 3 s to remove), so guests never
 * see each other's state.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../proc.js';

export const CACHE = '/var/cache/pgb-setup-test/guests';
const BUILD_SCRIPT = join(import.meta.dirname, 'build-rootfs.sh');
const MIRROR = 'http://deb.debian.org/debian';
const GUEST_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export type Suite = 'bookworm' | 'trixie';

async function sh(cmd: string, args: string[], opts: { timeout?: number } = {}): Promise<{ code: number | null; out: string; err: string }> {
  const r = await run(cmd, args, { timeoutMs: opts.timeout ?? 600_000, check: false }).catch((e: Error) => ({ code: null, stdout: '', stderr: String(e) }));
  return { code: r.code, out: r.stdout, err: r.stderr };
}

const have = async (tool: string): Promise<boolean> => (await sh('sh', ['-c', `command -v ${tool}`])).code === 0;

/** debootstrap and systemd-nspawn on this machine, installed with apt-get when missing. */
export async function ensureHostTools(): Promise<void> {
  if (await have('debootstrap') && await have('systemd-nspawn')) return;
  const apt = ['-o', 'DPkg::Lock::Timeout=600'];
  let r = await sh('apt-get', [...apt, 'install', '-y', 'debootstrap', 'systemd-container']);
  if (r.code !== 0) {
    await sh('apt-get', [...apt, 'update']);
    r = await sh('apt-get', [...apt, 'install', '-y', 'debootstrap', 'systemd-container']);
  }
  if (r.code !== 0) throw new Error(`apt-get install debootstrap systemd-container failed:\n${r.err}`);
}

/** The recipe's version: a change of build-rootfs.sh rebuilds every cached rootfs. */
export function recipeStamp(suite: Suite): string {
  return createHash('sha256').update(readFileSync(BUILD_SCRIPT)).update(suite).digest('hex');
}

export function rootfsDir(suite: Suite): string {
  return join(CACHE, suite);
}

/** The cached rootfs for `suite`, built (about 3-4 min) when missing or made by another recipe. */
export async function ensureRootfs(suite: Suite): Promise<string> {
  mkdirSync(CACHE, { recursive: true });
  const dir = rootfsDir(suite);
  const stampFile = `${dir}.stamp`;
  const stamp = recipeStamp(suite);
  const fresh = () => existsSync(join(dir, 'etc/os-release')) && existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === stamp;
  if (fresh()) return dir;
  // flock: two test runs never build the same rootfs at once.
  const r = await sh('flock', [join(CACHE, '.build.lock'), 'sh', '-c', `[ "$(cat '${stampFile}' 2>/dev/null)" = '${stamp}' ] && [ -e '${dir}/etc/os-release' ] || { rm -f '${stampFile}' && '${BUILD_SCRIPT}' ${suite} '${dir}' ${MIRROR} && echo '${stamp}' > '${stampFile}'; }`], { timeout: 1_200_000 });
  if (r.code !== 0 || !fresh()) throw new Error(`building the ${suite} rootfs failed:\n${r.out.slice(-3000)}\n${r.err.slice(-3000)}`);
  return dir;
}

export interface RunResult {
  code: number | null;
  out: string;
  err: string;
  seconds: number;
}

export interface GuestRun {
  /** Extra variables (no secrets: they would be on nsenter's command line). */
  env?: Record<string, string>;
  /** A guest file of `export NAME=...` lines sourced first (how secrets reach the environment). */
  envFile?: string;
  input?: string;
  timeout?: number;
}

export class Guest {
  private constructor(
    readonly suite: Suite,
    readonly name: string,
    private readonly nspawn: ChildProcess,
    readonly pid: number,
    readonly log: string,
  ) {}

  /** Boots a fresh copy of the cached rootfs. `nofile` (soft:hard) is passed to nspawn's --rlimit; it cannot go above this shell's hard limit. */
  static async boot(suite: Suite, opts: { nofile?: string } = {}): Promise<Guest> {
    const dir = await ensureRootfs(suite);
    const name = `pgb-${suite}-${process.pid}-${Date.now() % 100000}`;
    const log = join(CACHE, `${name}.log`);
    const fd = openSync(log, 'w');
    const nspawn = spawn(
      'systemd-nspawn',
      ['--register=no', '--keep-unit', '--private-network', '--volatile=overlay', ...(opts.nofile ? [`--rlimit=NOFILE=${opts.nofile}`] : []), '-M', name, '-D', dir, '-b', '--console=read-only'],
      { stdio: ['ignore', fd, fd], env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' } },
    );
    closeSync(fd);
    const deadline = Date.now() + 60_000;
    let pid: number | undefined;
    while (Date.now() < deadline && nspawn.exitCode === null) {
      const r = await run('pgrep', ['-P', String(nspawn.pid), '-x', 'systemd'], { check: false });
      const p = Number(r.stdout.trim().split('\n')[0]);
      if (p > 0 && existsSync(`/proc/${p}/root/run/systemd/private`)) {
        pid = p;
        break;
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    if (pid === undefined) {
      if (nspawn.exitCode === null) nspawn.kill('SIGKILL');
      throw new Error(`the ${suite} guest did not boot:\n${readFileSync(log, 'utf8').slice(-2000)}`);
    }
    const guest = new Guest(suite, name, nspawn, pid, log);
    const state = await guest.run(['systemctl', 'is-system-running', '--wait'], { timeout: 120_000 });
    if (!/running|degraded/.test(state.out)) {
      const units = (await guest.run(['systemctl', '--failed', '--no-legend'])).out;
      await guest.stop(); // the caller gets no guest to stop
      throw new Error(`the ${suite} guest is ${state.out.trim()}: ${state.err}\nfailed units: ${units}`);
    }
    return guest;
  }

  /**
   * Runs a command in the guest (all namespaces, a clean environment). Asynchronous on purpose: a
   * test worker blocked for 60 s (spawnSync of an apt-get or a playbook, or several in a row) misses
   * vitest's RPC deadline, and the run fails with "Timeout calling onTaskUpdate" though every test passed.
   */
  async run(argv: string[], opts: GuestRun = {}): Promise<RunResult> {
    const vars = Object.entries({ HOME: '/root', LANG: 'C.UTF-8', ...opts.env }).map(([k, v]) => `${k}=${v}`);
    const cmd = opts.envFile ? ['sh', '-c', `set -a; . "$0"; set +a; exec "$@"`, opts.envFile, ...argv] : argv;
    const start = process.hrtime.bigint();
    const r = await run('nsenter', ['-t', String(this.pid), '-a', 'env', '-i', GUEST_PATH, ...vars, ...cmd], { input: opts.input, timeoutMs: opts.timeout ?? 300_000, check: false });
    return { code: r.code, out: r.stdout, err: r.stderr, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
  }

  /** A long-running command in the guest with pipes (e.g. a psql session kept open). */
  spawn(argv: string[], opts: GuestRun = {}): ChildProcess {
    const vars = Object.entries({ HOME: '/root', LANG: 'C.UTF-8', ...opts.env }).map(([k, v]) => `${k}=${v}`);
    const cmd = opts.envFile ? ['sh', '-c', `set -a; . "$0"; set +a; exec "$@"`, opts.envFile, ...argv] : argv;
    return spawn('nsenter', ['-t', String(this.pid), '-a', 'env', '-i', GUEST_PATH, ...vars, ...cmd], { stdio: ['pipe', 'pipe', 'pipe'] });
  }

  /** Shell text in the guest. */
  sh(script: string, opts: GuestRun = {}): Promise<RunResult> {
    return this.run(['sh', '-c', script], opts);
  }

  /** Writes a file into the guest's filesystem from the host (never through a command line). */
  writeFile(path: string, content: string | Buffer, mode = 0o644): void {
    const at = `/proc/${this.pid}/root${path}`;
    writeFileSync(at, content, { mode });
    chmodSync(at, mode);
  }

  readFile(path: string): string {
    return readFileSync(`/proc/${this.pid}/root${path}`, 'utf8');
  }

  /** Powers the guest off and waits for systemd-nspawn to exit (SIGKILL after 60 s). */
  async stop(): Promise<void> {
    if (this.nspawn.exitCode !== null || this.nspawn.signalCode !== null) return;
    const exited = new Promise<void>((res) => this.nspawn.once('exit', () => res()));
    await this.run(['systemctl', 'poweroff'], { timeout: 30_000 });
    const timer = setTimeout(() => this.nspawn.kill('SIGKILL'), 60_000);
    await exited;
    clearTimeout(timer);
    rmSync(this.log, { force: true });
  }
}
