#!/usr/bin/env node
// Prints start-up and no-op run times of pgb-setup next to bare `node -e ""`, measured in the same run.
// Figures, not assertions: CI machines vary; the aims are in README.md.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'pgb-setup.js');
const runs = Number(process.env.BENCH_RUNS ?? 15);
const env = { ...process.env, DBNAME: 'app', DBUSER: 'app_user', DBPASS: 'bench-password', DBHOST: '127.0.0.1' };

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// CPU time (user + system) of waited-for children, from /proc/self/stat (cutime, cstime; clock ticks).
// Less sensitive than wall time to other work on a shared machine; reported as the mean per run.
const TICK_MS = 1000 / Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);
function childrenCpuMs() {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[13]) + Number(f[14])) * TICK_MS; // fields 16 and 17 of proc(5)
  } catch {
    return NaN;
  }
}

function time(args, extraEnv = {}) {
  const samples = [];
  const cpu0 = childrenCpuMs();
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { env: { ...env, ...extraEnv }, stdio: ['ignore', 'ignore', 'pipe'] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    samples.push(ms);
  }
  return { ms: median(samples), cpu: (childrenCpuMs() - cpu0) / runs };
}

const out = mkdtempSync(join(tmpdir(), 'pgb-bench-'));
// A folder root for `--root` re-runs: the first apply writes the files, the timed ones find nothing to do.
const imageRoot = mkdtempSync(join(tmpdir(), 'pgb-bench-root-'));
mkdirSync(join(imageRoot, 'etc'));
copyFileSync('/etc/os-release', join(imageRoot, 'etc/os-release'));
const first = spawnSync(process.execPath, [bin, 'development', '--root', imageRoot, '--yes'], { env, encoding: 'utf8' });
if (first.status !== 0) throw new Error(`preparing the --root folder failed: ${first.stderr}`);
// `rerun: true` marks the runs held to RERUN_TARGET_MS; they run programs (getent, systemctl,
// pgbouncer --version), so they load execa, which --version, --help and render never do.
const RERUN_TARGET_MS = 300;
const cases = [
  ['node -e ""', ['-e', '']],
  ['pgb-setup --version', [bin, '--version']],
  ['pgb-setup --help', [bin, '--help']],
  ['pgb-setup render production', [bin, 'render', 'production', '--out', out, '--pgbouncer-version', '1.18']],
  ['re-run, nothing to do (--root)', [bin, 'development', '--root', imageRoot, '--yes'], {}, true],
  // Live-like without changing this machine: the same facts (programs run, files read) and plan as a
  // live re-run, which then only compares files when nothing is to do.
  ['live-like: plan on this host (--dry-run)', [bin, 'development', '--dry-run'], {}, true],
];
// Only a host that already matches is timed live: the bench never changes this machine.
const live = spawnSync(process.execPath, [bin, 'development', '--dry-run', '--json'], { env, encoding: 'utf8' });
const liveNoop = process.getuid?.() === 0 && live.status === 0 && JSON.parse(live.stdout).changed === false;
if (liveNoop) cases.push(['re-run, nothing to do (live host)', [bin, 'development', '--yes'], {}, true]);
const results = [];
const base = time(cases[0][1]);
for (const [name, args, extraEnv, rerun] of cases) {
  const t = name === 'node -e ""' ? base : time(args, extraEnv);
  results.push({ name, ...t, ratio: t.ms / base.ms, rerun });
}
rmSync(out, { recursive: true, force: true });
rmSync(imageRoot, { recursive: true, force: true });

console.log(`median wall time of ${runs} runs, mean CPU time (user+sys) per run; aims: start-up at most 2.0x bare node, a re-run with nothing to do under ${RERUN_TARGET_MS} ms`);
for (const r of results) {
  const verdict = r.rerun ? `  ${r.ms < RERUN_TARGET_MS ? 'under' : 'OVER'} the ${RERUN_TARGET_MS} ms target${r.ms >= RERUN_TARGET_MS && r.cpu < RERUN_TARGET_MS ? ' (wall time; CPU time is under it: a busy machine?)' : ''}` : '';
  console.log(`  ${r.name.padEnd(40)} ${r.ms.toFixed(1).padStart(7)} ms  ${r.ratio.toFixed(2)}x  cpu ${r.cpu.toFixed(1).padStart(6)} ms${verdict}`);
}
if (!liveNoop) console.log('  (live re-run not timed: needs root and a host that pgb-setup development already configured with these DB* values)');

