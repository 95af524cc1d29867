/**
 * --tls-cert/--tls-key/--tls-ca with the user's own files, under --root: bad input is one line
 * naming the option, exit 2, and nothing under the root changes; good files are copied in with
 * the modes pgb-setup gives them; your own certificate near expiry is warned about, not renewed.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRoot, runInProcess } from '../helpers/trust.js';
import { snapshotTree } from '../helpers/tree.js';

const FIX = join(import.meta.dirname, '../fixtures/tls');
const ENV = { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: 'options-test-pw-1', DBHOST: '10.0.0.20' };
let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'pgb-tls-opts-'));
  // A certificate 12 days from expiry, signed by the fixture CA.
  writeFileSync(join(work, 'ext'), 'subjectAltName=DNS:db.example.test\n');
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(work, 'soon.key'), '-out', join(work, 'soon.csr'), '-subj', '/CN=db.example.test'], { stdio: 'pipe' });
  execFileSync('openssl', ['x509', '-req', '-in', join(work, 'soon.csr'), '-CA', join(FIX, 'ca.crt'), '-CAkey', join(FIX, 'ca.key'), '-set_serial', '7', '-days', '12', '-extfile', join(work, 'ext'), '-out', join(work, 'soon.crt')], { stdio: 'pipe' });
  writeFileSync(join(work, 'encrypted.key'), execFileSync('openssl', ['pkey', '-in', join(FIX, 'server.key'), '-aes256', '-passout', 'pass:x']));
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

async function applyOwn(root: string, files: string[]) {
  return runInProcess(['production', '--root', root, '--yes', '--pgbouncer-version', '1.18', '--skip-firewall', ...files], ENV);
}

describe('your own certificate: validated before anything changes', () => {
  const bad: [string, string[], RegExp][] = [
    ['a missing certificate', ['--tls-cert', '/nonexistent/server.crt', '--tls-key', join(FIX, 'server.key')], /^pgb-setup: --tls-cert: \/nonexistent\/server\.crt does not exist; name a readable PEM file$/],
    ['a key that is not the certificate\'s', ['--tls-cert', join(FIX, 'server.crt'), '--tls-key', join(FIX, 'other.key')], /^pgb-setup: --tls-key: .*other\.key does not belong to the certificate \(its public key differs\)$/],
    ['a key file that holds a certificate', ['--tls-cert', join(FIX, 'server.crt'), '--tls-key', join(FIX, 'ca.crt')], /^pgb-setup: --tls-key: .* holds no PEM private key/],
    ['an encrypted key', ['--tls-cert', join(FIX, 'server.crt'), '--tls-key', '@ENC'], /^pgb-setup: --tls-key: .* is encrypted with a passphrase, which pgbouncer cannot ask for/],
    ['a certificate file that is a key', ['--tls-cert', join(FIX, 'server.key'), '--tls-key', join(FIX, 'server.key')], /^pgb-setup: --tls-cert: .* holds no PEM certificate/],
    ['a CA that did not sign it', ['--tls-cert', join(FIX, 'server.crt'), '--tls-key', join(FIX, 'server.key'), '--tls-ca', join(FIX, 'server.crt')], /^pgb-setup: --tls-ca: .* did not sign .*server\.crt/],
    ['a key without a certificate', ['--tls-key', join(FIX, 'server.key')], /^pgb-setup: --tls-cert: missing; --tls-key needs the certificate it belongs to/],
    ['self-signed and own files at once', ['--tls', 'self-signed', '--tls-cert', join(FIX, 'server.crt'), '--tls-key', join(FIX, 'server.key')], /^pgb-setup: --tls: self-signed makes its own certificate/],
  ];
  it.each(bad)('%s: one line naming the option, exit 2, the root untouched', async (_what, flags, message) => {
    const root = makeRoot('pgb-tls-opt-');
    try {
      expect((await applyOwn(root, ['--tls', 'self-signed'])).code).toBe(0);
      const before = snapshotTree(root);
      const contents = Object.keys(before).filter((p) => before[p]!.type === 'file').map((p) => [p, readFileSync(join(root, p), 'utf8')]);
      const r = await applyOwn(root, flags.map((f) => (f === '@ENC' ? join(work, 'encrypted.key') : f)));
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(message);
      expect(snapshotTree(root)).toEqual(before);
      for (const [p, c] of contents) expect(readFileSync(join(root, p!), 'utf8')).toBe(c);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('good files are copied in (key 0600 for the service user); --tls-ca becomes client_tls_ca_file; a re-run changes nothing', async () => {
    const root = makeRoot('pgb-tls-opt-');
    try {
      const r = await applyOwn(root, ['--tls-cert', join(FIX, 'server.crt'), '--tls-key', join(FIX, 'server.key'), '--tls-ca', join(FIX, 'ca.crt')]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/TLS: your certificate CN=db\.example\.test/);
      expect(readFileSync(join(root, 'etc/pgbouncer/tls/server.key'), 'utf8')).toBe(readFileSync(join(FIX, 'server.key'), 'utf8'));
      expect(statSync(join(root, 'etc/pgbouncer/tls/server.key')).mode & 0o7777).toBe(0o600);
      const ini = readFileSync(join(root, 'etc/pgbouncer/pgbouncer.ini'), 'utf8');
      expect(ini).toMatch(/^client_tls_ca_file = \/etc\/pgbouncer\/tls\/ca\.crt$/m);
      expect((await applyOwn(root, ['--tls-cert', join(FIX, 'server.crt'), '--tls-key', join(FIX, 'server.key'), '--tls-ca', join(FIX, 'ca.crt')])).stderr).toMatch(/nothing to do/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('your own certificate 12 days from expiry: a warning that names the option, no renewal', async () => {
    const root = makeRoot('pgb-tls-opt-');
    try {
      const r = await applyOwn(root, ['--tls-cert', join(work, 'soon.crt'), '--tls-key', join(work, 'soon.key')]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/--tls-cert: the certificate expires in (11|12) days .* pgb-setup does not renew your own certificate/);
      expect(readFileSync(join(root, 'etc/pgbouncer/tls/server.crt'), 'utf8')).toBe(readFileSync(join(work, 'soon.crt'), 'utf8'));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('rollback puts the previous HBA file back (TLS and HBA files are files pgb-setup manages)', async () => {
    const root = makeRoot('pgb-tls-opt-');
    try {
      expect((await applyOwn(root, ['--tls', 'self-signed', '--allow-from', '10.0.0.0/8'])).code).toBe(0);
      const hba = join(root, 'etc/pgbouncer/pgbouncer_hba.conf');
      const first = readFileSync(hba, 'utf8');
      await new Promise((r) => setTimeout(r, 5)); // a backup folder of its own (millisecond stamps)
      expect((await applyOwn(root, ['--tls', 'self-signed', '--allow-from', '10.0.0.0/8', '--allow-from', '192.168.0.0/16'])).code).toBe(0);
      expect(readFileSync(hba, 'utf8')).toMatch(/^hostssl +all +all +192\.168\.0\.0\/16 +scram-sha-256$/m);
      const rb = await runInProcess(['rollback', '--root', root], {});
      expect(rb.code, rb.stderr).toBe(0);
      expect(readFileSync(hba, 'utf8')).toBe(first);
      expect(statSync(hba).mode & 0o7777).toBe(0o640);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
