import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../helpers/proc.js';

const REPO = join(import.meta.dirname, '../../..');
const CONFIG = join(REPO, 'test/fixtures/event-loop-guard/vitest.config.ts');

/** A child vitest over one fixture, the guard's limit 1 s, the fixture's child process 2 s. */
function childVitest(fixture: string) {
  return run(process.execPath, [join(REPO, 'node_modules/vitest/vitest.mjs'), 'run', '--config', CONFIG, fixture], {
    cwd: REPO,
    env: { PGB_TEST_BLOCK_LIMIT_MS: '1000', BLOCK_SECONDS: '2', NO_COLOR: '1', CI: '1' },
    timeoutMs: 60_000,
    check: false,
  });
}

describe('test/helpers/event-loop-guard.ts', () => {
  it('fails a file that blocked its worker past the limit, and says how to fix it', async () => {
    const r = await childVitest('blocks.fixture.ts');
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/blocked its test worker for [\d.]+ s in one stretch \(limit 1 s\): run child processes asynchronously/);
  });

  it('passes a file that waits as long without blocking', async () => {
    const r = await childVitest('awaits.fixture.ts');
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });
});
