/**
 * A handover bridge left by a killed run is cleaned up by the next run, with real processes,
 * without systemd, on pgbouncer 1.18 and 1.24. A real handover (src/apply/handover.ts) runs in a
 * child process that SIGKILLs itself right after a chosen step:
 *
 *  - after the old process stopped: the bridge is the only pgbouncer on the port. The next run
 *    (apply: service start, verify, stale-bridges) must start pgbouncer first and only then stop
 *    the bridge: the port never refuses a connection, the bridge and its folder are gone, and the
 *    real pgbouncer serves a login through its own socket;
 *  - while the bridge serves beside the old process: the next run hands that process over to the files
 *    on disk (it may run the config from before), then stops the bridge.
 *
 * Bridges go to a private TMPDIR (child and this file), so no other test's bridge is ever seen here.
 */
import { spawn } from 'node:child_process';
import { chown, readdir, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { parseUserlist } from '../../src/auth/userlist.js';
import { applyPlan } from '../../src/apply/apply-plan.js';
import { detectStaleBridges } from '../../src/facts/handover-bridges.js';
import type { HostFacts } from '../../src/facts/host-facts.js';
import { planStaleBridges } from '../../src/plan/stale-bridges.js';
import type { HandoverProcess, HandoverSpec, Plan, ServiceStep, Step } from '../../src/plan/types.js';
import { createNodeSystem } from '../../src/system/node-system.js';
import { tryLogin } from '../../src/system/net.js';
import { captureContext } from '../helpers/context.js';
import { pgbouncerBinaries } from '../helpers/binaries.js';
import { pgbouncerVersion } from '../helpers/pgbouncer-binaries.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { freePort } from '../helpers/ports.js';
import { isAlive, listeningTcpPorts, lookupUser, run, stopPid } from '../helpers/proc.js';
import { makeTempDir, type TempDir } from '../helpers/tmp.js';

const PASSWORD = 'stale-bridge-test';
const system = createNodeSystem();
const owner = lookupUser('postgres');
const account = { name: 'postgres', uid: owner.uid, gid: owner.gid };
let cluster: PgCluster;
let work: TempDir;
let bridgeTmp: TempDir;
let child: string;
const savedTmpdir = process.env['TMPDIR'];

beforeAll(async () => {
  cluster = await startPostgres();
  await cluster.createRole('app_user', 'replaced-below');
  await cluster.createDatabase('appdb', 'app_user');
  work = await makeTempDir('stale-bridge-child');
  const { build } = await import('esbuild');
  child = join(work.path, 'handover-child.mjs');
  await build({
    entryPoints: [join(import.meta.dirname, '../helpers/handover-child.ts')],
    outfile: child,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: ['pg-native'],
    banner: { js: "import { createRequire as __pgbCreateRequire } from 'node:module'; const require = __pgbCreateRequire(import.meta.url);" },
    logLevel: 'error',
  });
  bridgeTmp = await makeTempDir('stale-bridge-tmp', { owner: 'postgres' });
  process.env['TMPDIR'] = bridgeTmp.path;
});

afterAll(async () => {
  if (savedTmpdir === undefined) delete process.env['TMPDIR'];
  else process.env['TMPDIR'] = savedTmpdir;
  await cluster?.stop();
  await bridgeTmp?.cleanup();
  await work?.cleanup();
});

/** Runs a handover in a child that SIGKILLs itself after the progress line matching `killAt`. */
function killedHandover(spec: HandoverSpec, killAt: string): Promise<NodeJS.Signals | null> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child], {
      env: { ...process.env, TMPDIR: bridgeTmp.path, HANDOVER_CHILD: JSON.stringify({ spec, account, password: PASSWORD, killAt }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => void (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => void (out += d.toString()));
    p.on('error', reject);
    p.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve(signal) : reject(new Error(`the handover child was not killed (exit ${code}): ${out}`))));
  });
}

