import type { Context } from '../../src/system/context.js';
import type { System } from '../../src/system/system.js';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { main } from '../../src/main.js';
import type { Plan } from '../../src/plan/types.js';
import { createNodeSystem } from '../../src/system/node-system.js';

export interface CapturedContext extends Context {
  out: () => string;
  err: () => string;
}

/** A Context whose stdout/stderr are captured; the system is the real one unless given. */
export function captureContext(overrides: Partial<Context> & { system?: System } = {}): CapturedContext {
  let out = '';
  let err = '';
  return {
    system: overrides.system ?? createNodeSystem(),
    stdout: { write: (t) => void (out += t) },
    stderr: { write: (t) => void (err += t) },
    env: overrides.env ?? {},
    isTTY: overrides.isTTY ?? false,
    cwd: overrides.cwd ?? process.cwd(),
    readStdin: overrides.readStdin ?? (async () => ''),
    // Each context its own host lock: a test that applies to a fake host never meets another test file's run (or a run a timed-out test left holding the real /run lock).
    hostLockPath: overrides.hostLockPath ?? join(tmpdir(), `pgb-setup-test-${randomUUID()}.lock`),
    out: () => out,
    err: () => err,
  };
}

/**
 * `pgb-setup <args> --dry-run --json` on `system`: expects exit 0, no error and DBPASS nowhere in the
 * output, and returns the plan.
 */
export async function dryRunPlan(system: System, env: Record<string, string>, args: string[]): Promise<Plan> {
  const ctx = captureContext({ system, env });
  const code = await main(['node', 'pgb-setup', ...args, '--dry-run', '--json'], ctx);
  expect(ctx.err()).not.toMatch(/pgb-setup:/);
  expect(code).toBe(0);
  if (env.DBPASS) expect(ctx.out() + ctx.err()).not.toContain(env.DBPASS);
  return JSON.parse(ctx.out()) as Plan;
}
