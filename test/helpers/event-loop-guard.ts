/**
 * Fails a test file whose worker was blocked (spawnSync, execFileSync, a long synchronous loop) for
 * 30 s or more in one stretch. Vitest's worker answers the runner over an RPC with a fixed 60 s
 * deadline: a longer block ends the whole run red with "Timeout calling onTaskUpdate" though every
 * test passed, and only on a machine slow enough to cross it. Half the deadline fails here first.
 */
import { appendFileSync } from 'node:fs';
import { afterAll, expect } from 'vitest';

// PGB_TEST_BLOCK_LIMIT_MS: only for the guard's own test.
const LIMIT_MS = Number(process.env['PGB_TEST_BLOCK_LIMIT_MS'] ?? 30_000);
const TICK_MS = Math.min(500, LIMIT_MS / 4);

let last = performance.now();
let longest = 0;
const timer = setInterval(() => {
  const now = performance.now();
  longest = Math.max(longest, now - last - TICK_MS);
  last = now;
}, TICK_MS);
timer.unref();

afterAll(() => {
  clearInterval(timer);
  const blocked = Math.max(longest, performance.now() - last - TICK_MS);
  // PGB_TEST_BLOCK_REPORT=FILE: one line per test file with its longest block, to see the margin.
  const report = process.env['PGB_TEST_BLOCK_REPORT'];
  if (report) appendFileSync(report, `${(blocked / 1000).toFixed(1)} s\t${expect.getState().testPath ?? '?'}\n`);
  if (blocked >= LIMIT_MS) {
    throw new Error(`this file blocked its test worker for ${(blocked / 1000).toFixed(1)} s in one stretch (limit ${LIMIT_MS / 1000} s): run child processes asynchronously (test/helpers/proc.ts run)`);
  }
});
