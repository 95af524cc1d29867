/**
 * The server side of SCRAM-SHA-256 as PostgreSQL does it (auth-scram.c): a server-first-message
 * from the stored salt and count, the client proof checked against StoredKey, the server signature
 * made with ServerKey. Written from RFC 5802 for tests, so the client is checked against an
 * independent implementation (and against real PostgreSQL in the integration tests).
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { ParsedScramSecret } from '../../src/auth/scram.js';

export interface ScramServerSession {
  serverFirst: string;
  /** Returns the server-final-message, or undefined when the proof is wrong. */
  finish(clientFinal: string): string | undefined;
}

export function scramServer(stored: ParsedScramSecret, clientFirst: string, opts: { iterationsText?: string; nonceSuffix?: string } = {}): ScramServerSession {
  const m = /^n,,(n=[^,]*,r=([^,]+))$/.exec(clientFirst);
  if (!m) throw new Error(`bad client-first ${clientFirst}`);
  const bare = m[1]!;
  const nonce = `${m[2]!}${opts.nonceSuffix ?? randomBytes(18).toString('base64')}`;
  const serverFirst = `r=${nonce},s=${stored.salt.toString('base64')},i=${opts.iterationsText ?? stored.iterations}`;
  return {
    serverFirst,
    finish(clientFinal) {
      const f = /^(c=biws,r=([^,]+)),p=([A-Za-z0-9+/=]+)$/.exec(clientFinal);
      if (!f || f[2] !== nonce) return undefined;
      const authMessage = `${bare},${serverFirst},${f[1]}`;
      const clientSignature = createHmac('sha256', stored.storedKey).update(authMessage).digest();
      const proof = Buffer.from(f[3]!, 'base64');
      if (proof.length !== 32) return undefined;
      const clientKey = Buffer.from(proof.map((b, i) => b ^ clientSignature[i]!));
      if (!createHash('sha256').update(clientKey).digest().equals(stored.storedKey)) return undefined;
      return `v=${createHmac('sha256', stored.serverKey).update(authMessage).digest('base64')}`;
    },
  };
}
