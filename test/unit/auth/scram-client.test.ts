import { describe, expect, it } from 'vitest';
import { checkServerFinal, clientFinal, clientFirst, parseServerFirst, ScramProtocolError } from '../../../src/auth/scram-client.js';
import { parseScramSecret, scramSecret } from '../../../src/auth/scram.js';
import { scramServer } from '../../helpers/scram-server.js';
import { PG15_VERIFIERS } from './pg15-verifiers.js';

/** One full exchange against a server holding `stored`; returns the verifier the client derived. */
function exchange(stored: string, password: string): string {
  const first = clientFirst();
  const server = scramServer(parseScramSecret(stored)!, first.message);
  const final = clientFinal(password, first, parseServerFirst(server.serverFirst, first.clientNonce));
  const serverFinal = server.finish(final.message);
  if (!serverFinal) throw new Error('server refused the proof');
  return checkServerFinal(serverFinal, final);
}

describe('SCRAM client exchange', () => {
  it.each(PG15_VERIFIERS)('derives PostgreSQL 15\'s own verifier from the server-first-message: %s', (_name, password, verifier) => {
    expect(exchange(verifier, password)).toBe(verifier);
  });

  it('a wrong password is refused by the server side (the proof does not match StoredKey)', () => {
    const [, , verifier] = PG15_VERIFIERS[0]!;
    expect(() => exchange(verifier, 'not-the-password')).toThrow('server refused the proof');
  });

  it('a server that does not hold the verifier cannot forge the final signature', () => {
    const real = parseScramSecret(scramSecret('pw', { salt: Buffer.alloc(16, 7) }))!;
    const first = clientFirst();
    const server = scramServer(real, first.message);
    const final = clientFinal('pw', first, parseServerFirst(server.serverFirst, first.clientNonce));
    expect(() => checkServerFinal(`v=${Buffer.alloc(32, 3).toString('base64')}`, final)).toThrow(ScramProtocolError);
    expect(() => checkServerFinal('e=invalid-proof', final)).toThrow(/invalid-proof/);
  });

  it.each(['0', '100001', '2147483647', '99999999999'])('refuses a server-first-message with %s iterations before computing anything', (iters) => {
    const first = clientFirst();
    const server = scramServer(parseScramSecret(scramSecret('pw'))!, first.message, { iterationsText: iters });
    expect(() => parseServerFirst(server.serverFirst, first.clientNonce)).toThrow(new RegExp(`uses ${iters} iterations; pgb-setup works with from 1 to 100000`));
  });

  it('accepts the bounds 1 and 100000', () => {
    const first = clientFirst();
    for (const i of ['1', '100000']) {
      const server = scramServer(parseScramSecret(scramSecret('pw'))!, first.message, { iterationsText: i });
      expect(parseServerFirst(server.serverFirst, first.clientNonce).iterations).toBe(Number(i));
    }
  });

  it('refuses a nonce that does not extend the client nonce, bad base64 and extensions', () => {
    const first = clientFirst('abc');
    expect(() => parseServerFirst('r=xyz123,s=AAAA,i=4096', 'abc')).toThrow(/nonce/);
    expect(() => parseServerFirst('r=abc,s=AAAA,i=4096', 'abc')).toThrow(/nonce/);
    expect(() => parseServerFirst('r=abcd,s=AAA,i=4096', first.clientNonce)).toThrow(/salt/);
    expect(() => parseServerFirst('r=abcd,s=AAAA,i=4096,m=ext', first.clientNonce)).toThrow(/extension/);
    expect(() => parseServerFirst('garbage', first.clientNonce)).toThrow(ScramProtocolError);
  });
});