// ---- Select-only throughput through one pgbouncer process vs two (--processes), in the same run ----
// A throwaway PostgreSQL 15 cluster (initdb as postgres into a temp dir, loopback port) and the
// built pgbouncer >= 1.19 from the test cache; `pgb-setup bench --processes 2` starts and stops its
// own throwaway pgbouncers. Everything started here is stopped by PID; the temp dir is removed.
await userlistSection();
if (process.env.BENCH_SKIP_PROCESSES) console.log('\n(select-only throughput section skipped: BENCH_SKIP_PROCESSES is set)');
else await processesSection();

// ---- A large userlist.txt (--root): apply rewrites it as bytes, linear in its size (#17.15) ----
async function userlistSection() {
  const { appendFileSync, statSync } = await import('node:fs');
  console.log('apply (--root) with a large userlist.txt: another user\'s line kept byte for byte; median of 3 (each run changes the app user\'s secret)');
  const line = (i) => `"user${String(i).padStart(7, '0')}" "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB="\n`;
  for (const entries of [50_000, 300_000]) {
    const r = mkdtempSync(join(tmpdir(), 'pgb-bench-userlist-'));
    try {
      mkdirSync(join(r, 'etc'));
      copyFileSync('/etc/os-release', join(r, 'etc/os-release'));
      const flags = ['--root', r, '--yes', '--skip-install', '--skip-service', '--skip-firewall'];
      const firstRun = spawnSync(process.execPath, [bin, 'development', ...flags], { env, encoding: 'utf8' });
      if (firstRun.status !== 0) throw new Error(`preparing the userlist bench failed: ${firstRun.stderr}`);
      const chunk = [];
      for (let i = 0; i < entries; i++) chunk.push(line(i));
      appendFileSync(join(r, 'etc/pgbouncer/userlist.txt'), chunk.join(''));
      const bytes = statSync(join(r, 'etc/pgbouncer/userlist.txt')).size;
      const samples = [];
      for (let i = 0; i < 3; i++) {
        const t0 = process.hrtime.bigint();
        const run = spawnSync(process.execPath, [bin, 'development', ...flags], { env: { ...env, DBPASS: `bench-userlist-${i}` }, stdio: ['ignore', 'ignore', 'pipe'] });
        if (run.status !== 0) throw new Error(`apply with a large userlist exited ${run.status}: ${run.stderr}`);
        samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      console.log(`  ${`${entries.toLocaleString('en-US')} entries (${(bytes / 1024 / 1024).toFixed(1)} MiB)`.padEnd(40)} ${median(samples).toFixed(0).padStart(7)} ms`);
    } finally {
      rmSync(r, { recursive: true, force: true });
    }
  }
}

// ---- The no-change re-run inside a Debian 12 guest under systemd (the reference host of #12) ----
// Uses the rootfs the `guests` test project caches (run `npm run test:guests` once); boots a fresh
// copy (--volatile=overlay, --private-network), installs the npm pack tarball with the guest's npm
// and Node.js 18, runs the main job once, then times the re-runs inside the guest. Powered off after.
await guestSection();

async function guestSection() {
  const { spawn } = await import('node:child_process');
  const { existsSync, readFileSync, readdirSync, writeFileSync } = await import('node:fs');
  const n = Number(process.env.BENCH_GUEST_RUNS ?? 15);
  console.log(`\nno-change re-run of pgb-setup production inside a Debian 12 guest (systemd, Node.js 18), median of ${n}`);
  const skip = (why) => console.log(`  skipped: ${why}`);
  const rootfs = '/var/cache/pgb-setup-test/guests/bookworm';
  if (process.getuid?.() !== 0) return skip('needs root (systemd-nspawn)');
  if (spawnSync('sh', ['-c', 'command -v systemd-nspawn']).status !== 0) return skip('systemd-nspawn is not installed (npm run test:guests installs it)');
  if (!existsSync(`${rootfs}.stamp`) || !existsSync(join(rootfs, 'etc/os-release'))) return skip(`no cached rootfs in ${rootfs} (npm run test:guests builds it)`);
  const pack = mkdtempSync(join(tmpdir(), 'pgb-bench-pack-'));
  const packed = spawnSync('npm', ['pack', '--ignore-scripts', '--pack-destination', pack], { cwd: root, encoding: 'utf8' });
  const tarball = readdirSync(pack).find((f) => f.endsWith('.tgz'));
  if (packed.status !== 0 || !tarball) return skip(`npm pack failed: ${packed.stderr}`);
  const nspawn = spawn('systemd-nspawn', ['--register=no', '--keep-unit', '--private-network', '--volatile=overlay', '-M', `pgb-bench-${process.pid}`, '-D', rootfs, '-b', '--console=read-only'], { stdio: 'ignore' });
  const exited = new Promise((res) => nspawn.once('exit', res));
  let pid;
  const inGuest = (script, input) => spawnSync('nsenter', ['-t', String(pid), '-a', 'env', '-i', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'LANG=C.UTF-8', 'sh', '-c', script], { input, encoding: 'utf8', timeout: 300_000 });
  try {
    for (let i = 0; i < 600 && !pid; i++) {
      const p = Number(spawnSync('pgrep', ['-P', String(nspawn.pid), '-x', 'systemd'], { encoding: 'utf8' }).stdout.trim());
      if (p > 0 && existsSync(`/proc/${p}/root/run/systemd/private`)) pid = p;
      else await new Promise((r) => setTimeout(r, 100));
    }
    if (!pid) return skip('the guest did not boot');
    inGuest('systemctl is-system-running --wait');
    writeFileSync(`/proc/${pid}/root/root/${tarball}`, readFileSync(join(pack, tarball)));
    const password = `bench-${process.pid}`;
    writeFileSync(`/proc/${pid}/root/root/db.env`, `DBNAME=appdb\nDBUSER=app\nDBPASS=${password}\nDBHOST=127.0.0.1\n`, { mode: 0o600 });
    const setup = inGuest(`cd /root && npm install -g --no-audit --no-fund ./${tarball} >/dev/null && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 && set -a && . /root/db.env && set +a && pgb-setup production --yes >/dev/null`, `CREATE ROLE app LOGIN PASSWORD '${password}';\nCREATE DATABASE appdb OWNER app;\n`);
    if (setup.status !== 0) return skip(`setting up the guest failed: ${setup.stderr.trim().split('\n').slice(-2).join(' / ')}`);
    const timed = inGuest(`set -a; . /root/db.env; set +a; for i in $(seq ${n}); do s=$(date +%s%N); pgb-setup production --yes --json | grep -q '"changed": false' || exit 1; e=$(date +%s%N); echo $(( (e - s) / 1000 )); done`);
    if (timed.status !== 0) return skip(`a re-run in the guest changed something or failed: ${timed.stderr.trim()}`);
    const us = timed.stdout.trim().split('\n').map(Number);
    const bare = inGuest(`for i in $(seq ${n}); do s=$(date +%s%N); node -e ''; e=$(date +%s%N); echo $(( (e - s) / 1000 )); done`).stdout.trim().split('\n').map(Number);
    const node = inGuest('node --version').stdout.trim();
    const ms = (x) => (x / 1000).toFixed(1).padStart(7);
    console.log(`  ${`node -e "" (guest, node ${node})`.padEnd(40)} ${ms(median(bare))} ms`);
    console.log(`  ${'re-run, nothing to do (guest)'.padEnd(40)} ${ms(median(us))} ms  ${(median(us) / median(bare)).toFixed(2)}x  (min ${(Math.min(...us) / 1000).toFixed(1)} ms)`);
  } finally {
    if (pid) inGuest('systemctl poweroff');
    const kill = setTimeout(() => nspawn.kill('SIGKILL'), 60_000);
    await exited;
    clearTimeout(kill);
    rmSync(pack, { recursive: true, force: true });
  }
}

async function processesSection() {
  const { spawn } = await import('node:child_process');
  const { chownSync, chmodSync, existsSync, readFileSync, readdirSync, writeFileSync, openSync, closeSync } = await import('node:fs');
  const { createServer } = await import('node:net');
  const clients = Number(process.env.BENCH_PROCESSES_CLIENTS ?? 8);
  const seconds = Number(process.env.BENCH_PROCESSES_SECONDS ?? 5);
  const title = `select-only (SELECT 1) through pgbouncer, 1 process vs 2 (so_reuseport), ${clients} clients, ${seconds} s each`;
  console.log(`\n${title}`);
  const skip = (why) => console.log(`  skipped: ${why}`);
  if (process.getuid?.() !== 0) return skip('needs root (runs a throwaway PostgreSQL 15 and pgbouncer as the postgres user)');
  const pgBin = '/usr/lib/postgresql/15/bin';
  const missing = ['initdb', 'postgres', 'pgbench', 'psql'].filter((b) => !existsSync(join(pgBin, b)));
  if (missing.length) return skip(`PostgreSQL 15 is not installed (${missing.join(', ')} missing in ${pgBin}); npm test installs it, or apt-get install postgresql-15`);
  const pw = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'))?.split(':');
  if (!pw) return skip('no postgres OS user');
  const [uid, gid] = [Number(pw[2]), Number(pw[3])];

  // pgbouncer >= 1.19 (for [peers]): the test cache, else build it there, as test/helpers/pgbouncer-binaries.ts does.
  const cache = process.env.PGB_TEST_CACHE_DIR ?? '/var/cache/pgb-setup-test';
  const newer = (v) => { const [a, b] = v.split('.').map(Number); return a > 1 || (a === 1 && b >= 19); };
  let pgbouncer = existsSync(cache)
    ? readdirSync(cache).map((d) => /^pgbouncer-(\d+\.\d+\.\d+)$/.exec(d)?.[1]).filter((v) => v && newer(v)).sort((a, b) => a.localeCompare(b, undefined, { numeric: true })).map((v) => join(cache, `pgbouncer-${v}`, 'pgbouncer')).filter((p) => existsSync(p)).pop()
    : undefined;
  if (!pgbouncer) {
    console.log(`  building pgbouncer into ${cache} (scripts/build-pgbouncer.sh, once)...`);
    const built = spawnSync('bash', [join(root, 'scripts', 'build-pgbouncer.sh')], { env: { ...process.env, PGB_TEST_CACHE_DIR: cache }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    pgbouncer = built.status === 0 ? built.stdout.trim().split('\n').pop() : undefined;
    if (!pgbouncer || !existsSync(pgbouncer)) return skip('could not build pgbouncer >= 1.19 (see the build output above)');
  }

  const port = await new Promise((res, rej) => {
    const srv = createServer().on('error', rej);
    srv.listen(0, '127.0.0.1', () => { const p = srv.address().port; srv.close(() => res(p)); });
  });
  const base = mkdtempSync(join(tmpdir(), 'pgb-bench-pg-'));
  chownSync(base, uid, gid);
  chmodSync(base, 0o755);
  const data = join(base, 'data');
  const sock = join(base, 'sock');
  const logfile = join(base, 'postgres.log');
  let pid;
  const stopPostgres = () => {
    if (!pid) return;
    const alive = () => { try { process.kill(pid, 0); return !readFileSync(`/proc/${pid}/stat`, 'utf8').match(/\) [ZX] /); } catch { return false; } };
    for (const [signal, ms] of [['SIGINT', 15000], ['SIGQUIT', 5000], ['SIGKILL', 5000]]) {
      if (!alive()) break;
      try { process.kill(pid, signal); } catch { break; }
      const until = Date.now() + ms;
      while (alive() && Date.now() < until) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
    pid = undefined;
  };
  const onSignal = () => { stopPostgres(); rmSync(base, { recursive: true, force: true }); process.exit(130); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const asPostgres = { uid, gid, cwd: '/', env: { ...process.env, HOME: pw[5], USER: 'postgres', LOGNAME: 'postgres' } };
    const init = spawnSync(join(pgBin, 'initdb'), ['-D', data, '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--auth-host=scram-sha-256', '--auth-local=peer', '--no-sync', '--no-instructions'], { ...asPostgres, encoding: 'utf8' });
    if (init.status !== 0) return skip(`initdb failed: ${init.stderr.trim().split('\n').pop()}`);
    spawnSync('mkdir', ['-m', '0755', sock], asPostgres);
    writeFileSync(join(data, 'pg_hba.conf'), 'local all postgres peer\nhost all all 127.0.0.1/32 scram-sha-256\n');
    writeFileSync(join(data, 'postgresql.auto.conf'), [`listen_addresses = '127.0.0.1'`, `port = ${port}`, `unix_socket_directories = '${sock}'`, 'max_connections = 100', 'fsync = off', 'synchronous_commit = off', 'full_page_writes = off', "shared_buffers = '64MB'", ''].join('\n'));
    for (const f of ['pg_hba.conf', 'postgresql.auto.conf']) chownSync(join(data, f), uid, gid);
    const fd = openSync(logfile, 'a');
    const child = spawn(join(pgBin, 'postgres'), ['-D', data], { ...asPostgres, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    pid = child.pid;
    child.unref();
    const ready = Date.now() + 60000;
    for (;;) {
      const lines = existsSync(join(data, 'postmaster.pid')) ? readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n') : [];
      if (Number(lines[0]) === pid && lines[7]?.trim() === 'ready') break;
      if (child.exitCode !== null || Date.now() > ready) return skip(`PostgreSQL did not start: ${readFileSync(logfile, 'utf8').trim().split('\n').slice(-2).join(' / ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const password = `bench-${process.pid}-${Date.now()}`;
    const sql = `CREATE ROLE bench_user LOGIN PASSWORD '${password}';\nCREATE DATABASE benchdb OWNER bench_user;\n`;
    const psql = spawnSync(join(pgBin, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', sock, '-p', String(port), '-U', 'postgres', '-d', 'postgres'], { ...asPostgres, input: sql, encoding: 'utf8' });
    if (psql.status !== 0) return skip(`creating the bench role failed: ${psql.stderr.trim()}`);

    const benchEnv = { ...process.env, DBNAME: 'benchdb', DBUSER: 'bench_user', DBPASS: password, DBHOST: '127.0.0.1', DBPORT: String(port) };
    const r = spawnSync(process.execPath, [bin, 'bench', 'development', '--processes', '2', '--pgbouncer-binary', pgbouncer, '--pgbench', join(pgBin, 'pgbench'), '--service-user', 'postgres', '--clients', String(clients), '--seconds', String(seconds), '--json'], { env: benchEnv, encoding: 'utf8', timeout: (2 * seconds + 120) * 1000 });
    if (r.status !== 0) return skip(`pgb-setup bench --processes 2 exited ${r.status}: ${(r.stderr || '').trim().split('\n').slice(-3).join(' / ')}`);
    const report = JSON.parse(r.stdout);
    const [one, two] = report.runs;
    const tps = (x) => `${Math.round(x.tps).toLocaleString('en-US')} tps`;
    const share = two.transactions_per_process.every((x) => typeof x === 'number') ? ` (transactions per process ${two.transactions_per_process.map((x) => `${Math.round((100 * x) / two.transactions_per_process.reduce((a, b) => a + b, 0))}%`).join(' / ')})` : '';
    console.log(`  pgbouncer ${report.pgbouncer_version}, PostgreSQL 15, ${report.cores} cores, ${report.workload === 'select1' ? 'pgbench -f "SELECT 1;"' : 'pgbench -S'}, persistent connections, profile development (pool ${one.pool_sizes.join('')} vs ${two.pool_sizes.join(' + ')})`);
    console.log(`  ${'1 process'.padEnd(40)} ${tps(one).padStart(14)}`);
    console.log(`  ${'2 processes'.padEnd(40)} ${tps(two).padStart(14)}${share}`);
    console.log(`  ${'2 processes ÷ 1 process'.padEnd(40)} ${`${report.ratio.toFixed(2)}x`.padStart(14)}`);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    stopPostgres();
    rmSync(base, { recursive: true, force: true });
  }
}
