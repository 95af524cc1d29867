import type { Context } from '../../src/context.js';
import type { System } from '../../src/system/system.js';
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
    out: () => out,
    err: () => err,
  };
}
