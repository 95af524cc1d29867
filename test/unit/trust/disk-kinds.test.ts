/**
 * Property tests for what pgb-setup finds on disk (#17, "How it is checked"):
 *
 * 1. Files of every kind where a managed file, the lock, a pidfile, the backups folder, a backup,
 *    its manifest or a backed-up copy is expected: regular, directory (or a file where a folder is
 *    expected), FIFO, character device, symlink inside the root, symlink out of the root, dangling
 *    symlink, huge, wrong owner, wrong mode. The whole cross product is run (apply, --dry-run,
 *    verify, rollback, rollback --list as they apply), and for every case:
 *      - the run ends (no hang on a FIFO), with exit 0, 1 or 2 and no stack trace; a failure is one line;
 *      - nothing outside the root is read into the output or the root, or changed;
 *      - a failed run changes nothing under the root;
 *      - no regular file under the root is setuid/setgid, and the managed files belong to the service user
 *        or root, never to the account that owned a planted file.
 * 2. Bytes that are not UTF-8 in every file pgb-setup rewrites: other users' userlist.txt lines
 *    (apply and hash-user) and a whole pgbouncer.ini (its backup) keep their exact bytes.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pidFromFile } from '../../../src/system/pgbouncer-process.js';
import { PgbSetupError } from '../../../src/text/errors.js';
import { createNodeSystem } from '../../../src/system/node-system.js';
import { copyTree, snapshotTree } from '../../helpers/tree.js';
import { makeRoot, recordFigures, runInProcess, type CliResult } from '../../helpers/trust.js';

const ENV = { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: 'kinds-Pass-1', DBHOST: '10.0.0.20' };
const FLAGS = ['--skip-install', '--skip-service', '--skip-firewall'];
const SECRET = 'OUTSIDE-SECRET-never-to-be-shown';
const BACKUPS = 'var/backups/pgb-setup';
const asRoot = process.getuid?.() === 0;
const NOBODY = 65534;

let base: string;
let stamp: string;
let outsideDir: string;
let outsideSnapshot: ReturnType<typeof snapshotTree>;
const figures = { cases: 0, runs: 0, refused: 0, succeeded: 0, bytesCases: 0 };

beforeAll(async () => {
  base = makeRoot('pgb-kinds-base-');
  expect((await runInProcess(['production', '--root', base, '--yes', ...FLAGS], ENV)).code).toBe(0);
  const second = await runInProcess(['production', '--root', base, '--yes', ...FLAGS], { ...ENV, DBPASS: 'kinds-Pass-2' });
  expect(second.code, second.stderr).toBe(0);
  stamp = readdirSync(join(base, BACKUPS))[0]!;
  outsideDir = mkdtempSync(join(tmpdir(), 'pgb-kinds-outside-'));
  writeFileSync(join(outsideDir, 'secret.txt'), `${SECRET}\n[pgbouncer]\nauth_type = trust\n"attacker" "pw"\n`);
  mkdirSync(join(outsideDir, 'dir'));
  outsideSnapshot = snapshotTree(outsideDir);
}, 60_000);

afterAll(() => {
  for (const d of [base, outsideDir]) if (d) rmSync(d, { recursive: true, force: true });
  recordFigures('files of every kind (unit/trust/disk-kinds)', figures);
});

type Command = 'apply' | 'dry-run' | 'verify' | 'rollback' | 'rollback --list';
interface Location {
  name: string;
  path: () => string;
  folder: boolean;
  commands: Command[];
}

const LOCATIONS: Location[] = [
  { name: 'pgbouncer.ini', path: () => 'etc/pgbouncer/pgbouncer.ini', folder: false, commands: ['apply', 'dry-run', 'verify'] },
  { name: 'userlist.txt', path: () => 'etc/pgbouncer/userlist.txt', folder: false, commands: ['apply', 'dry-run', 'verify'] },
  { name: 'logfile', path: () => 'var/log/postgresql/pgbouncer.log', folder: false, commands: ['apply'] },
  { name: 'lock', path: () => '.pgb-setup.lock', folder: false, commands: ['apply'] },
  { name: 'backups folder', path: () => BACKUPS, folder: true, commands: ['rollback', 'rollback --list'] },
  { name: 'backup folder', path: () => `${BACKUPS}/${stamp}`, folder: true, commands: ['rollback', 'rollback --list'] },
  { name: 'manifest.json', path: () => `${BACKUPS}/${stamp}/manifest.json`, folder: false, commands: ['rollback', 'rollback --list'] },
  { name: 'backed-up copy', path: () => `${BACKUPS}/${stamp}/userlist.txt`, folder: false, commands: ['rollback'] },
];

type Kind = 'regular' | 'directory' | 'fifo' | 'device' | 'symlink-in' | 'symlink-out' | 'dangling' | 'huge' | 'wrong-owner' | 'wrong-mode';
const KINDS: Kind[] = ['regular', 'directory', 'fifo', 'device', 'symlink-in', 'symlink-out', 'dangling', 'huge', 'wrong-owner', 'wrong-mode'];

/** Puts `kind` at `rel` under root `r`; false when it does not apply (huge folder, a device without root). */
function plant(r: string, rel: string, folder: boolean, kind: Kind): boolean {
  const abs = join(r, rel);
  const existed = existsSync(abs) || isLink(abs);
  const replace = () => rmSync(abs, { recursive: true, force: true });
  mkdirSync(join(abs, '..'), { recursive: true });
  switch (kind) {
    case 'regular':
      if (!existed) writeFileSync(abs, folder ? '' : '999999999\n');
      return true;
    case 'directory':
      replace();
      if (folder) writeFileSync(abs, 'a file where a folder is expected\n');
      else mkdirSync(abs);
      return true;
    case 'fifo':
      replace();
      execFileSync('mkfifo', [abs]);
      return true;
    case 'device':
      if (!asRoot) return false;
      replace();
      execFileSync('mknod', [abs, 'c', '1', '3']);
      return true;
    case 'symlink-in': {
      const inside = join(r, 'etc/other-file');
      mkdirSync(join(r, 'etc'), { recursive: true });
      writeFileSync(inside, 'inside the root\n');
      replace();
      symlinkSync(folder ? join(r, 'etc') : inside, abs);
      return true;
    }
    case 'symlink-out':
      replace();
      symlinkSync(folder ? join(outsideDir, 'dir') : join(outsideDir, 'secret.txt'), abs);
      return true;
    case 'dangling':
      replace();
      symlinkSync(join(r, 'no/such/thing'), abs);
      return true;
    case 'huge':
      if (folder) return false;
      replace();
      execFileSync('truncate', ['-s', '100M', abs]);
      return true;
    case 'wrong-owner':
      if (!asRoot) return false;
      if (!existed) writeFileSync(abs, '999999999\n');
      chownSync(abs, NOBODY, NOBODY);
      return true;
    case 'wrong-mode':
      if (!existed) writeFileSync(abs, '999999999\n');
      chmodSync(abs, folder ? 0o777 : 0o666);
      return true;
  }
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

function argsFor(command: Command, r: string): string[] {
  switch (command) {
    case 'apply': return ['production', '--root', r, '--yes', ...FLAGS];
    case 'dry-run': return ['production', '--root', r, '--dry-run', ...FLAGS];
    case 'verify': return ['verify', 'production', '--root', r];
    case 'rollback': return ['rollback', '--root', r];
    case 'rollback --list': return ['rollback', '--root', r, '--list'];
  }
}

async function bounded(p: Promise<CliResult>, ms: number, what: string): Promise<CliResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: still running after ${ms} ms (a hang)`)), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Every regular file under root that holds the outside secret (links are not followed). */
function leaked(r: string): string[] {
  return Object.entries(snapshotTree(r))
    .filter(([, e]) => e.type === 'file' && (e.size ?? 0) < 1024 * 1024)
    .map(([p]) => p)
    .filter((p) => readFileSync(join(r, p)).includes(SECRET));
}

function checkNoPrivilege(r: string): void {
  for (const [p, e] of Object.entries(snapshotTree(r))) {
    // (Folders pgbouncer writes into are 2775 by design: setgid on a folder only passes its group on.)
    if (e.type === 'file') expect(parseInt(e.mode, 8) & 0o6000, `${p} is setuid/setgid`).toBe(0);
  }
}

describe.each(LOCATIONS)('$name: a file of every kind', (loc) => {
  it.each(KINDS)('%s', async (kind) => {
    const work = join(tmpdir(), `pgb-kinds-${process.pid}-${loc.name.replaceAll(/\W/g, '')}-${kind}`);
    try {
      for (const command of loc.commands) {
        copyTree(base, work);
        if (!plant(work, loc.path(), loc.folder, kind)) return;
        figures.runs++;
        const before = snapshotTree(work);
        const r = await bounded(runInProcess(argsFor(command, work), ENV), 15_000, `${command} with ${kind} as ${loc.name}`);
        const what = `${command} with ${kind} as ${loc.name}: exit ${r.code}\n${r.stderr.slice(0, 600)}`;
        expect([0, 1, 2], what).toContain(r.code);
        expect(r.stderr, what).not.toMatch(/internal error|\n\s+at \S+ \(/);
        expect(r.stdout + r.stderr, what).not.toContain(SECRET);
        expect(leaked(work), what).toEqual([]);
        expect(snapshotTree(outsideDir), what).toEqual(outsideSnapshot);
        checkNoPrivilege(work);
        if (r.code !== 0) {
          figures.refused++;
          // verify exits 1 with its checklist on stdout when a check fails; anything else is one error line.
          if (!(command === 'verify' && /FAIL/.test(r.stdout))) {
            expect(r.stderr.trim().split('\n'), what).toHaveLength(1);
            expect(r.stderr, what).toMatch(/^pgb-setup: /);
          }
          expect(snapshotTree(work), `${what}\na failed run changed the root`).toEqual(before);
        } else {
          figures.succeeded++;
          // The managed files belong to the service user or root, never to the planted file's owner.
          for (const managed of ['etc/pgbouncer/pgbouncer.ini', 'etc/pgbouncer/userlist.txt']) {
            const st = lstatSync(join(work, managed), { throwIfNoEntry: false });
            if (st?.isFile() && command !== 'dry-run' && command !== 'verify' && command !== 'rollback --list') expect(st.uid, `${what}: ${managed}`).not.toBe(NOBODY);
          }
        }
      }
      figures.cases++;
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('pidfile: a file of every kind', () => {
  it.each(KINDS.filter((k) => k !== 'symlink-out'))('%s: read without a hang, a PID or a one-line refusal', async (kind) => {
    const work = mkdtempSync(join(tmpdir(), 'pgb-kinds-pid-'));
    try {
      if (!plant(work, 'run/pgbouncer.pid', false, kind)) return;
      const system = createNodeSystem({ root: work });
      const started = Date.now();
      const result = await pidFromFile(system, '/run/pgbouncer.pid').then(
        (pid) => ({ pid }),
        (e: unknown) => ({ error: e }),
      );
      expect(Date.now() - started).toBeLessThan(5000);
      if ('error' in result) {
        expect(result.error).toBeInstanceOf(PgbSetupError);
        expect((result.error as Error).message.split('\n')).toHaveLength(1);
      } else {
        expect(result.pid === undefined || Number.isInteger(result.pid)).toBe(true);
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});

// ---- bytes that are not UTF-8 -----------------------------------------------------------------

/** A byte string that can sit inside a quoted userlist field: no `"`, newline, CR or NUL. */
const fieldBytes = fc.uint8Array({ minLength: 1, maxLength: 24 }).map((a) => Buffer.from(a.map((b) => (b === 0x22 || b === 0x0a || b === 0x0d || b === 0 ? 0xe9 : b))));
const commentBytes = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a.map((b) => (b === 0x0a || b === 0 ? 0xff : b))));
const foreignLine = fc.oneof(
  fc.tuple(fieldBytes, fieldBytes, commentBytes).map(([u, s, c]) => Buffer.concat([Buffer.from('"'), u.subarray(0, 100), Buffer.from('" "'), s, Buffer.from('"  ;'), c])),
  commentBytes.map((c) => Buffer.concat([Buffer.from(';'), c])),
);

