import { describe, expect, it } from 'vitest';
import { hbaNetwork, renderHba } from '../../../src/render/hba.js';

/** The records of an HBA text: comment and blank lines left out, fields split on blanks. */
function records(text: string): string[][] {
  return text.split('\n').filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#')).map((l) => l.trim().split(/\s+/));
}

describe('renderHba: pgbouncer\'s own access rules from the allowed networks', () => {
  it('local and loopback for admin use, one hostssl line per allowed network, nothing else', () => {
    const text = renderHba({ environment: 'production', allowFrom: ['10.0.0.0/8', '192.168.1.7', 'fd00::/8'], method: 'scram-sha-256' });
    expect(records(text)).toEqual([
      ['local', 'all', 'all', 'scram-sha-256'],
      ['host', 'all', 'all', '127.0.0.1/32', 'scram-sha-256'],
      ['host', 'all', 'all', '::1/128', 'scram-sha-256'],
      ['hostssl', 'all', 'all', '10.0.0.0/8', 'scram-sha-256'],
      ['hostssl', 'all', 'all', '192.168.1.7/32', 'scram-sha-256'],
      ['hostssl', 'all', 'all', 'fd00::/8', 'scram-sha-256'],
    ]);
  });

  it('no allowed networks: only this host; md5 secrets get md5 lines', () => {
    const text = renderHba({ environment: 'staging', allowFrom: [], method: 'md5' });
    expect(records(text).map((r) => r[0])).toEqual(['local', 'host', 'host']);
    expect(records(text).every((r) => r.at(-1) === 'md5')).toBe(true);
    expect(text).toMatch(/only this host may log in/);
  });

  it('a network given twice is one line; a wide loopback network is not widened further', () => {
    expect(records(renderHba({ environment: 'p', allowFrom: ['10.0.0.0/8', '10.0.0.0/8'], method: 'scram-sha-256' })).filter((r) => r[0] === 'hostssl')).toHaveLength(1);
  });

  it('only forms pgbouncer 1.15+ reads: no "all" address (1.23+), no host names, no samehost/samenet', () => {
    const text = renderHba({ environment: 'p', allowFrom: ['0.0.0.0/0'], method: 'scram-sha-256' });
    for (const r of records(text)) {
      if (r[0] !== 'local') expect(r[3]).toMatch(/^[0-9a-f.:]+\/\d+$/);
    }
  });

  it('bare addresses become host networks; anything that is not a CIDR is refused', () => {
    expect(hbaNetwork('10.1.2.3')).toBe('10.1.2.3/32');
    expect(hbaNetwork('2001:db8::1')).toBe('2001:db8::1/128');
    expect(() => hbaNetwork('db.internal')).toThrow(/not a CIDR/);
  });
});
