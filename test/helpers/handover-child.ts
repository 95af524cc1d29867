/**
 * A pgb-setup handover in a child process, SIGKILLed by itself at a chosen point: what a run killed
 * in the middle of a handover leaves behind. Bundled and started by test/integration/stale-bridge.test.ts.
 * Input (env HANDOVER_CHILD, JSON): the spec, the service account, the app password and `killAt`,
 * a pattern of the progress line after which the process dies. Progress lines go to stdout.
 */
import { handover } from '../../src/apply/handover.js';
import type { HandoverSpec } from '../../src/plan/types.js';
import { createNodeSystem } from '../../src/system/node-system.js';

const input = JSON.parse(process.env['HANDOVER_CHILD'] ?? '{}') as { spec: HandoverSpec; account: { name: string; uid: number; gid: number }; password: string; killAt: string };
await handover(input.spec, {
  system: createNodeSystem(),
  account: input.account,
  password: input.password,
  drainMs: 0,
  progress: (line) => {
    process.stdout.write(`${line}\n`);
    if (new RegExp(input.killAt).test(line)) process.kill(process.pid, 'SIGKILL');
  },
});
process.stdout.write('not killed\n');