describe('bytes that are not UTF-8 in every file pgb-setup rewrites', () => {
  it('userlist.txt (apply): every other line, and the backup, keep their exact bytes', async () => {
    const work = join(tmpdir(), `pgb-kinds-bytes-${process.pid}`);
    let n = 0;
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(foreignLine, { minLength: 1, maxLength: 6 }), async (lines) => {
          copyTree(base, work);
          const ul = join(work, 'etc/pgbouncer/userlist.txt');
          const foreign = Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')]));
          const before = Buffer.concat([readFileSync(ul), foreign]);
          writeFileSync(ul, before);
          rmSync(join(work, BACKUPS), { recursive: true, force: true });
          const r = await runInProcess(['production', '--root', work, '--yes', ...FLAGS], { ...ENV, DBPASS: `bytes-Pass-${++n}` });
          expect(r.code, r.stderr).toBe(0);
          const after = readFileSync(ul);
          expect(after.includes(foreign), 'other users\' lines were re-encoded').toBe(true);
          const [s] = readdirSync(join(work, BACKUPS));
          expect(readFileSync(join(work, BACKUPS, s!, 'userlist.txt')).equals(before)).toBe(true);
          figures.bytesCases++;
        }),
        { numRuns: Number(process.env['PGB_TRUST_RUNS'] ?? 1) * 25 },
      );
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 120_000);

  it('userlist.txt (hash-user --userlist): every other line keeps its exact bytes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgb-kinds-hash-'));
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(foreignLine, { minLength: 1, maxLength: 6 }), async (lines) => {
          const file = join(dir, 'userlist.txt');
          const foreign = Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')]));
          writeFileSync(file, foreign, { mode: 0o600 });
          const r = await runInProcess(['hash-user', 'zed', '--userlist', file, '--password-stdin'], {}, { readStdin: async () => 'zed-Pass-1' });
          expect(r.code, r.stderr).toBe(0);
          const after = readFileSync(file);
          expect(after.subarray(0, foreign.length).equals(foreign)).toBe(true);
          figures.bytesCases++;
        }),
        { numRuns: Number(process.env['PGB_TRUST_RUNS'] ?? 1) * 25 },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('pgbouncer.ini of any bytes: replaced, and backed up with identical bytes', async () => {
    const work = join(tmpdir(), `pgb-kinds-ini-${process.pid}`);
    try {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 4096 }), async (bytes) => {
          copyTree(base, work);
          rmSync(join(work, BACKUPS), { recursive: true, force: true });
          const ini = join(work, 'etc/pgbouncer/pgbouncer.ini');
          writeFileSync(ini, bytes);
          const r = await runInProcess(['production', '--root', work, '--yes', ...FLAGS], ENV);
          expect(r.code, r.stderr).toBe(0);
          const [s] = readdirSync(join(work, BACKUPS));
          expect(readFileSync(join(work, BACKUPS, s!, 'pgbouncer.ini')).equals(Buffer.from(bytes))).toBe(true);
          figures.bytesCases++;
        }),
        { numRuns: Number(process.env['PGB_TRUST_RUNS'] ?? 1) * 25 },
      );
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 120_000);
});
