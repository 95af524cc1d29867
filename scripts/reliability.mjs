#!/usr/bin/env node
// Runs the trust tests (test/unit/trust, test/integration/trust-*) and prints the figures that
// RELIABILITY.md reports: cases generated, kills injected, concurrent runs, data lost.
//
//   node scripts/reliability.mjs            # the default sizes, as in CI
//   node scripts/reliability.mjs --scale 5  # 5x the generated cases, 5x the random kills and races
//
// Needs root (the tests chown to the service user) and the integration harness's binaries.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const scaleArg = process.argv.indexOf('--scale');
const scale = scaleArg > 0 ? Math.max(1, Number(process.argv[scaleArg + 1]) || 1) : 1;
const dir = mkdtempSync(join(tmpdir(), 'pgb-reliability-'));
const figures = join(dir, 'figures.jsonl');
const env = {
  ...process.env,
  PGB_TRUST_FIGURES: figures,
  PGB_TRUST_RUNS: String(scale),
  PGB_TRUST_RANDOM_KILLS: String(12 * scale),
  PGB_TRUST_ROUNDS: String(10 * scale),
};

const runs = [
  ['vitest', 'run', '--project', 'unit', 'test/unit/trust'],
  ['vitest', 'run', '--project', 'integration', 'test/integration/trust-crash.test.ts', 'test/integration/trust-concurrency.test.ts', 'test/integration/trust-secrets.test.ts'],
];
let failed = false;
const started = Date.now();
for (const args of runs) {
  const r = spawnSync('npx', args, { env, stdio: 'inherit' });
  if (r.status !== 0) failed = true;
}
const seconds = ((Date.now() - started) / 1000).toFixed(0);

const rows = existsSync(figures)
  ? readFileSync(figures, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
  : [];
// One line per test file (a file may report from several workers; add them up).
const byTest = new Map();
for (const { test, ...nums } of rows) {
  const sum = byTest.get(test) ?? {};
  for (const [k, v] of Object.entries(nums)) sum[k] = (sum[k] ?? 0) + v;
  byTest.set(test, sum);
}
console.log(`\nTrust figures (scale ${scale}, ${seconds} s${failed ? ', SOME TESTS FAILED' : ''}):`);
for (const [test, nums] of byTest) {
  console.log(`- ${test}: ${Object.entries(nums).map(([k, v]) => `${k} ${v}`).join(', ')}`);
}
const lost = [...byTest.values()].reduce((a, n) => a + (n.dataLost ?? 0), 0);
console.log(`data lost: ${lost}`);
rmSync(dir, { recursive: true, force: true });
process.exitCode = failed || lost > 0 ? 1 : 0;
