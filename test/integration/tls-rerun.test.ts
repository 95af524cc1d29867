/**
 * A re-run without the TLS options (the same `pgb-setup production` from cron or Ansible) keeps the
 * TLS pgb-setup installed, with a note; only --no-tls turns it off, with a warning. Under --root,
 * with real openssl.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, makeRoot, runChild } from '../helpers/trust.js';
import { tlsPaths } from '../../src/profile/tls-layer.js';
import { keptTlsChoice } from '../../src/facts/installed-tls.js';

const ENV = { DBNAME: 'appdb', DBUSER: 'app_user', DBPASS: 'tls-rerun-pw-5', DBHOST: '10.0.0.20' };
const INI = 'etc/pgbouncer/pgbouncer.ini';

let entry: string;
let root: string;

beforeAll(async () => {
  entry = await buildCli();
  root = makeRoot('pgb-tls-rerun-');
}, 60_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

const setting = (key: string) => new RegExp(`^${key} = (.*)$`, 'm').exec(readFileSync(join(root, INI), 'utf8'))?.[1];

describe('a re-run without TLS options', () => {
  it('keeps the self-signed TLS and the HBA rules; --no-tls turns them off, saying so', async () => {
    const base = ['production', '--root', root, '--yes', '--allow-from', '10.0.0.0/8'];
    const first = await runChild(entry, [...base, '--tls', 'self-signed'], { env: ENV });
    expect(first.code, first.stderr).toBe(0);
    const serverCert = readFileSync(join(root, 'etc/pgbouncer/tls/server.crt'), 'utf8');

    const again = await runChild(entry, base, { env: ENV });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('note: keeping the installed client TLS (self-signed): the run gave no TLS options; pass --no-tls to turn TLS off');
    expect(again.stderr).not.toContain('switched OFF');
    expect(setting('client_tls_sslmode')).toBe('require');
    expect(setting('auth_type')).toBe('hba');
    expect(readFileSync(join(root, 'etc/pgbouncer/tls/server.crt'), 'utf8')).toBe(serverCert);

    const off = await runChild(entry, [...base, '--no-tls'], { env: ENV });
    expect(off.code, off.stderr).toBe(0);
    expect(off.stderr).toMatch(/warning: client TLS is switched OFF by this run \(client_tls_sslmode require -> /);
    expect(setting('client_tls_sslmode') ?? 'disable').not.toBe('require');
    expect(setting('auth_type')).not.toBe('hba');

    const refused = await runChild(entry, [...base, '--no-tls', '--tls-cert', '/x', '--tls-key', '/y'], { env: ENV });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^pgb-setup: --no-tls: /m);
  }, 120_000);
});

describe('keptTlsChoice', () => {
  const paths = tlsPaths('/etc/pgbouncer/pgbouncer.ini');
  const ini = (lines: string[]) => `[pgbouncer]\n${lines.join('\n')}\n`;
  const selfSigned = ini(['client_tls_sslmode = require', `client_tls_key_file = ${paths.serverKey}`, `client_tls_cert_file = ${paths.serverCert}`, `client_tls_ca_file = ${paths.caCert}`]);
  const none = { client: undefined, serverCa: undefined };

  it.each([
    ['self-signed, CA key present', selfSigned, true, false, { kind: 'self-signed' }],
    ['CA key gone, live: the files in place', selfSigned, false, true, { kind: 'files', cert: paths.serverCert, key: paths.serverKey, ca: paths.caCert }],
    ['CA key gone, under --root: nothing kept', selfSigned, false, false, undefined],
    ['TLS disabled', ini(['client_tls_sslmode = disable', `client_tls_cert_file = ${paths.serverCert}`, `client_tls_key_file = ${paths.serverKey}`]), true, true, undefined],
    ["someone else's certificate path", ini(['client_tls_sslmode = require', 'client_tls_cert_file = /srv/cert.pem', `client_tls_key_file = ${paths.serverKey}`]), true, true, undefined],
    ['no ini', undefined, true, true, undefined],
  ])('%s', (_what, text, caKey, live, client) => {
    expect(keptTlsChoice(none, text, paths, caKey, live).client).toEqual(client);
  });

  it('never overrides the options given, or --no-tls', () => {
    const asked = { client: { kind: 'files' as const, cert: '/a', key: '/b', ca: undefined }, serverCa: undefined };
    expect(keptTlsChoice(asked, selfSigned, paths, true, true)).toBe(asked);
    const off = { client: undefined, serverCa: undefined, off: true };
    expect(keptTlsChoice(off, selfSigned, paths, true, true)).toBe(off);
  });
});
