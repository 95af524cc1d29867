/**
 * Handover under systemd (#14) in the reference guests of #12 (Debian 13 and 12, systemd as PID 1,
 * Debian's pgbouncer 1.24 / 1.18 and PostgreSQL 17 / 15): a restart-class change, `pgb-setup restart`, and 1 → 2 → 1
 * processes are handed over while pgbench -C, a Django-like loop and a 5 ms port probe run in the
 * guest. Nothing may fail; afterwards the unit runs the new config, `systemctl` says so, and no
 * pgbouncer runs outside a unit. A plain `systemctl restart` is measured the same way. Last, the
 * transient bridge unit a killed run leaves behind is stopped by the next run, after the unit's
 * process (which may run the config from before) is handed over.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CACHE, Guest, type RunResult } from '../helpers/guests/guest.js';

const PASSWORD = 'handover-in-guest';
const DB_ENV = '/root/db.env';
const PG_ENV = '/root/pg.env';
/** Long enough to cover a whole handover (old process and bridge). The load closes its connections at CONN_MAX_AGE 1 s, below the default 5 s drain, so they leave the old process at a request end as Django's do. */
const SECONDS = 20;
const V = { trixie: '1.24', bookworm: '1.18' } as const;
const LOAD_SOURCE = join(dirname(fileURLToPath(import.meta.url)), '../helpers/guests/guest-load.mjs');

interface Figures {
  requests: number;
  failed_requests: number;
  reconnects: number;
  probes: number;
  refused_probes: number;
  errors: string[];
  pgbench_transactions: number;
  pgbench_failed: number;
  pgbench_aborted: number;
  pgbench_errors: string[];
}

function ok(r: RunResult, what: string): RunResult {
  expect(r.code, `${what} failed (exit ${r.code}):\n${r.out}\n${r.err}`).toBe(0);
  return r;
}

