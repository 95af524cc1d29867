/**
 * The process runner behind System.exec (execa, src/system/run-program.ts) with real processes:
 * output and stdin, a missing program, the timeout reaching the program and what it started
 * (SIGTERM first, SIGKILL for what ignores it), and cleanup when pgb-setup itself is killed.
 * Every process here is started by the test and addressed by the PIDs it wrote down.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeSystem } from '../../src/system/node-system.js';
import { KILL_GRACE_MS, MAX_OUTPUT, TIMED_OUT_EXIT } from '../../src/system/run-program.js';
import { isAlive, stopPid, waitForExit } from '../helpers/proc.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

let tmp: TempDir;
let driver: string;
const started: number[] = [];

beforeAll(async () => {
  tmp = await makeTempDir('runner');
  driver = join(tmp.path, 'driver.mjs');
  await build({
    entryPoints: ['test/helpers/exec-driver.ts'],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node18',
    outfile: driver,
    banner: { js: "import { createRequire as __r } from 'node:module'; const require = __r(import.meta.url);" },
    logLevel: 'error',
  });
});

afterAll(async () => {
  for (const pid of started) await stopPid(pid, ['SIGKILL'], 2000);
  await tmp?.cleanup();
});

/** The PIDs a shell script wrote into `file`, one per line, remembered for the cleanup. */
async function pidsIn(file: string, count: number): Promise<number[]> {
  for (let i = 0; i < 200; i++) {
    const pids = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number) : [];
    if (pids.length >= count) {
      started.push(...pids);
      return pids;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${file} did not get ${count} PIDs`);
}

describe('System.exec through execa', () => {
  const system = createNodeSystem();

  it('passes input on stdin (never argv), merges env, returns output and exit code', async () => {
    const r = await system.exec('sh', ['-c', 'cat; printf "%s" "$PGB_T" >&2; exit 3'], { input: 'secret-on-stdin\n', env: { PGB_T: 'from-env' } });
    expect(r).toEqual({ exitCode: 3, stdout: 'secret-on-stdin\n', stderr: 'from-env' });
  });

  it('closes stdin when there is no input, so a program reading it does not wait', async () => {
    const r = await system.exec('cat', [], { timeoutMs: 10_000 });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('');
  });

  it('reports a missing program as 127 with one line, not an exception', async () => {
    const r = await system.exec('/nonexistent/pgb-setup-no-such-program', []);
    expect(r.exitCode).toBe(127);
    expect(r.stderr).toContain('/nonexistent/pgb-setup-no-such-program');
  });

  it('a program that never stops printing is stopped at MAX_OUTPUT, not buffered until pgb-setup aborts', async () => {
    const r = await system.exec('yes', []);
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout.length).toBe(MAX_OUTPUT);
    expect(r.stderr.endsWith(`yes: printed more than ${MAX_OUTPUT} characters on one stream; stopped it`)).toBe(true);
  });

  it('timeout: SIGTERM stops the program and the process it started', async () => {
    const file = join(tmp.path, 'term.pids');
    // The timeout leaves the shell time to start the grandchild even on a busy machine.
    const r = await system.exec('sh', ['-c', `echo $$ > ${file}; sleep 300 & echo $! >> ${file}; wait`], { timeoutMs: 1500 });
    const [child, grandchild] = await pidsIn(file, 2);
    expect(r.exitCode).toBe(TIMED_OUT_EXIT);
    expect(r.stderr).toMatch(/timed out after 1500 ms/);
    expect(await waitForExit(child!, 1000)).toBe(true);
    expect(await waitForExit(grandchild!, 1000)).toBe(true);
  });

  it('timeout: what ignores SIGTERM gets SIGKILL after the grace time, child and grandchild alike', async () => {
    const file = join(tmp.path, 'kill.pids');
    const log = join(tmp.path, 'kill.log');
    // The child traps TERM (logs it, keeps looping); the grandchild ignores TERM altogether.
    const script = `trap 'echo TERM >> ${log}' TERM; echo $$ > ${file}; (trap '' TERM; exec sleep 300) & echo $! >> ${file}; while :; do sleep 0.05; done`;
    const t0 = Date.now();
    const r = await system.exec('sh', ['-c', script], { timeoutMs: 1500 });
    const [child, grandchild] = await pidsIn(file, 2);
    expect(r.exitCode).toBe(TIMED_OUT_EXIT);
    expect(readFileSync(log, 'utf8')).toContain('TERM'); // SIGTERM came first
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1500 + KILL_GRACE_MS - 50); // and SIGKILL only after the grace
    expect(isAlive(child!)).toBe(false);
    expect(isAlive(grandchild!)).toBe(false);
  });
});

describe('pgb-setup killed while a program runs', () => {
  function runDriver(cmd: string, args: string[]) {
    const child = spawn(process.execPath, [driver, JSON.stringify({ cmd, args })], { stdio: ['ignore', 'pipe', 'pipe'] });
    started.push(child.pid!);
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>((res) => child.on('close', (code, signal) => res({ code, signal, out })));
    return { pid: child.pid!, done };
  }

  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    it(`${signal} to pgb-setup stops the program it runs and that program's child`, async () => {
      const file = join(tmp.path, `${signal}.pids`);
      const d = runDriver('sh', ['-c', `echo $$ > ${file}; sleep 300 & echo $! >> ${file}; wait`]);
      const [child, grandchild] = await pidsIn(file, 2);
      expect(isAlive(child!) && isAlive(grandchild!)).toBe(true);
      process.kill(d.pid, signal);
      const exit = await d.done;
      expect(exit.signal).toBe(signal); // it still dies of the signal, as before
      expect(await waitForExit(child!, 2000)).toBe(true);
      expect(await waitForExit(grandchild!, 2000)).toBe(true);
    });
  }

  it('a program that returned keeps what it started (pgbouncer -d forks its daemon) when pgb-setup exits', async () => {
    const file = join(tmp.path, 'daemon.pids');
    const d = runDriver('sh', ['-c', `sleep 300 </dev/null >/dev/null 2>&1 & echo $! > ${file}`]);
    const exit = await d.done;
    expect(exit.code).toBe(0);
    expect(JSON.parse(exit.out)).toMatchObject({ exitCode: 0 });
    const [daemon] = await pidsIn(file, 1);
    expect(isAlive(daemon!)).toBe(true);
    await stopPid(daemon!, ['SIGTERM', 'SIGKILL'], 2000);
  });
});
