/**
 * The interactive path, as a person sees it: in a real terminal (tmux), missing values are asked
 * for, the password is masked on screen, and the plan on stdout holds no secret.
 */
import { execFileSync } from 'node:child_process';
import { run } from '../helpers/proc.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '../../bin/pgb-setup.js');
const SESSION = `pgb-prompt-${process.pid}`;
let dir: string;

const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });
const screen = () => tmux('capture-pane', '-p', '-t', SESSION);

async function waitFor(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = screen();
    if (pattern.test(s) || Date.now() > deadline) return s;
    await sleep(100);
  }
}

beforeAll(async () => {
  await run('bash', ['-c', 'command -v tmux >/dev/null || (apt-get -o DPkg::Lock::Timeout=600 update -q && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-upgrade tmux)']);
  dir = mkdtempSync(join(tmpdir(), 'pgb-prompt-'));
});

afterAll(() => {
  try {
    tmux('kill-session', '-t', SESSION);
  } catch {
    // already gone
  }
  rmSync(dir, { recursive: true, force: true });
});

it('asks for DBUSER and a masked DBPASS on a terminal, then prints the plan without the secret', async () => {
  const out = join(dir, 'plan.txt');
  const command = `env -u DBUSER -u DBPASS DBNAME=app DBHOST=127.0.0.1 ${process.execPath} ${BIN} development --dry-run --skip-firewall > ${out}; echo "exit=$?" >> ${out}; sleep 30`;
  tmux('new-session', '-d', '-s', SESSION, '-x', '160', '-y', '40', command);
  expect(await waitFor(/\? Database user \(DBUSER\)/)).toMatch(/\? Database user \(DBUSER\)/);
  tmux('send-keys', '-t', SESSION, 'app_user', 'Enter');
  expect(await waitFor(/\? Database password \(DBPASS\)/)).toMatch(/\? Database password \(DBPASS\)/);
  tmux('send-keys', '-t', SESSION, 'typed-secret-42', 'Enter');
  const final = await waitFor(/✔ Database password \(DBPASS\)/);
  expect(final).toMatch(/✔ Database password \(DBPASS\) \*{15}/);
  expect(final).not.toContain('typed-secret-42');
  for (let i = 0; i < 100 && !/exit=\d/.test(readFileSync(out, 'utf8')); i++) await sleep(100);
  const plan = readFileSync(out, 'utf8');
  expect(plan).toMatch(/exit=0/);
  expect(plan).toMatch(/"app_user" "\*{8}( \(new secret\))?"/);
  expect(plan).not.toContain('typed-secret-42');
  expect(plan).not.toMatch(/Database user/);
});
