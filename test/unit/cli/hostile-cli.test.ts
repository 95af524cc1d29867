/**
 * Issue #11, hostile CLI and profile input: each case found by hand, kept as a regression test.
 * In-process (milliseconds each); the bin as a child process where Node.js itself is involved.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli.js';
import { captureContext } from '../../helpers/context.js';

const ENV = { DBNAME: 'app', DBUSER: 'app_user', DBPASS: 'pw-never-printed', DBHOST: '127.0.0.1', PATH: '/nonexistent' };

async function run(args: string[], env: Record<string, string> = ENV, extra: Parameters<typeof captureContext>[0] = {}) {
  const ctx = captureContext({ env, ...extra });
  const code = await main(['node', 'pgb-setup', ...args], ctx);
  return { code, out: ctx.out(), err: ctx.err() };
}

function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'pgb-hostile-cli-'));
}

function profile(dir: string, text: string, name = 'p.json'): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Every line of stderr is pgb-setup's own, printable, and said once. */
function expectCleanLines(err: string): string[] {
  const lines = err.replace(/\n$/, '').split('\n');
  for (const l of lines) {
    expect(l).toMatch(/^(pgb-setup: |error: |\(run pgb-setup --help)/);
    // eslint-disable-next-line no-control-regex
    expect(l).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
  }
  expect(new Set(lines).size).toBe(lines.length);
  return lines;
}

describe('#11.12 the argument parser never echoes an option value', () => {
  it.each([
    ['hash-user', 'bob', '--password=SECRET-1'],
    ['render', 'production', '--out', '/tmp/x', "--token=SE'CR\nET-1"],
    ['hash-user', 'bob', '-pSECRET-1'],
    ['hash-user', 'bob', '--method=SECRET-1'],
    ['print-django-settings', 'production', '--engine', 'SECRET-1'],
  ])('%s %s %s', async (...args) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.err).not.toMatch(/SECRET|CR|ET-1/);
    expect(r.err).toMatch(/unknown option '(--password|--token|-p)'|argument is invalid/);
    expectCleanLines(r.err);
  });
});

describe('#11.15 errors are printable and said once', () => {
  it('an unknown profile key with a line break and ESC cannot fake a line or move the cursor', async () => {
    const dir = scratch();
    const p = profile(dir, JSON.stringify({ 'a\npgb-setup: all good\u001b[2J': 1 }));
    const r = await run(['render', 'production', '--out', join(dir, 'o'), '--profile', p, '--pgbouncer-version', '1.18']);
    expect(r.code).toBe(2);
    const lines = expectCleanLines(r.err);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('\\u000apgb-setup: all good\\u001b[2J: unknown key');
  });

  it('a --set key with ESC is escaped', async () => {
    const r = await run(['config', 'production', '--set', 'x\u001b]0;title\u0007=1']);
    expect(r.code).toBe(2);
    expectCleanLines(r.err);
    expect(r.err).toContain('\\u001b]0;title\\u0007');
  });
});
