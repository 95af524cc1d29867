import type { Context } from '../context.js';
import { RuntimeError } from '../errors.js';

export async function runApply(_environment: string, _opts: unknown, _ctx: Context): Promise<number> {
  throw new RuntimeError('apply: not built yet');
}
