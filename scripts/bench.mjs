#!/usr/bin/env node
// Prints start-up and no-op run times of pgb-setup next to bare `node -e ""`, measured in the same run.
// Figures, not assertions: CI machines vary; the aims are in README.md.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
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

function time(args, extraEnv = {}) {
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { env: { ...env, ...extraEnv }, stdio: ['ignore', 'ignore', 'pipe'] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    samples.push(ms);
  }
  return median(samples);
}

const out = mkdtempSync(join(tmpdir(), 'pgb-bench-'));
// A folder root for `--root` re-runs: the first apply writes the files, the timed ones find nothing to do.
const imageRoot = mkdtempSync(join(tmpdir(), 'pgb-bench-root-'));
mkdirSync(join(imageRoot, 'etc'));
copyFileSync('/etc/os-release', join(imageRoot, 'etc/os-release'));
const first = spawnSync(process.execPath, [bin, 'development', '--root', imageRoot, '--yes'], { env, encoding: 'utf8' });
if (first.status !== 0) throw new Error(`preparing the --root folder failed: ${first.stderr}`);
const cases = [
  ['node -e ""', ['-e', '']],
  ['pgb-setup --version', [bin, '--version']],
  ['pgb-setup --help', [bin, '--help']],
  ['pgb-setup render production', [bin, 'render', 'production', '--out', out, '--pgbouncer-version', '1.18']],
  ['re-run, nothing to do (--root)', [bin, 'development', '--root', imageRoot, '--yes']],
  ['plan on the live host (--dry-run)', [bin, 'development', '--dry-run']],
];
// Only a host that already matches is timed live: the bench never changes this machine.
const live = spawnSync(process.execPath, [bin, 'development', '--dry-run', '--json'], { env, encoding: 'utf8' });
const liveNoop = process.getuid?.() === 0 && live.status === 0 && JSON.parse(live.stdout).changed === false;
if (liveNoop) cases.push(['re-run, nothing to do (live host)', [bin, 'development', '--yes']]);
const results = [];
const base = time(cases[0][1]);
for (const [name, args, extraEnv] of cases) {
  const ms = name === 'node -e ""' ? base : time(args, extraEnv);
  results.push({ name, ms, ratio: ms / base });
}
rmSync(out, { recursive: true, force: true });
rmSync(imageRoot, { recursive: true, force: true });

console.log(`median wall time of ${runs} runs; aims: start-up at most 2.0x bare node, a re-run with nothing to do under 300 ms`);
for (const r of results) console.log(`  ${r.name.padEnd(40)} ${r.ms.toFixed(1).padStart(7)} ms  ${r.ratio.toFixed(2)}x`);
if (!liveNoop) console.log('  (live re-run not timed: needs root and a host that pgb-setup development already configured with these DB* values)');
