import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { daysToExpiry, keyMatchesCertificate, pemCertificates, readCertificate, signedBy } from '../../../src/facts/tls-cert.js';

const dir = join(import.meta.dirname, '../../fixtures/tls');
const read = (name: string) => readFileSync(join(dir, name), 'utf8');

describe('certificate facts with node:crypto', () => {
  it('reads expiry, names, CA flag and serial from PEM', () => {
    const c = readCertificate(read('server.crt'));
    if (!c.ok) throw new Error(c.reason);
    expect(c.cert.names).toEqual(['DNS:db.example.test', 'IP:10.0.0.5', 'IP:0:0:0:0:0:0:0:1']);
    expect(c.cert.ca).toBe(false);
    expect(c.cert.serial).toBe('0A0B0C');
    expect(daysToExpiry(c.cert, new Date(c.cert.notAfter.getTime() - 10.5 * 86_400_000))).toBe(10);
    const ca = readCertificate(read('ca.crt'));
    expect(ca.ok && ca.cert.ca).toBe(true);
  });

  it('tells which key belongs to the certificate and which CA signed it', () => {
    const c = readCertificate(read('server.crt'));
    if (!c.ok) throw new Error(c.reason);
    expect(keyMatchesCertificate(read('server.key'), c.x509)).toEqual({ ok: true });
    expect(keyMatchesCertificate(read('other.key'), c.x509)).toEqual({ ok: false, reason: 'does not belong to the certificate (its public key differs)' });
    expect(keyMatchesCertificate(read('server.crt'), c.x509)).toMatchObject({ ok: false, reason: expect.stringMatching(/holds no PEM private key/) });
    expect(signedBy(c.x509, read('ca.crt'))).toBe(true);
    expect(signedBy(c.x509, read('server.crt'))).toBe(false);
  });

  it('says why a file is not a certificate', () => {
    expect(readCertificate('hello')).toEqual({ ok: false, reason: 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)' });
    expect(readCertificate('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----')).toMatchObject({ ok: false, reason: expect.stringMatching(/not a readable certificate/) });
    expect(pemCertificates(read('ca.crt') + read('server.crt'))).toHaveLength(2);
  });
});