describe.each((process.env['PGB_GUEST_SUITES']?.split(',') ?? ['trixie', 'bookworm']) as ('trixie' | 'bookworm')[])('handover under systemd: Debian %s guest', (suite) => {
  let guest: Guest;
  let pgbench: string;
  const lines: string[] = [];
  const pgb = (args: string[]) => guest.run(['pgb-setup', ...args], { envFile: DB_ENV, timeout: 300_000 });
  const mainPid = async (unit = 'pgbouncer') => Number((await guest.run(['systemctl', 'show', '-p', 'MainPID', '--value', unit])).out.trim());
  const pgbouncerPids = async () => (await guest.run(['pgrep', '-x', 'pgbouncer'])).out.trim().split('\n').filter(Boolean).map(Number).sort();

  /** Runs `during` (in the guest) while the load runs; returns the load's figures. */
  async function underLoad(label: string, during: () => Promise<void>): Promise<Figures> {
    const load = guest.spawn(['node', '/root/guest-load.cjs', String(SECONDS), pgbench, '1'], { envFile: PG_ENV });
    let out = '';
    let err = '';
    load.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    load.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const done = new Promise<void>((res) => load.once('close', () => res()));
    await new Promise((res) => setTimeout(res, 3000));
    const t0 = Date.now();
    await during();
    const took = Date.now() - t0;
    await done;
    expect(took, 'the load must cover the whole handover').toBeLessThan((SECONDS - 3) * 1000);
    const f = JSON.parse(out.trim().split('\n').pop() || 'null') as Figures | null;
    expect(f, `load gave no figures: ${err}`).not.toBeNull();
    lines.push(`${label.padEnd(36)} pgbench -C: ${f!.pgbench_transactions} tx, ${f!.pgbench_failed} failed, ${f!.pgbench_aborted} clients aborted | django loop: ${f!.requests} requests, ${f!.failed_requests} failed, ${f!.reconnects} reconnects | probes: ${f!.probes}, ${f!.refused_probes} refused`);
    return f!;
  }

  /**
   * Nothing failed on 1.23+ (trixie's 1.24). bookworm's 1.18 has no WAIT_FOR_CLIENTS and keeps its
   * TCP listener open while it shuts down (fixed in 1.23): there the port must never refuse, and
   * each persistent client (4) fails at most one request per process that leaves (old, bridge).
   */
  function zero(f: Figures): void {
    if (suite === 'bookworm') {
      expect(f.refused_probes).toBe(0);
      expect(f.failed_requests).toBeLessThanOrEqual(8);
      expect(f.requests).toBeGreaterThan(100);
      return;
    }
    // As in test/integration/handover.test.ts: a pgbench connection reset in the accept queue of the
    // closing listener (net.ipv4.tcp_migrate_req = 0 in the guest) is reported, not failed.
    const migrate = guest.readFile('/proc/sys/net/ipv4/tcp_migrate_req').trim() === '1';
    if (!migrate && f.pgbench_aborted > 0 && f.failed_requests === 0 && f.errors.length === 0 && f.pgbench_errors.every((e) => /server closed the connection unexpectedly|aborted while establishing connection|Run was aborted/.test(e))) {
      console.log(`note: ${f.pgbench_aborted} pgbench connection(s) reset while connecting (net.ipv4.tcp_migrate_req is 0?)`);
      f = { ...f, pgbench_aborted: 0, pgbench_errors: [] };
    }
    expect({ failed: f.failed_requests, refused: f.refused_probes, pgbenchFailed: f.pgbench_failed, aborted: f.pgbench_aborted, errors: [...f.errors, ...f.pgbench_errors] }).toEqual({ failed: 0, refused: 0, pgbenchFailed: 0, aborted: 0, errors: [] });
    expect(f.requests).toBeGreaterThan(100);
    expect(f.pgbench_transactions).toBeGreaterThan(100);
  }

  /** systemd tells the truth: the unit is active, its MainPID is the only pgbouncer, no bridge unit is left. */
  async function truthful(units: string[]): Promise<void> {
    for (const u of units) expect((await guest.run(['systemctl', 'is-active', u])).out.trim()).toBe('active');
    expect(await pgbouncerPids()).toEqual((await Promise.all(units.map((u) => mainPid(u)))).sort());
    expect((await guest.run(['systemctl', 'list-units', '--all', '--no-legend', 'pgbouncer-handover-*'])).out.trim()).toBe('');
  }

  beforeAll(async () => {
    guest = await Guest.boot(suite);
    const tarball = readdirSync(join(CACHE, 'pack')).find((f) => /^pgb-setup-.*\.tgz$/.test(f))!;
    guest.writeFile(`/root/${tarball}`, readFileSync(join(CACHE, 'pack', tarball)));
    ok(await guest.sh(`cd /root && npm install -g --no-audit --no-fund ./${tarball}`, { timeout: 300_000 }), 'npm install -g');
    pgbench = ok(await guest.sh('ls /usr/lib/postgresql/*/bin/pgbench | tail -1'), 'pgbench').out.trim();
    // The guest has no PostgreSQL driver for node (pgb-setup's is bundled): bundle node-postgres in.
    const bundle = await build({ entryPoints: [LOAD_SOURCE], bundle: true, platform: 'node', format: 'cjs', target: 'node18', write: false, external: ['pg-native'], logLevel: 'silent' });
    guest.writeFile('/root/guest-load.cjs', Buffer.from(bundle.outputFiles[0]!.contents));
    guest.writeFile(DB_ENV, `DBNAME=appdb\nDBUSER=app\nDBPASS='${PASSWORD}'\nDBHOST=127.0.0.1\n`, 0o600);
    guest.writeFile(PG_ENV, `PGHOST=127.0.0.1\nPGPORT=6432\nPGUSER=app\nPGDATABASE=appdb\nPGPASSWORD='${PASSWORD}'\n`, 0o600);
    ok(await guest.run(['runuser', '-u', 'postgres', '--', 'psql', '-X', '-v', 'ON_ERROR_STOP=1'], { input: `CREATE ROLE app LOGIN PASSWORD '${PASSWORD}';\nCREATE DATABASE appdb OWNER app;\n` }), 'CREATE ROLE');
    ok(await pgb(['production', '--yes', '--set', 'max_client_conn=200']), 'pgb-setup production');
    expect(guest.readFile('/etc/pgbouncer/pgbouncer.ini')).toMatch(/^so_reuseport = 1$/m);
  }, 900_000);

  afterAll(async () => {
    if (lines.length > 0) console.log(`\nDebian ${suite} under systemd, ${SECONDS} s of load each:\n${lines.join('\n')}\n`);
    await guest?.stop();
  }, 120_000);

  it('the plan names the handover and why', async () => {
    const r = ok(await pgb(['production', '--dry-run', '--set', 'max_client_conn=200', '--set', 'pkt_buf=8192']), 'dry-run');
    expect(r.out).toMatch(/service handover \(systemd\)/);
    expect(r.out).toMatch(/pgbouncer: handover \(a reload cannot apply pkt_buf\)/);
    const port = ok(await pgb(['production', '--dry-run', '--set', 'max_client_conn=200', '--set', 'listen_port=6440']), 'dry-run port');
    expect(port.out).toMatch(/pgbouncer: restart \(a reload cannot apply listen_port, and no handover: listen_port changes/);
  });

  it('a restart-class change (pkt_buf) hands over under load: nothing fails, the unit runs the new config', async () => {
    const before = await mainPid();
    let r: RunResult | undefined;
    const f = await underLoad(`${V[suite]} handover (pkt_buf, systemd)`, async () => {
      r = await pgb(['production', '--yes', '--set', 'max_client_conn=200', '--set', 'pkt_buf=8192']);
      // The handover's own steps and their times, for the record.
      console.log(`[${suite}] pgb-setup production (pkt_buf), ${r.seconds.toFixed(1)} s:\n${r.err.split('\n').filter((l) => / \(at [\d.]+ s\)$/.test(l)).join('\n')}`);
    });
    ok(r!, 'pkt_buf change');
    zero(f);
    expect(await mainPid()).not.toBe(before);
    await truthful(['pgbouncer']);
    // The running process's own answer (peer login to its console as the service user).
    const show = ok(await guest.run(['runuser', '-u', 'postgres', '--', 'psql', '-X', '-At', '-F', '=', '-h', '/var/run/postgresql', '-p', '6432', '-U', 'pgbouncer', 'pgbouncer', '-c', 'SHOW CONFIG']), 'SHOW CONFIG').out;
    expect(show).toMatch(/^pkt_buf=8192=/m);
  });

  it('pgb-setup restart production hands over on demand under load', async () => {
    const before = await mainPid();
    let r: RunResult | undefined;
    const f = await underLoad(`${V[suite]} pgb-setup restart (systemd)`, async () => {
      r = await pgb(['restart', 'production']);
    });
    ok(r!, 'restart');
    zero(f);
    expect(await mainPid()).not.toBe(before);
    await truthful(['pgbouncer']);
  });

  it('1 → 2 → 1 processes hand over under load', async () => {
    let r: RunResult | undefined;
    const up = await underLoad(`${V[suite]} handover 1 → 2 (systemd)`, async () => {
      r = await pgb(['production', '--yes', '--set', 'max_client_conn=200', '--set', 'pkt_buf=8192', '--processes', '2', ...(suite === 'bookworm' ? ['--no-peers'] : [])]);
    });
    ok(r!, '--processes 2');
    zero(up);
    await truthful(['pgbouncer@1', 'pgbouncer@2']);
    expect((await guest.run(['systemctl', 'is-active', 'pgbouncer'])).out.trim()).not.toBe('active');
    const down = await underLoad(`${V[suite]} handover 2 → 1 (systemd)`, async () => {
      r = await pgb(['production', '--yes', '--set', 'max_client_conn=200', '--set', 'pkt_buf=8192']);
    });
    ok(r!, 'back to 1 process');
    zero(down);
    await truthful(['pgbouncer']);
  });

  it('a plain systemctl restart, measured the same way (for comparison)', async () => {
    const f = await underLoad(`${V[suite]} plain systemctl restart`, async () => {
      ok(await guest.run(['systemctl', 'restart', 'pgbouncer']), 'systemctl restart');
    });
    expect(f.requests).toBeGreaterThan(0);
  });

  it('a bridge unit left by a killed run: the next run hands the unit over to the files on disk, then stops the bridge', async () => {
    const flags = ['--set', 'max_client_conn=200', '--set', 'pkt_buf=8192'];
    ok(await pgb(['production', '--yes', ...flags]), 'the config of the steps before');
    // What a run SIGKILLed mid-handover leaves: a transient unit running pgbouncer on a copy of the
    // config in a private /tmp folder (pidfile and socket there), sharing the port with the unit.
    const dir = ok(await guest.run(['mktemp', '-d', '/tmp/pgb-setup-handover-XXXXXX']), 'mktemp').out.trim();
    const ini = guest.readFile('/etc/pgbouncer/pgbouncer.ini').replace(/^pidfile = .*$/m, `pidfile = ${dir}/pgbouncer.pid`).replace(/^unix_socket_dir = .*$/m, `unix_socket_dir = ${dir}`);
    guest.writeFile(`${dir}/pgbouncer.ini`, ini, 0o600);
    ok(await guest.run(['chown', '-R', 'postgres:postgres', dir]), 'chown');
    const unit = 'pgbouncer-handover-1-killed';
    ok(await guest.run(['systemd-run', `--unit=${unit}`, '--collect', '--uid=postgres', '--gid=postgres', '-p', 'KillSignal=SIGINT', '/usr/sbin/pgbouncer', `${dir}/pgbouncer.ini`]), 'systemd-run');
    let bridgePid = 0;
    for (let i = 0; i < 100 && !bridgePid; i++) {
      bridgePid = Number((await guest.run(['cat', `${dir}/pgbouncer.pid`])).out.trim()) || 0;
      if (!bridgePid) await new Promise((res) => setTimeout(res, 100));
    }
    expect((await pgbouncerPids()).sort()).toEqual([await mainPid(), bridgePid].sort());

    const plan = ok(await pgb(['production', '--dry-run', ...flags]), 'dry-run');
    expect(plan.out).toContain(`a handover bridge left by an interrupted run (pid ${bridgePid}, unit ${unit}.service) is stopped after pgbouncer serves`);
    // The unit's process may still run the config from before the interrupted handover: handed over too.
    expect(plan.out).toContain('pgbouncer: handover (an interrupted handover left its bridge running: this process may still run the config from before)');
    expect(plan.out).toMatch(/^2 change\(s\) to make$/m);
    const before = await mainPid();
    const r = ok(await pgb(['production', '--yes', ...flags]), 'the next run');
    expect(r.err).toContain(`stale handover bridge pid ${bridgePid}`);
    expect(await mainPid()).not.toBe(before);
    await truthful(['pgbouncer']);
    expect((await guest.run(['test', '-e', dir])).code, `${dir} is left`).not.toBe(0);
    expect(ok(await guest.run(['psql', '-X', '-At', '-c', 'select 1'], { envFile: PG_ENV }), 'login').out.trim()).toBe('1');
  });
});
