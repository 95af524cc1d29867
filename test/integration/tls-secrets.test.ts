/**
 * The secrets audit extended to TLS private keys: across `apply --root --tls self-signed`, its plan
 * (text and JSON), a re-issue that signs with the existing CA key, and print-django-settings, the
 * server key and the CA key never appear in a child's argv (every spawn recorded by
 * crash-preload.mjs), on stdout/stderr, or in any file under the root but their own (and their
 * backups: 0600 root in a 0700 folder). openssl's temporary folder is gone afterwards.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshotTree } from '../helpers/tree.js';
import { buildCli, makeRoot, recordFigures, runChild } from '../helpers/trust.js';

const ENV = { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: 'tls-secrets-pw-77', DBHOST: '10.0.0.20' };
const KEY_FILES = ['etc/pgbouncer/tls/server.key', 'etc/pgbouncer/tls/ca.key'];

let entry: string;
let root: string;
let trace: string;
const outputs: { what: string; text: string }[] = [];
const figures = { runs: 0, childProcessesRecorded: 0, filesScanned: 0, keysChecked: 0 };

beforeAll(async () => {
  entry = await buildCli();
  root = makeRoot('pgb-tls-secrets-');
  trace = `${root}.trace`;
  mkdirSync(`${root}.tmp`, { mode: 0o700 });
}, 60_000);

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(trace, { force: true });
  rmSync(`${root}.tmp`, { recursive: true, force: true });
  recordFigures('tls key secrets (integration/tls-secrets)', figures);
});

async function cli(what: string, args: string[]) {
  // A temporary folder of its own (TMPDIR), so what openssl leaves behind is seen and nobody else's.
  const r = await runChild(entry, args, { env: { ...ENV, TMPDIR: `${root}.tmp` }, trace });
  figures.runs++;
  outputs.push({ what: `${what} stdout`, text: r.stdout }, { what: `${what} stderr`, text: r.stderr });
  return r;
}

/** The base64 body lines of a PEM key: what a leak would carry. */
function keyLines(pem: string): string[] {
  return pem.split('\n').filter((l) => l.length >= 20 && !l.startsWith('-----'));
}

describe('TLS private keys never leave their files', () => {
  it('argv, output, plan and every other file under the root', async () => {
    const base = ['production', '--root', root, '--yes', '--tls', 'self-signed', '--allow-from', '10.0.0.0/8'];
    expect((await cli('first apply', base)).code).toBe(0);
    const firstKeys = KEY_FILES.map((f) => readFileSync(join(root, f), 'utf8'));
    // Re-issue with the existing CA: its key goes to openssl (through a private temporary file).
    unlinkSync(join(root, 'etc/pgbouncer/tls/server.crt'));
    expect((await cli('plan', [...base, '--dry-run'])).code).toBe(0);
    expect((await cli('plan json', [...base, '--dry-run', '--json'])).code).toBe(0);
    const reissue = await cli('re-issue', base);
    expect(reissue.code, reissue.stderr).toBe(0);
    expect(reissue.stderr).toMatch(/no server certificate yet/);
    expect((await cli('django', ['print-django-settings', 'production', '--tls', 'self-signed'])).code).toBe(0);
    const keys = [...firstKeys, ...KEY_FILES.map((f) => readFileSync(join(root, f), 'utf8'))];
    expect(keys[1]).toBe(keys[3]); // the CA key was kept
    const secrets = [...new Set(keys.flatMap(keyLines))];
    figures.keysChecked = keys.length;
    expect(secrets.length).toBeGreaterThan(3);
    const leaks = (text: string) => secrets.filter((s) => text.includes(s));

    const execs = readFileSync(trace, 'utf8').split('\n').filter((l) => / exec /.test(l));
    figures.childProcessesRecorded = execs.length;
    expect(execs.some((e) => e.includes('openssl'))).toBe(true);
    for (const e of execs) expect(leaks(e), e).toEqual([]);
    for (const o of outputs) expect(leaks(o.text), o.what).toEqual([]);

    const tree = snapshotTree(root);
    for (const [path, e] of Object.entries(tree)) {
      if (e.type !== 'file') continue;
      figures.filesScanned++;
      const found = leaks(readFileSync(join(root, path), 'utf8'));
      if (KEY_FILES.includes(path)) continue;
      if (found.length > 0) {
        // Only a backup of a key file may hold key material: root's, 0600, in a 0700 folder.
        expect(path, `key material in ${path}`).toMatch(/^var\/backups\/pgb-setup\/[^/]+\/(server|ca)\.key$/);
        expect(e.mode).toBe('0600');
        expect(e.uid).toBe(0);
        expect(statSync(join(root, path, '..')).mode & 0o777).toBe(0o700);
      }
    }
    // openssl's private working folders are removed.
    expect(readdirSync(`${root}.tmp`)).toEqual([]);
  }, 120_000);
});
