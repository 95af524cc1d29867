/**
 * Two (or more) applies at once on the same root: one holds the lock, the others refuse (exit 1,
 * naming the holder's PID) or run after it; their writes never interleave. A lock left by a killed
 * run (holder PID dead) is taken over, also when several runs race for it.
 *
 * Every child runs with the trace of test/helpers/crash-preload.mjs: one line per filesystem
 * mutation, appended with O_APPEND to one shared file, so the file's line order is the real order.
 * A run holds the lock from its successful exclusive create of .pgb-setup.lock (or link() onto it)
 * until it starts to remove it; no two such intervals may overlap, and every other write must fall in its writer's.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyScramPassword } from '../../src/auth/scram.js';
import { readAuthFileLikePgbouncer } from '../helpers/pgbouncer-model.js';
import { copyTree } from '../helpers/tree.js';
import { buildCli, makeRoot, recordFigures, startChild, type CliResult } from '../helpers/trust.js';

const ENV = { DBNAME: 'appdb', DBUSER: 'app_user', DBHOST: '10.0.0.20', DBPASS: 'concurrent-Pass-1' };
const ROUNDS = Number(process.env['PGB_TRUST_ROUNDS'] ?? 10);
const TIMEOUT = 120_000 * Math.max(1, ROUNDS / 10);
const INI = 'etc/pgbouncer/pgbouncer.ini';
const USERLIST = 'etc/pgbouncer/userlist.txt';

let entry: string;
let template: string;
let expectedIni: string;
const dirs: string[] = [];
const figures = { concurrentRuns: 0, rounds: 0, refusals: 0, staleTakeovers: 0, overlaps: 0, dataLost: 0 };

beforeAll(async () => {
  entry = await buildCli();
  template = makeRoot('pgb-trust-conc-');
  dirs.push(template);
  const probe = join(tmpdir(), `pgb-trust-conc-probe-${process.pid}`);
  dirs.push(probe);
  copyTree(template, probe);
  const { done } = startChild(entry, ['production', '--root', probe, '--yes'], { env: ENV });
  const r = await done;
  expect(r.code, r.stderr).toBe(0);
  expectedIni = readFileSync(join(probe, INI), 'utf8');
}, 60_000);

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  recordFigures('concurrency and lock (integration/trust-concurrency)', figures);
});

interface Interval {
  pid: string;
  from: number;
  to: number;
}

/** Lock intervals from a trace, and writes that fall outside their writer's interval. */
function analyse(trace: string, lock: string): { intervals: Interval[]; overlaps: string[]; strayWrites: string[] } {
  const lines = trace.split('\n').filter(Boolean).map((l) => {
    const [pid, kind, op, ...rest] = l.split(' ');
    return { pid: pid!, kind: kind!, op: op!, path: rest.join(' ') };
  });
  const intervals: Interval[] = [];
  const open = new Map<string, number>();
  // Taken: an exclusive create of the lock itself (open wx), or a link() of a private file holding
  // the PID onto it (`<lock>.<pid>.<random>` → `<lock>`). Released: the start of its removal.
  const isLockTemp = (p: string) => p.startsWith(`${lock}.`) && /^\.\d+\.[0-9a-f]+$/.test(p.slice(lock.length));
  lines.forEach((l, i) => {
    if (l.kind === 'ok' && ((l.op === 'open' && l.path === lock) || (l.op === 'link' && isLockTemp(l.path)))) open.set(l.pid, i);
    if (l.path !== lock) return;
    if (l.kind === 'begin' && l.op === 'rm' && open.has(l.pid)) {
      intervals.push({ pid: l.pid, from: open.get(l.pid)!, to: i });
      open.delete(l.pid);
    }
  });
  for (const [pid, from] of open) intervals.push({ pid, from, to: lines.length });
  const overlaps: string[] = [];
  for (const a of intervals) for (const b of intervals) if (a !== b && a.from < b.from && b.from < a.to) overlaps.push(`${b.pid} took the lock at line ${b.from + 1} while ${a.pid} held it (lines ${a.from + 1}-${a.to + 1})`);
  const strayWrites: string[] = [];
  lines.forEach((l, i) => {
    if (l.kind !== 'begin' || l.path.startsWith(lock) || l.op === 'exec') return;
    if (!intervals.some((iv) => iv.pid === l.pid && iv.from < i && i < iv.to)) strayWrites.push(`line ${i + 1}: ${l.pid} ${l.op} ${l.path} outside its lock`);
  });
  return { intervals, overlaps, strayWrites };
}

