import { afterEach, describe, expect, it } from 'vitest';
import { parseScramSecret, scramSecret } from '../../../src/auth/scram.js';
import { scramLogin } from '../../../src/system/scram-login.js';
import { startFakePg, type FakeLogin } from '../../helpers/fake-pg-server.js';
import { scramServer } from '../../helpers/scram-server.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

async function against(script: (l: FakeLogin) => Promise<void>, password = 'pw', timeoutMs = 2000) {
  const fake = await startFakePg(script);
  closers.push(fake.close);
  return scramLogin({ host: '127.0.0.1', port: fake.port, user: 'app', database: 'appdb', password, timeoutMs });
}

/** A server that runs SCRAM-SHA-256 with `stored`, optionally naming another iteration count. */
function scramScript(stored: string, opts: { iterationsText?: string; after?: (l: FakeLogin) => void } = {}) {
  return async (l: FakeLogin) => {
    l.auth(10, Buffer.from('SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0'));
    const init = await l.next();
    const nul = init.body.indexOf(0);
    expect(init.body.toString('utf8', 0, nul)).toBe('SCRAM-SHA-256');
    const session = scramServer(parseScramSecret(stored)!, init.body.subarray(nul + 5).toString('utf8'), opts);
    l.auth(11, Buffer.from(session.serverFirst));
    const final = await l.next();
    const serverFinal = session.finish(final.body.toString('utf8'));
    if (!serverFinal) return l.error('28P01', 'password authentication failed for user "app"');
    l.auth(12, Buffer.from(serverFinal));
    l.auth(0);
    opts.after?.(l);
  };
}

describe('scramLogin against a scripted server', () => {
  it('completes the exchange and returns the verifier the server holds; sends user and database in the startup packet', async () => {
    const stored = scramSecret('pa\u00a0ss', { iterations: 4096 });
    let startup: Record<string, string> = {};
    const r = await against(async (l) => {
      startup = l.startup;
      await scramScript(stored)(l);
    }, 'pa ss');
    expect(r).toEqual({ kind: 'verifier', verifier: stored });
    expect(startup).toMatchObject({ user: 'app', database: 'appdb', application_name: 'pgb-setup' });
  });

  it('a refused proof is "refused" with the SQLSTATE', async () => {
    const r = await against(scramScript(scramSecret('right')), 'wrong');
    expect(r).toMatchObject({ kind: 'refused', code: '28P01' });
  });

  it.each(['2147483647', '0', '100001'])('i=%s: refused as out of range before any PBKDF2 work', async (iters) => {
    const r = await against(scramScript(scramSecret('pw'), { iterationsText: iters }));
    expect(r).toEqual({ kind: 'protocol', message: `the role's SCRAM verifier uses ${iters} iterations; pgb-setup works with from 1 to 100000 (every login pays them)` });
  });

  it.each([
    [5, 'md5'],
    [3, 'cleartext'],
    [7, 'gss'],
  ] as const)('authentication request %i is other-method %s', async (code, method) => {
    expect(await against(async (l) => l.auth(code, Buffer.alloc(4)))).toEqual({ kind: 'other-method', method });
  });

  it('SASL without SCRAM-SHA-256 is other-method', async () => {
    expect(await against(async (l) => l.auth(10, Buffer.from('OAUTHBEARER\0\0')))).toEqual({ kind: 'other-method', method: 'sasl-without-scram' });
  });

  it('AuthenticationOk without a password is no-password-asked', async () => {
    expect(await against(async (l) => l.auth(0))).toEqual({ kind: 'no-password-asked' });
  });

  it('an error before authentication is server-error', async () => {
    const r = await against(async (l) => l.error('28000', 'no pg_hba.conf entry for host "127.0.0.1"'));
    expect(r).toEqual({ kind: 'server-error', code: '28000', message: 'no pg_hba.conf entry for host "127.0.0.1"' });
  });

  it('a server that never answers is bounded by the timeout', async () => {
    const r = await against(async () => new Promise(() => {}), 'pw', 300);
    expect(r).toMatchObject({ kind: 'unreachable', code: 'ETIMEDOUT' });
  });

  it('a message bigger than 64 KiB is refused without being buffered', async () => {
    const r = await against(async (l) => {
      l.socket.write(Buffer.concat([Buffer.from('R'), Buffer.from([0x7f, 0xff, 0xff, 0xff])]));
    });
    expect(r).toEqual({ kind: 'protocol', message: 'the server sent a message of 2147483647 bytes' });
  });

  it('a forged final signature is a protocol error, not a verifier', async () => {
    const r = await against(async (l) => {
      l.auth(10, Buffer.from('SCRAM-SHA-256\0\0'));
      const init = await l.next();
      const first = init.body.subarray(init.body.indexOf(0) + 5).toString('utf8');
      const nonce = /r=([^,]+)/.exec(first)![1]!;
      l.auth(11, Buffer.from(`r=${nonce}xyz,s=${Buffer.alloc(16).toString('base64')},i=4096`));
      await l.next();
      l.auth(12, Buffer.from(`v=${Buffer.alloc(32).toString('base64')}`));
      l.auth(0);
    });
    expect(r).toMatchObject({ kind: 'protocol', message: expect.stringMatching(/signature is wrong/) });
  });

  it('nothing listening is unreachable', async () => {
    const fake = await startFakePg(async () => {});
    await fake.close();
    const r = await scramLogin({ host: '127.0.0.1', port: fake.port, user: 'app', database: 'd', password: 'pw', timeoutMs: 1000 });
    expect(r).toMatchObject({ kind: 'unreachable', code: 'ECONNREFUSED' });
  });
});

describe('scramLogin TLS', () => {
  it('a server that says S to the TLS request and then stalls the handshake is bounded by the timeout', async () => {
    const { createServer } = await import('node:net');
    const server = createServer((s) => {
      s.on('error', () => {});
      s.once('data', () => s.write('S')); // then never speaks TLS
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as { port: number }).port;
    const r = await scramLogin({ host: '127.0.0.1', port, user: 'app', database: 'd', password: 'pw', timeoutMs: 300, tls: { mode: 'require' } });
    expect(r).toMatchObject({ kind: 'unreachable', code: 'ETIMEDOUT' });
  });

  it('prefer on loopback: no TLS request, the first message is the startup message (protocol 3.0)', async () => {
    const { createServer } = await import('node:net');
    const first = new Promise<Buffer>((resolve) => {
      const server = createServer((s) => {
        s.on('error', () => {});
        s.once('data', (b: Buffer) => {
          resolve(b);
          s.destroy();
        });
      });
      server.listen(0, '127.0.0.1', () => {
        closers.push(() => new Promise<void>((r) => server.close(() => r())));
        void scramLogin({ host: '127.0.0.1', port: (server.address() as { port: number }).port, user: 'app', database: 'd', password: 'pw', timeoutMs: 1000 });
      });
    });
    const b = await first;
    expect(b.readInt32BE(4)).toBe(196608);
  });

  it('require: a server without TLS is refused, not used in clear', async () => {
    const fake = await startFakePg(async (l) => l.auth(0));
    closers.push(fake.close);
    const r = await scramLogin({ host: '127.0.0.1', port: fake.port, user: 'app', database: 'd', password: 'pw', tls: { mode: 'require' } });
    expect(r).toEqual({ kind: 'protocol', message: 'the server does not offer TLS, but server_tls_sslmode is require' });
  });
});
