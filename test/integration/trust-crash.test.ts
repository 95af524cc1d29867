/**
 * Crash safety of the main job: `pgb-setup production --root DIR --yes` runs as a real child process
 * (the current src/ bundled like `npm run build`) and is killed with SIGKILL
 *
 *  - at every filesystem mutation it makes, one run per point (deterministic: the preload
 *    test/helpers/crash-preload.mjs kills the process just before its n-th mutation), and
 *  - after a random delay (0-30 ms) from its first write,
 *
 * for two scenarios: a fresh host, and an update of an existing install (new password, a changed
 * setting, another user's line in userlist.txt that must survive). After every kill:
 *  - each managed file is absent (fresh host only), the complete old version or the complete new
 *    one; never partial or empty; userlist.txt is never readable by group or others;
 *  - every backup file is a complete copy of an old file, mode 0600, in a 0700 folder;
 *  - no temp file is group/world-readable, except a pgbouncer.ini (or empty log) temp with exactly
 *    the mode the target has (0640 postgres:postgres), which only exists between its chmod and rename;
 *  - the next run finishes the job (exit 0, files new, no temp file of a managed file left) and the
 *    one after says nothing to do.
 */
import { readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyScramPassword } from '../../src/auth/scram.js';
import { readAuthFileLikePgbouncer } from '../helpers/pgbouncer-model.js';
import { copyTree, snapshotTree, tempFiles } from '../helpers/tree.js';
import { buildCli, makeRoot, recordFigures, runChild, runInProcess, startChild } from '../helpers/trust.js';

const INI = 'etc/pgbouncer/pgbouncer.ini';
const USERLIST = 'etc/pgbouncer/userlist.txt';
const BASE_ENV = { DBNAME: 'appdb', DBUSER: 'app_user', DBHOST: '10.0.0.20' };
const OLD_PASS = 'old-Password-1';
const NEW_PASS = 'new-Password-2';
const OTHER_LINE = '"reporting" "md545f2603610af569b6155c45067268c6b"';
const RANDOM_KILLS = Number(process.env['PGB_TRUST_RANDOM_KILLS'] ?? 12);

interface Scenario {
  name: string;
  template: string;
  args: string[];
  old: { ini?: string; userlist?: string };
  newIni?: string;
  mutations?: number;
}

let entry: string;
const scenarios: Scenario[] = [];
const figures = { deterministicKills: 0, randomKills: 0, killsLandedMidRun: 0, recoveries: 0, dataLost: 0 };
const dirs: string[] = [];

function freshRoot(): string {
  const d = makeRoot('pgb-trust-crash-');
  dirs.push(d);
  return d;
}

const run = (root: string, args: string[], extra: { crashAt?: number; countFile?: string } = {}) =>
  runChild(entry, ['production', '--root', root, '--yes', ...args], { env: { ...BASE_ENV, DBPASS: NEW_PASS }, ...extra });

beforeAll(async () => {
  entry = await buildCli();
  // Fresh host: nothing but /etc/os-release.
  const fresh = freshRoot();
  scenarios.push({ name: 'fresh host', template: fresh, args: [], old: {} });
  // Existing install: applied once with the old password, plus another user's line.
  const installed = freshRoot();
  const first = await runChild(entry, ['production', '--root', installed, '--yes'], { env: { ...BASE_ENV, DBPASS: OLD_PASS } });
  expect(first.code, first.stderr).toBe(0);
  writeFileSync(join(installed, USERLIST), `${readFileSync(join(installed, USERLIST), 'utf8')}${OTHER_LINE}\n`);
  scenarios.push({
    name: 'update of an existing install',
    template: installed,
    args: ['--set', 'default_pool_size=40'],
    old: { ini: readFileSync(join(installed, INI), 'utf8'), userlist: readFileSync(join(installed, USERLIST), 'utf8') },
  });
  // One clean run of each scenario: how many mutations it makes, and the new pgbouncer.ini.
  for (const s of scenarios) {
    const root = join(tmpdir(), `pgb-trust-count-${process.pid}-${scenarios.indexOf(s)}`);
    dirs.push(root);
    copyTree(s.template, root);
    const countFile = join(root, '..', `${root.split('/').pop()}.count`);
    dirs.push(countFile);
    const r = await run(root, s.args, { countFile });
    expect(r.code, r.stderr).toBe(0);
    s.mutations = Number(readFileSync(countFile, 'utf8'));
    s.newIni = readFileSync(join(root, INI), 'utf8');
    expect(s.mutations).toBeGreaterThan(10);
  }
}, 120_000);

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  recordFigures('crash safety (integration/trust-crash)', {
    kills: figures.deterministicKills + figures.randomKills,
    deterministicKills: figures.deterministicKills,
    randomKills: figures.randomKills,
    killsLandedMidRun: figures.killsLandedMidRun,
    ...Object.fromEntries(scenarios.map((s, i) => [`mutationPoints${i}`, s.mutations ?? 0])),
    recoveries: figures.recoveries,
    dataLost: figures.dataLost,
  });
});