function checkFiles(root: string, what: string): void {
  const ini = readFileSync(join(root, INI), 'utf8');
  const ul = readFileSync(join(root, USERLIST), 'utf8');
  const auth = readAuthFileLikePgbouncer(ul);
  const ok = ini === expectedIni && auth.brokenAt === undefined && auth.entries.length === 1 && verifyScramPassword(auth.entries[0]!.secret, ENV.DBPASS);
  if (!ok) figures.dataLost++;
  expect(ini, what).toBe(expectedIni);
  expect(auth.entries.map((e) => e.user), `${what}\n${ul}`).toEqual([ENV.DBUSER]);
  expect(verifyScramPassword(auth.entries[0]!.secret, ENV.DBPASS)).toBe(true);
}

async function race(root: string, n: number, trace: string): Promise<CliResult[]> {
  const runs = Array.from({ length: n }, () => startChild(entry, ['production', '--root', root, '--yes'], { env: ENV, trace }));
  figures.concurrentRuns += n;
  return Promise.all(runs.map((r) => r.done));
}

function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('one apply at a time per root', () => {
  it('two applies started together: one runs, the other refuses or runs after it; writes never interleave', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const root = join(tmpdir(), `pgb-trust-race-${process.pid}-${round}`);
      const trace = `${root}.trace`;
      dirs.push(root, trace);
      copyTree(template, root);
      const results = await race(root, 2, trace);
      figures.rounds++;
      const what = `round ${round}: ${results.map((r) => `exit ${r.code}: ${r.stderr.split('\n').filter((l) => l.startsWith('pgb-setup:')).join(' ')}`).join(' / ')}`;
      for (const r of results) {
        if (r.code === 0) continue;
        expect(r.code, what).toBe(1);
        expect(r.stderr, what).toMatch(/another pgb-setup \(PID \d+\) is applying to this host/);
        figures.refusals++;
      }
      expect(results.some((r) => r.code === 0), what).toBe(true);
      const { overlaps, strayWrites } = analyse(readFileSync(trace, 'utf8'), join(root, '.pgb-setup.lock'));
      figures.overlaps += overlaps.length;
      expect(overlaps, what).toEqual([]);
      expect(strayWrites, what).toEqual([]);
      expect(existsSync(join(root, '.pgb-setup.lock')), what).toBe(false);
      checkFiles(root, what);
    }
  }, TIMEOUT);

  it('a lock whose holder is dead is taken over', async () => {
    const root = join(tmpdir(), `pgb-trust-stale-${process.pid}`);
    dirs.push(root);
    copyTree(template, root);
    writeFileSync(join(root, '.pgb-setup.lock'), `${deadPid()}\n`, { mode: 0o600 });
    const { done } = startChild(entry, ['production', '--root', root, '--yes'], { env: ENV });
    const r = await done;
    figures.concurrentRuns++;
    figures.staleTakeovers++;
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(root, '.pgb-setup.lock'))).toBe(false);
    checkFiles(root, 'stale lock');
    // An empty lock file (a holder killed between creating and writing it) counts as stale as well.
    writeFileSync(join(root, '.pgb-setup.lock'), '', { mode: 0o600 });
    const again = await startChild(entry, ['production', '--root', root, '--yes'], { env: ENV }).done;
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('nothing to do');
    figures.staleTakeovers++;
  }, 60_000);

  it('several applies racing for a stale lock: only one holds it at any time', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const root = join(tmpdir(), `pgb-trust-stale-race-${process.pid}-${round}`);
      const trace = `${root}.trace`;
      dirs.push(root, trace);
      copyTree(template, root);
      writeFileSync(join(root, '.pgb-setup.lock'), `${deadPid()}\n`, { mode: 0o600 });
      const results = await race(root, 4, trace);
      figures.rounds++;
      figures.staleTakeovers++;
      const what = `stale-lock round ${round}: ${results.map((r) => `exit ${r.code}`).join(', ')}`;
      for (const r of results) {
        if (r.code !== 0) {
          expect(r.code, `${what}\n${r.stderr}`).toBe(1);
          expect(r.stderr).toMatch(/another pgb-setup \(PID \d+\) is applying to this host|could not take the lock/);
          figures.refusals++;
        }
      }
      const { overlaps, strayWrites } = analyse(readFileSync(trace, 'utf8'), join(root, '.pgb-setup.lock'));
      figures.overlaps += overlaps.length;
      expect(overlaps, what).toEqual([]);
      expect(strayWrites, what).toEqual([]);
      expect(results.some((r) => r.code === 0), what).toBe(true);
      checkFiles(root, what);
    }
  }, TIMEOUT);
});
