import { resolvedAndChecked } from '../../../src/app/load-config.js';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/text/errors.js';
import { hostDefaultsLayer, DEBIAN_PATHS } from '../../../src/profile/host-defaults.js';
import { loadBuiltinProfile, setLayer } from '../../../src/profile/layers.js';
import { setting } from '../../../src/profile/resolve.js';
import { APP_HOST_CA_PATH, parseTlsFlags, tlsLayer, tlsPaths } from '../../../src/profile/tls-layer.js';
import { pooledSslmode } from '../../../src/render/django-settings.js';

const paths = tlsPaths('/etc/pgbouncer/pgbouncer.ini');

function resolveWith(flags: Parameters<typeof parseTlsFlags>[0], version = '1.18.0', set: string[] = []) {
  const layer = tlsLayer(parseTlsFlags(flags), paths, flags.sslrootcert);
  const layers = [hostDefaultsLayer(DEBIAN_PATHS), loadBuiltinProfile('production'), { source: 'environment', data: { database: { name: 'appdb', user: 'app_user', host: '127.0.0.1' } } }, ...(layer ? [layer] : []), ...(set.length ? [setLayer(set)] : [])];
  return resolvedAndChecked('production', layers, { version, source: 'test' });
}

describe('TLS flags', () => {
  it('refuses combinations that cannot work, naming the flag (exit 2)', () => {
    const cases: [Parameters<typeof parseTlsFlags>[0], string][] = [
      [{ tls: 'letsencrypt' }, '--tls'],
      [{ tls: 'self-signed', tlsCert: '/c' , tlsKey: '/k' }, '--tls'],
      [{ tlsCert: '/c' }, '--tls-key'],
      [{ tlsKey: '/k' }, '--tls-cert'],
      [{ tlsCa: '/ca' }, '--tls-ca'],
      [{ tls: 'self-signed', sslrootcert: 'relative/ca.crt' }, '--sslrootcert'],
      [{ tls: 'self-signed', tlsName: ['bad name'] }, '--tls-name'],
    ];
    for (const [flags, field] of cases) {
      let caught: unknown;
      try {
        parseTlsFlags(flags);
      } catch (e) {
        caught = e;
      }
      expect(caught, JSON.stringify(flags)).toBeInstanceOf(InputError);
      expect((caught as InputError).field).toBe(field);
      expect((caught as InputError).exitCode).toBe(2);
      expect((caught as Error).message.startsWith(`${field}:`)).toBe(true);
    }
  });

  it('self-signed: client TLS required, the files, auth_type hba, and verify-full for Django', () => {
    const c = resolveWith({ tls: 'self-signed' });
    expect(setting(c, 'client_tls_sslmode')).toBe('require');
    expect(setting(c, 'client_tls_key_file')).toBe('/etc/pgbouncer/tls/server.key');
    expect(setting(c, 'client_tls_cert_file')).toBe('/etc/pgbouncer/tls/server.crt');
    expect(setting(c, 'client_tls_ca_file')).toBe('/etc/pgbouncer/tls/ca.crt');
    expect(setting(c, 'auth_type')).toBe('hba');
    expect(setting(c, 'auth_hba_file')).toBe('/etc/pgbouncer/pgbouncer_hba.conf');
    expect(c.profile.django.sslrootcert).toBe(APP_HOST_CA_PATH);
    expect(pooledSslmode(c)).toBe('verify-full');
    expect(c.sources.get('pgbouncer.client_tls_sslmode')).toBe('--tls options');
  });

  it('your own certificate without a CA: require (nothing to verify against); with --tls-ca: verify-full', () => {
    expect(pooledSslmode(resolveWith({ tlsCert: '/c', tlsKey: '/k' }))).toBe('require');
    expect(setting(resolveWith({ tlsCert: '/c', tlsKey: '/k' }), 'client_tls_ca_file')).toBeUndefined();
    expect(pooledSslmode(resolveWith({ tlsCert: '/c', tlsKey: '/k', tlsCa: '/ca', sslrootcert: '/srv/app/ca.pem' }))).toBe('verify-full');
  });

  it('--server-tls-ca: pgbouncer verifies PostgreSQL (verify-full with the CA file)', () => {
    const c = resolveWith({ serverTlsCa: '/root/pg-ca.crt' });
    expect(setting(c, 'server_tls_sslmode')).toBe('verify-full');
    expect(setting(c, 'server_tls_ca_file')).toBe('/etc/pgbouncer/tls/postgresql-ca.crt');
    expect(setting(c, 'client_tls_sslmode')).toBe('disable');
  });

  it('the existing cross-checks still hold: --set below the flags wins, and a contradiction is refused', () => {
    expect(() => resolveWith({ tls: 'self-signed' }, '1.18.0', ['client_tls_sslmode=disable', 'django.sslmode=verify-full'])).toThrow(/django\.sslmode: verify-full cannot connect while pgbouncer\.client_tls_sslmode is disable/);
    expect(setting(resolveWith({ tls: 'self-signed' }, '1.18.0', ['auth_type=scram-sha-256']), 'auth_type')).toBe('scram-sha-256');
    // pgbouncer itself refuses client verify-full without a CA for client certificates.
    expect(() => resolveWith({ tlsCert: '/c', tlsKey: '/k' }, '1.18.0', ['client_tls_sslmode=verify-full'])).toThrow(/pgbouncer\.client_tls_ca_file: client_tls_sslmode verify-full .* needs the CA/);
    expect(setting(resolveWith({ tls: 'self-signed' }, '1.18.0', ['client_tls_sslmode=verify-full']), 'client_tls_sslmode')).toBe('verify-full');
  });

  it('no TLS flags: no layer, the profile as it was', () => {
    expect(tlsLayer(parseTlsFlags({}), paths, undefined)).toBeUndefined();
  });
});