function isNewUserlist(text: string, s: Scenario): boolean {
  const auth = readAuthFileLikePgbouncer(text);
  if (auth.brokenAt !== undefined) return false;
  const mine = auth.entries.filter((e) => e.user === BASE_ENV.DBUSER);
  if (mine.length !== 1 || !verifyScramPassword(mine[0]!.secret, NEW_PASS)) return false;
  // Another user's line survives byte for byte.
  return s.old.userlist === undefined || text.split('\n').includes(OTHER_LINE);
}

/** The state a kill may leave: checked after every kill. */
function checkAfterKill(root: string, s: Scenario, what: string): void {
  const ini = existsSync(join(root, INI)) ? readFileSync(join(root, INI), 'utf8') : undefined;
  const ul = existsSync(join(root, USERLIST)) ? readFileSync(join(root, USERLIST), 'utf8') : undefined;
  const iniOk = ini === undefined ? s.old.ini === undefined : ini === s.old.ini || ini === s.newIni;
  const ulOk = ul === undefined ? s.old.userlist === undefined : ul === s.old.userlist || isNewUserlist(ul, s);
  if (!iniOk || !ulOk) figures.dataLost++;
  expect(iniOk, `${what}: pgbouncer.ini is neither the old nor the new file:\n${ini}`).toBe(true);
  expect(ulOk, `${what}: userlist.txt is neither the old nor the new file:\n${ul}`).toBe(true);
  if (ul !== undefined) expect(statSync(join(root, USERLIST)).mode & 0o077, `${what}: userlist.txt mode`).toBe(0);
  // Backups: complete copies of old files, 0600, in 0700 folders.
  const tree = snapshotTree(root);
  for (const [path, e] of Object.entries(tree)) {
    if (!path.startsWith('var/backups/pgb-setup/')) continue;
    const name = path.split('/').pop()!;
    if (e.type === 'dir') expect(e.mode, `${what}: ${path}`).toBe('0700');
    else if (name === 'pgbouncer.ini' || name === 'userlist.txt') {
      expect(e.mode, `${what}: ${path}`).toBe('0600');
      const content = readFileSync(join(root, path), 'utf8');
      expect(content === (name === 'pgbouncer.ini' ? s.old.ini : s.old.userlist), `${what}: backup ${path} is not a whole copy of the old file`).toBe(true);
    }
  }
  // A backup rollback would read always has its manifest: a half-filled one is under a hidden name.
  for (const [path, e] of Object.entries(tree)) {
    if (e.type === 'dir' && /^var\/backups\/pgb-setup\/[^/.][^/]*$/.test(path)) {
      expect(tree[`${path}/manifest.json`]?.type, `${what}: backup ${path} without manifest.json blocks rollback`).toBe('file');
    }
  }
  // Temp files: never more readable than their target.
  for (const t of tempFiles(root)) {
    const target = t.path.split('/').pop()!.replace(/^\./, '').replace(/\.\d+\.[0-9a-f]{12}\.tmp$/, '');
    const wide = t.mode & 0o077;
    // pgbouncer.ini and the (empty) log are 0640 postgres:postgres as targets; the secret userlist
    // and backups are 0600, and so must be every temp file of theirs.
    const allowed = (target === 'pgbouncer.ini' || target === 'pgbouncer.log') && !t.path.startsWith('var/backups/') ? 0o040 : 0;
    expect(wide & ~allowed, `${what}: temp file ${t.path} mode ${t.mode.toString(8)}`).toBe(0);
  }
}