/** Connects to the port every 5 ms until stopped; counts refused connections. */
function probe(port: number): { stop: () => Promise<{ probes: number; refused: number }> } {
  let running = true;
  let probes = 0;
  let refused = 0;
  const loop = (async () => {
    while (running) {
      await new Promise<void>((done) => {
        const s = connect({ host: '127.0.0.1', port }, () => {
          s.destroy();
          done();
        });
        s.on('error', (e: NodeJS.ErrnoException) => {
          if (e.code === 'ECONNREFUSED') refused++;
          done();
        });
      });
      probes++;
      await sleep(5);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { probes, refused };
    },
  };
}

describe.each(pgbouncerBinaries())('a handover bridge left by a killed run, pgbouncer $label', ({ label, binary }) => {
  let dir: TempDir;
  let port: number;
  let version: string;
  const started = new Set<number>();
  const single = (): HandoverProcess => ({ iniPath: join(dir.path, 'pgbouncer.ini'), pidfile: join(dir.path, 'pgbouncer.pid'), socketDir: dir.path });

  async function render(pktBuf: number): Promise<void> {
    const ctx = captureContext({ env: { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: PASSWORD, DBHOST: '127.0.0.1', DBPORT: String(cluster.port) } });
    const code = await main(
      [
        'node', 'pgb-setup', 'render', 'production', '--out', dir.path, '--pgbouncer-version', version,
        '--set', `listen_port=${port}`, '--set', `unix_socket_dir=${dir.path}`, '--set', `pidfile=${join(dir.path, 'pgbouncer.pid')}`,
        '--set', `logfile=${join(dir.path, 'pgbouncer.log')}`, '--set', `auth_file=${join(dir.path, 'userlist.txt')}`,
        '--set', 'max_client_conn=200', '--set', `pkt_buf=${pktBuf}`,
      ],
      ctx,
    );
    expect(ctx.err()).not.toMatch(/pgb-setup:/);
    expect(code).toBe(0);
    for (const f of await readdir(dir.path)) await chown(join(dir.path, f), owner.uid, owner.gid);
  }

  async function realPid(): Promise<number | undefined> {
    const pid = Number((await readFile(single().pidfile, 'utf8').catch(() => '')).trim());
    if (!(pid > 1) || !isAlive(pid)) return undefined;
    started.add(pid);
    return pid;
  }

  async function startReal(): Promise<number> {
    await run(binary, ['-d', '-u', 'postgres', single().iniPath]);
    for (let i = 0; i < 100; i++) {
      const pid = await realPid();
      if (pid) return pid;
      await sleep(50);
    }
    throw new Error('pgbouncer did not start');
  }

  /** The bridge folders in the private TMPDIR, with the PID each pidfile names (recorded to be stopped at the end). */
  async function bridges(): Promise<{ dir: string; pid: number | undefined }[]> {
    const names = (await readdir(bridgeTmp.path)).filter((n) => n.startsWith('pgb-setup-handover-'));
    return Promise.all(names.map(async (n) => {
      const pid = Number((await readFile(join(bridgeTmp.path, n, 'pgbouncer.pid'), 'utf8').catch(() => '')).trim()) || undefined;
      if (pid && (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).includes(bridgeTmp.path)) started.add(pid);
      return { dir: join(bridgeTmp.path, n), pid };
    }));
  }

  function spec(oldPid: number): HandoverSpec {
    return { manager: 'daemon', port, binary, version, old: [{ ...single(), pid: oldPid }], next: [single()], enable: [], disable: [], login: { user: 'app_user', database: 'appdb' } };
  }

  /** The next run's apply, as the main job plans it for this host: `service` (or nothing to do), verify, then the stale bridges. */
  async function nextRun(service: ServiceStep): Promise<string[]> {
    const facts = {
      live: true,
      systemd: false,
      serviceUser: { user: 'postgres', group: 'postgres', uid: owner.uid, gid: owner.gid, source: 'passwd', detail: 'test' },
      staleBridges: await detectStaleBridges(system, []),
    } as unknown as HostFacts;
    const login = { user: 'app_user', database: 'appdb' };
    const planned = planStaleBridges(facts, [{ iniPath: single().iniPath, pidfile: single().pidfile, socketDir: dir.path }], true, { port, version, login });
    expect(planned.notes).toEqual([]);
    const steps: Step[] = [service, { kind: 'verify', host: '127.0.0.1', port, login }, planned.step!];
    const plan: Plan = { version: 1, environment: 'production', pgbouncerVersion: version, host: { distro: 'test', packageManager: 'apt', serviceUser: 'postgres', serviceManager: 'none', firewall: 'none', root: undefined }, steps, changed: true, notes: [], warnings: [] };
    const progress: string[] = [];
    await applyPlan(plan, { system, facts, password: PASSWORD, progress: (l) => progress.push(l), drainMs: 0 });
    return progress;
  }

  beforeAll(async () => {
    dir = await makeTempDir(`stale-bridge-${label}`, { owner: 'postgres' });
    port = await freePort();
    version = (await pgbouncerVersion(binary)).match(/\d+\.\d+\.\d+/)![0]!;
    await render(4096);
    const secret = parseUserlist(await readFile(join(dir.path, 'userlist.txt'), 'utf8')).entries[0]!.secret;
    await cluster.query(`ALTER ROLE app_user PASSWORD '${secret}'`);
    await startReal();
  });

  afterAll(async () => {
    await bridges().catch(() => []);
    await realPid();
    for (const pid of started) if (isAlive(pid)) await stopPid(pid, ['SIGINT', 'SIGQUIT', 'SIGKILL'], 3000);
    await dir?.cleanup();
  });

  it('killed after the old process stopped: the bridge alone serves; the next run starts pgbouncer, and only then stops the bridge', async () => {
    const old = (await realPid())!;
    await render(8192);
    expect(await killedHandover(spec(old), '^\\s*old pgbouncer pid \\d+ stopped')).toBe('SIGKILL');
    const [left, ...more] = await bridges();
    expect(more).toEqual([]);
    expect(left?.pid).toBeDefined();
    const bridgePid = left!.pid!;
    // The interrupted state: the old process is gone, no real pgbouncer runs, the bridge alone serves the port.
    expect(isAlive(old)).toBe(false);
    expect(await realPid()).toBeUndefined();
    expect(isAlive(bridgePid)).toBe(true);
    expect(listeningTcpPorts(bridgePid).has(port)).toBe(true);
    expect(await tryLogin({ host: '127.0.0.1', port, user: 'app_user', password: PASSWORD, database: 'appdb' })).toBeUndefined();

    // The probe runs before, through and after the next run (which takes well under a second).
    const p = probe(port);
    await sleep(100);
    const progress = await nextRun({ kind: 'service', manager: 'daemon', action: 'start', reason: 'pgbouncer is not running', pidfiles: [single().pidfile], commands: [{ cmd: binary, args: ['-d', '-u', 'postgres', single().iniPath], why: 'start pgbouncer' }] });
    await sleep(100);
    const seen = await p.stop();
    expect(progress.join('\n')).toMatch(new RegExp(`stale handover bridge pid ${bridgePid}, .*: (SIGINT|SIGTERM|PAUSE|SHUTDOWN)`));
    expect(seen.probes).toBeGreaterThan(5);
    expect(seen.refused).toBe(0);

    expect(isAlive(bridgePid)).toBe(false);
    expect(await bridges()).toEqual([]);
    const real = (await realPid())!;
    expect(real).toBeDefined();
    expect(listeningTcpPorts(real).has(port)).toBe(true);
    expect(await tryLogin({ host: dir.path, port, user: 'app_user', password: PASSWORD, database: 'appdb' })).toBeUndefined();
    expect(await tryLogin({ host: '127.0.0.1', port, user: 'app_user', password: PASSWORD, database: 'appdb' })).toBeUndefined();
  });

  it('killed while the bridge served beside the old process: the next run hands that process over to the files on disk, then stops the bridge', async () => {
    const old = (await realPid())!;
    await render(4096);
    expect(await killedHandover(spec(old), '^\\s*bridge pgbouncer \\(pid \\d+')).toBe('SIGKILL');
    const [left] = await bridges();
    const bridgePid = left!.pid!;
    expect(isAlive(bridgePid)).toBe(true);
    expect(isAlive(old)).toBe(true);

    // What the main job plans for it (test/unit/plan/handover-plan.test.ts): a handover of the old process.
    const p = probe(port);
    await sleep(100);
    await nextRun({ kind: 'service', manager: 'daemon', action: 'handover', reason: 'an interrupted handover left its bridge running', pidfiles: [single().pidfile], commands: [], handover: spec(old) });
    await sleep(100);
    const seen = await p.stop();
    expect(seen.refused).toBe(0);
    expect(isAlive(old)).toBe(false);
    expect(isAlive(bridgePid)).toBe(false);
    for (const b of await bridges()) expect(b.pid === undefined || !isAlive(b.pid), `bridge ${b.dir} left running`).toBe(true);
    expect(await bridges()).toEqual([]);
    const real = (await realPid())!;
    expect(real).toBeDefined();
    expect(real).not.toBe(old);
    expect(await tryLogin({ host: dir.path, port, user: 'app_user', password: PASSWORD, database: 'appdb' })).toBeUndefined();
  });
});
