/**
 * Permissions drift under --root: a userlist.txt (or pgbouncer.ini) whose content is right but whose
 * mode or owner drifted (0644, 0640, root-owned) is reported in the plan and fixed by apply (mode,
 * service user) without rewriting its content: same bytes, same inode, no backup.
 */
import { chmodSync, chownSync, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileStep, Plan } from '../../../src/plan/types.js';
import { lookupUser } from '../../helpers/proc.js';
import { snapshotTree } from '../../helpers/tree.js';
import { makeRoot, recordFigures, runInProcess } from '../../helpers/trust.js';

const ENV = { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: 'drift-Pass-1', DBHOST: '10.0.0.20' };
const USERLIST = 'etc/pgbouncer/userlist.txt';
const INI = 'etc/pgbouncer/pgbouncer.ini';
let root: string;
let cases = 0;

beforeAll(async () => {
  root = makeRoot('pgb-trust-drift-');
  const r = await runInProcess(['production', '--root', root, '--yes'], ENV);
  expect(r.code, r.stderr).toBe(0);
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  recordFigures('permissions drift (unit/trust/permissions-drift)', { cases });
});

const postgres = () => lookupUser('postgres');
// The service user is read from the live host even under --root (getent): Debian's is postgres.
const hasPostgres = existsSync('/etc/passwd') && /^postgres:/m.test(readFileSync('/etc/passwd', 'utf8'));

describe.skipIf(!hasPostgres || process.getuid?.() !== 0).each([
  { name: 'userlist.txt world-readable (0644)', file: USERLIST, mode: 0o644, owner: 'postgres', note: /userlist\.txt was readable by every user \(mode 0644\): set to 0600/ },
  { name: 'userlist.txt group-readable (0640)', file: USERLIST, mode: 0o640, owner: 'postgres', note: /userlist\.txt was readable by its group \(mode 0640\): set to 0600/ },
  { name: 'userlist.txt owned by root (0600)', file: USERLIST, mode: 0o600, owner: 'root', note: undefined },
  { name: 'userlist.txt world-readable and owned by root', file: USERLIST, mode: 0o644, owner: 'root', note: /readable by every user/ },
  { name: 'pgbouncer.ini owned by root, 0644', file: INI, mode: 0o644, owner: 'root', note: undefined },
])('$name', ({ file, mode, owner, note }) => {
  it('is reported in the plan and fixed by apply without rewriting the content', async () => {
    cases++;
    const path = join(root, file);
    const before = readFileSync(path);
    const inode = statSync(path).ino;
    chmodSync(path, mode);
    chownSync(path, owner === 'root' ? 0 : postgres().uid, owner === 'root' ? 0 : postgres().gid);

    const plan = await runInProcess(['production', '--root', root, '--dry-run', '--json'], ENV);
    expect(plan.code, plan.stderr).toBe(0);
    const p = JSON.parse(plan.stdout) as Plan;
    const step = p.steps.find((s): s is FileStep => s.kind === 'file' && s.path === `/${file}`)!;
    expect(step.action).toBe('fix-permissions');
    expect(step.mode).toBe(file === USERLIST ? 0o600 : 0o640);
    expect(step.uid).toBe(postgres().uid);
    expect(p.steps.filter((s) => s.kind === 'backup')).toEqual([]);
    if (note) expect(p.notes.join('\n')).toMatch(note);
    const text = await runInProcess(['production', '--root', root, '--dry-run'], ENV);
    expect(text.stdout).toMatch(new RegExp(`~ file /${file.replaceAll('.', '\\.')} 0${file === USERLIST ? '600' : '640'} postgres:postgres \\(fix-permissions`));

    const backupsBefore = Object.keys(snapshotTree(root)).filter((k) => k.startsWith('var/backups'));
    const r = await runInProcess(['production', '--root', root, '--yes'], ENV);
    expect(r.code, r.stderr).toBe(0);
    const st = statSync(path);
    expect(st.mode & 0o7777).toBe(file === USERLIST ? 0o600 : 0o640);
    expect([st.uid, st.gid]).toEqual([postgres().uid, postgres().gid]);
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(st.ino, 'the file was rewritten instead of chmod/chown').toBe(inode);
    expect(Object.keys(snapshotTree(root)).filter((k) => k.startsWith('var/backups'))).toEqual(backupsBefore);

    const again = await runInProcess(['production', '--root', root, '--yes'], ENV);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('nothing to do');
  });
});
