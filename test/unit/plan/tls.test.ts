import { describe, expect, it } from 'vitest';
import type { CertFacts } from '../../../src/facts/tls-cert.js';
import type { HostFacts } from '../../../src/facts/host-facts.js';
import { certificateNames, decideSelfSigned, hbaFirewallNote, tlsDroppedWarning, judgeOwnCertificate, RENEW_WITHIN_DAYS, sanEntry } from '../../../src/plan/tls.js';

const NOW = new Date('2026-12-02T00:00:00Z');
const day = 86_400_000;

function cert(daysLeft: number, names: string[] = ['DNS:localhost', 'IP:127.0.0.1'], ca = false): CertFacts {
  return { subject: 'CN=x', issuer: 'CN=ca', notBefore: new Date(NOW.getTime() - day), notAfter: new Date(NOW.getTime() + daysLeft * day + 3600_000), names, ca, serial: '01', fingerprint256: '' };
}

const good = { ca: cert(3000, [], true), caKeyMatches: true, server: cert(300), serverKeyMatches: true, serverSignedByCa: true };
const NAMES = ['localhost', '127.0.0.1'];

describe('decideSelfSigned: keep, renew or issue', () => {
  it('keeps a valid certificate that names everything asked for', () => {
    expect(decideSelfSigned(good, NAMES, NOW)).toEqual({ action: 'keep', reason: 'valid for 300 more days', daysLeft: 300 });
  });

  it(`renews within ${RENEW_WITHIN_DAYS} days of expiry, with the same CA`, () => {
    expect(decideSelfSigned({ ...good, server: cert(10) }, NAMES, NOW)).toMatchObject({ action: 'issue', newCa: false, reason: expect.stringMatching(/expires in 10 days/) });
    expect(decideSelfSigned({ ...good, server: cert(RENEW_WITHIN_DAYS) }, NAMES, NOW)).toMatchObject({ action: 'issue', newCa: false });
    expect(decideSelfSigned({ ...good, server: cert(RENEW_WITHIN_DAYS + 1) }, NAMES, NOW)).toMatchObject({ action: 'keep' });
    expect(decideSelfSigned({ ...good, server: cert(-3) }, NAMES, NOW)).toMatchObject({ action: 'issue', reason: expect.stringMatching(/expired 3 days ago/) });
  });

  it('a new CA only when there is no usable one', () => {
    expect(decideSelfSigned({ ...good, ca: undefined }, NAMES, NOW)).toMatchObject({ action: 'issue', newCa: true });
    expect(decideSelfSigned({ ...good, caKeyMatches: false }, NAMES, NOW)).toMatchObject({ action: 'issue', newCa: true });
    expect(decideSelfSigned({ ...good, ca: cert(3000, [], false) }, NAMES, NOW)).toMatchObject({ action: 'issue', newCa: true });
    expect(decideSelfSigned({ ...good, ca: cert(20, [], true) }, NAMES, NOW)).toMatchObject({ action: 'issue', newCa: true, reason: expect.stringMatching(/copying ca\.crt/) });
  });

  it('reissues for a missing or foreign key, a foreign signer, or a name the certificate lacks', () => {
    expect(decideSelfSigned({ ...good, server: undefined }, NAMES, NOW)).toMatchObject({ action: 'issue', newCa: false });
    expect(decideSelfSigned({ ...good, serverKeyMatches: false }, NAMES, NOW)).toMatchObject({ action: 'issue', newCa: false });
    expect(decideSelfSigned({ ...good, serverSignedByCa: false }, NAMES, NOW)).toMatchObject({ action: 'issue', newCa: false });
    expect(decideSelfSigned(good, [...NAMES, 'db.internal', '10.0.0.5'], NOW)).toMatchObject({ action: 'issue', reason: 'the server certificate does not name DNS:db.internal, IP:10.0.0.5' });
  });

  it('compares IPv6 names in their short form and names case-insensitively', () => {
    expect(decideSelfSigned({ ...good, server: cert(300, ['DNS:LocalHost', 'IP:127.0.0.1', 'IP:0:0:0:0:0:0:0:1']) }, ['localhost', '127.0.0.1', '::1'], NOW)).toMatchObject({ action: 'keep' });
  });
});

describe('judgeOwnCertificate: your own certificate is never renewed, only judged', () => {
  it('warns within 30 days, refuses an expired or not yet valid one, is quiet otherwise', () => {
    expect(judgeOwnCertificate(cert(12), '--tls-cert', NOW).warning).toMatch(/^--tls-cert: the certificate expires in 12 days .*does not renew your own certificate/);
    expect(judgeOwnCertificate(cert(-1), '--tls-cert', NOW).error).toMatch(/^--tls-cert: the certificate expired on/);
    expect(judgeOwnCertificate({ ...cert(100), notBefore: new Date(NOW.getTime() + day) }, '--tls-cert', NOW).error).toMatch(/not valid before/);
    expect(judgeOwnCertificate(cert(100), '--tls-cert', NOW)).toEqual({ daysLeft: 100 });
  });
});

describe('certificateNames', () => {
  it('names, host name, listen addresses (no wildcards) and loopback, once each, in a stable order', () => {
    expect(certificateNames({ extra: ['DB.example.com'], hostname: 'pgb1', listenAddr: ['*', '10.0.0.5', '127.0.0.1'] })).toEqual(['db.example.com', 'pgb1', '10.0.0.5', '127.0.0.1', 'localhost']);
    expect(certificateNames({ extra: [], hostname: undefined, listenAddr: ['0.0.0.0', '::'] })).toEqual(['localhost', '127.0.0.1']);
  });

  it('subjectAltName entries: IP for addresses, DNS for names', () => {
    expect(['10.0.0.5', '::1', 'db.internal'].map(sanEntry)).toEqual(['IP:10.0.0.5', 'IP:::1', 'DNS:db.internal']);
  });
});

describe('hbaFirewallNote: the plan says when the HBA rules are all that keeps other networks out', () => {
  const facts = (tool: 'ufw' | 'firewalld' | undefined) => ({ firewall: { tool } }) as unknown as HostFacts;
  it('no firewall tool, or --skip-firewall: said; a firewall present: nothing to add', () => {
    expect(hbaFirewallNote(facts(undefined), true, false)).toMatch(/^no ufw or firewalld on this host: pgbouncer's own HBA rules/);
    expect(hbaFirewallNote(facts('ufw'), true, true)).toMatch(/^--skip-firewall: pgbouncer's own HBA rules/);
    expect(hbaFirewallNote(facts('firewalld'), true, false)).toBeUndefined();
    expect(hbaFirewallNote(facts(undefined), false, false)).toBeUndefined();
  });
});

describe('tlsDroppedWarning: a run without --tls does not switch TLS off silently', () => {
  it('warns when the config on disk had client TLS and the new one has none', () => {
    expect(tlsDroppedWarning('[pgbouncer]\nclient_tls_sslmode = require\n', 'disable')).toMatch(/client TLS is switched OFF by this run \(client_tls_sslmode require -> disable\)/);
    expect(tlsDroppedWarning('[pgbouncer]\nclient_tls_sslmode = require\n', 'require')).toBeUndefined();
    expect(tlsDroppedWarning('[pgbouncer]\nclient_tls_sslmode = disable\n', 'disable')).toBeUndefined();
    expect(tlsDroppedWarning(undefined, 'disable')).toBeUndefined();
  });
});
