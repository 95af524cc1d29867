import { main } from '../../src/cli.js';
import type { CapturedContext } from './context.js';

/**
 * main() for a run that takes the host lock for real: /run/pgb-setup.lock is not behind System, so
 * another test file applying to a fake host at the same moment holds it. Wait for it, as a user
 * would, instead of failing.
 */
export async function mainWaitingForLock(argv: string[], make: () => CapturedContext): Promise<{ code: number; ctx: CapturedContext }> {
  for (let attempt = 0; ; attempt++) {
    const ctx = make();
    const code = await main(['node', 'pgb-setup', ...argv], ctx);
    if (code !== 1 || !/another pgb-setup \(PID \d+\) is applying to this host/.test(ctx.err()) || attempt > 120) return { code, ctx };
    await new Promise((r) => setTimeout(r, 250));
  }
}
