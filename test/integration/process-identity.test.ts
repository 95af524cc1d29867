/**
 * Process identity with real processes: a PID from a pidfile gets a signal only when its executable
 * is named exactly pgbouncer (and runs the expected config, where that is known). The impostors are
 * copies of coreutils binaries under telling names; the real one is pgbouncer 1.18 from apt.
 * Every process here is started by the test and stopped by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { pgbouncerFromPidfile, pgbouncerProcess } from '../../src/system/pgbouncer-process.js';
import { findRunning } from '../../src/facts/host-facts.js';
import { createNodeSystem } from '../../src/system/node-system.js';
import { captureContext } from '../helpers/context.js';
import { pgbouncer118Binary } from '../helpers/binaries.js';
import { startPgbouncer, writeTestPgbouncerConfig, type RunningPgbouncer } from '../helpers/pgbouncer.js';
import { freePort } from '../helpers/ports.js';
import { isAlive, stopPid } from '../helpers/proc.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

const system = createNodeSystem();
let tmp: TempDir;
const children: ChildProcess[] = [];

beforeAll(async () => {
  tmp = await makeTempDir('identity');
});
afterAll(async () => {
  for (const c of children) if (c.pid) await stopPid(c.pid, ['SIGKILL'], 2000);
  await tmp?.cleanup();
});

/** Starts a copy of `/usr/bin/<tool>` named `name` with `args`; returns its PID. */
let copies = 0;
async function impostor(tool: string, name: string, args: string[]): Promise<number> {
  const dir = join(tmp.path, `copy-${++copies}`);
  await mkdir(dir);
  const exe = join(dir, name);
  await copyFile(`/usr/bin/${tool}`, exe);
  await chmod(exe, 0o755);
  const child = spawn(exe, args, { stdio: 'ignore' });
  children.push(child);
  await new Promise((res, rej) => child.once('spawn', res).once('error', rej));
  return child.pid!;
}

describe('hash-user --reload --pidfile', () => {
  it('does not SIGHUP a sleep copy named pgbouncer_exporter, says what it is, changes nothing', async () => {
    const pid = await impostor('sleep', 'pgbouncer_exporter', ['300']);
    const pidfile = join(tmp.path, 'exporter.pid');
    const userlist = join(tmp.path, 'userlist.txt');
    await writeFile(pidfile, `${pid}\n`);
    await writeFile(userlist, '"other" "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy"\n', { mode: 0o600 });
    const ctx = captureContext({ readStdin: async () => 'zed-password', env: {} });
    const code = await main(['node', 'pgb-setup', 'hash-user', 'zed', '--password-stdin', '--userlist', userlist, '--reload', '--pidfile', pidfile], ctx);
    expect(code).not.toBe(0);
    expect(ctx.err()).toContain(`PID ${pid} is "pgbouncer_exporter" (${join(tmp.path, 'copy-1', 'pgbouncer_exporter')} 300), not pgbouncer`);
    expect(ctx.err()).not.toMatch(/reloaded/);
    expect(isAlive(pid)).toBe(true); // sleep dies of SIGHUP: alive means it got none
    expect(await readFile(userlist, 'utf8')).not.toContain('zed');
  });
});

describe('pgbouncerProcess / findRunning against real processes', () => {
  let bouncer: RunningPgbouncer;
  let iniPath: string;
  let pidfile: string;

  beforeAll(async () => {
    const dir = await makeTempDir('identity-pgb', { owner: 'postgres' });
    const cfg = await writeTestPgbouncerConfig(dir.path, { port: await freePort(), pgPort: await freePort(), dbname: 'appdb', authType: 'md5' });
    bouncer = await startPgbouncer({ binary: pgbouncer118Binary(), iniPath: cfg.iniPath, daemon: true });
    ({ iniPath, pidfile } = cfg);
    return async () => {
      await bouncer.stop();
      await dir.cleanup();
    };
  });

  it('a real pgbouncer daemon is recognised, with its config; another config is not ours', async () => {
    const found = await pgbouncerFromPidfile(system, pidfile, iniPath);
    expect(found).toMatchObject({ ok: true, pid: bouncer.pid });
    expect(await findRunning(system, pidfile, iniPath)).toEqual({ pid: bouncer.pid, pidfile });
    const other = await pgbouncerProcess(system, bouncer.pid, '/etc/pgbouncer/pgbouncer.ini');
    expect(other).toMatchObject({ ok: false, gone: false, reason: `PID ${bouncer.pid} is a pgbouncer running ${iniPath}, not /etc/pgbouncer/pgbouncer.ini` });
    expect(await findRunning(system, pidfile, '/etc/pgbouncer/pgbouncer.ini')).toBeUndefined();
  });

  it('an executable copied under the exact name pgbouncer is still told apart by its config argument', async () => {
    const ini = join(tmp.path, 'other.ini');
    await writeFile(ini, '[pgbouncer]\n');
    const pid = await impostor('tail', 'pgbouncer', ['-f', ini]); // argv like `pgbouncer -d file.ini`
    const fake = join(tmp.path, 'fake.pid');
    await writeFile(fake, `${pid}\n`);
    expect(await findRunning(system, fake, '/etc/pgbouncer/pgbouncer.ini')).toBeUndefined();
    expect(await pgbouncerProcess(system, pid, '/etc/pgbouncer/pgbouncer.ini')).toMatchObject({ ok: false, reason: `PID ${pid} is a pgbouncer running ${ini}, not /etc/pgbouncer/pgbouncer.ini` });
  });

  it('a dead PID and a sleep named pgbouncer_exporter are not running pgbouncers', async () => {
    const pid = await impostor('sleep', 'pgbouncer_exporter', ['300']);
    expect(await pgbouncerProcess(system, pid)).toMatchObject({ ok: false, gone: false });
    await stopPid(pid, ['SIGKILL'], 2000);
    expect(await pgbouncerProcess(system, pid)).toEqual({ ok: false, pid, gone: true, reason: `PID ${pid} is not running` });
  });
});