/** The next run finishes the job; the one after has nothing to do. */
async function checkRecovery(root: string, s: Scenario, what: string): Promise<void> {
  const r = await run(root, s.args);
  expect(r.code, `${what}: recovery run failed:\n${r.stderr}`).toBe(0);
  expect(readFileSync(join(root, INI), 'utf8')).toBe(s.newIni);
  expect(isNewUserlist(readFileSync(join(root, USERLIST), 'utf8'), s), `${what}: userlist.txt after recovery`).toBe(true);
  expect(statSync(join(root, USERLIST)).mode & 0o7777).toBe(0o600);
  // No temp file is left, not even in the backups (a half-filled backup folder is removed).
  expect(tempFiles(root), what).toEqual([]);
  expect(existsSync(join(root, '.pgb-setup.lock')), `${what}: lock left behind`).toBe(false);
  expect(Object.keys(snapshotTree(root)).filter((p) => p.includes('/.partial-')), `${what}: half-filled backup left`).toEqual([]);
  const list = await runInProcess(['rollback', '--root', root, '--list', '--json']);
  expect((JSON.parse(list.stdout) as { problem?: string }[]).filter((b) => b.problem), `${what}: rollback --list`).toEqual([]);
  const again = await run(root, s.args);
  expect(again.code, again.stderr).toBe(0);
  expect(again.stderr, what).toContain('nothing to do');
  figures.recoveries++;
}

async function inPool<T>(items: T[], width: number, fn: (item: T, slot: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async (_, slot) => {
      while (next < items.length) await fn(items[next++]!, slot);
    }),
  );
}

describe('SIGKILL at any point leaves the old or the new files, and the next run finishes the job', () => {
  it.each([0, 1])('scenario %i: a kill before every filesystem mutation', async (index) => {
    const s = scenarios[index]!;
    const points = Array.from({ length: s.mutations! }, (_, i) => i + 1);
    await inPool(points, 2, async (n, slot) => {
      const root = join(tmpdir(), `pgb-trust-kill-${process.pid}-${index}-${slot}`);
      if (!dirs.includes(root)) dirs.push(root);
      copyTree(s.template, root);
      const r = await run(root, s.args, { crashAt: n });
      const what = `${s.name}, killed before mutation ${n}/${s.mutations}`;
      expect(r.signal, `${what}: not killed (exit ${r.code}):\n${r.stderr}`).toBe('SIGKILL');
      figures.deterministicKills++;
      figures.killsLandedMidRun++;
      checkAfterKill(root, s, what);
      await checkRecovery(root, s, what);
    });
  }, 180_000);

  it.each([0, 1])('scenario %i: kills after random delays', async (index) => {
    const s = scenarios[index]!;
    // A random delay counted from the run's first write (the lock), so that the kills land among
    // the writes (about 10-30 ms of a 150 ms run) rather than during start-up; a few land after.
    const delays = Array.from({ length: RANDOM_KILLS }, () => Math.random() * 30);
    await inPool(delays, 2, async (delay, slot) => {
      const root = join(tmpdir(), `pgb-trust-rkill-${process.pid}-${index}-${slot}`);
      if (!dirs.includes(root)) dirs.push(root);
      copyTree(s.template, root);
      const trace = `${root}.trace`;
      rmSync(trace, { force: true });
      dirs.push(trace);
      const { child, done } = startChild(entry, ['production', '--root', root, '--yes', ...s.args], { env: { ...BASE_ENV, DBPASS: NEW_PASS }, trace });
      for (let waited = 0; waited < 10_000 && !(existsSync(trace) && readFileSync(trace, 'utf8').includes(' begin ')); waited += 1) await sleep(1);
      await sleep(delay);
      child.kill('SIGKILL');
      const r = await done;
      figures.randomKills++;
      const mutated = existsSync(trace) && / ok /.test(readFileSync(trace, 'utf8'));
      if (r.signal === 'SIGKILL' && mutated) figures.killsLandedMidRun++;
      const what = `${s.name}, killed ${delay.toFixed(1)} ms after its first write`;
      checkAfterKill(root, s, what);
      await checkRecovery(root, s, what);
    });
  }, 120_000 * Math.max(1, RANDOM_KILLS / 12));
});
