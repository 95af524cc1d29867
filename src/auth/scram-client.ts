/**
 * The client side of PostgreSQL's SCRAM-SHA-256 exchange (RFC 5802/7677, no channel binding), as
 * pure steps: the wire code in src/pg/scram-login.ts only moves these strings. What pgb-setup wants
 * from it is the verifier: the server's first message carries the role's salt and iteration count,
 * and an exchange that ends with a valid server signature proves that PostgreSQL stores exactly
 * the StoredKey and ServerKey derived from this password, salt and count.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { decodeCanonicalBase64, formatScramSecret, iterationsInRange, SCRAM_ITERATIONS_RANGE, scramKeys, scramPasswordBytes, type ParsedScramSecret } from './scram.js';

export const SCRAM_MECHANISM = 'SCRAM-SHA-256';
/** gs2 header "n,," (no channel binding), base64: the c= attribute of the final message. */
const GS2_HEADER_B64 = 'biws';

export class ScramProtocolError extends Error {}

interface ClientFirst {
  clientNonce: string;
  /** What goes into SASLInitialResponse. */
  message: string;
  /** client-first-message-bare, part of the AuthMessage. */
  bare: string;
}

/** PostgreSQL takes the user from the startup packet, so n= is empty (libpq does the same). */
export function clientFirst(clientNonce: string = randomBytes(18).toString('base64')): ClientFirst {
  const bare = `n=,r=${clientNonce}`;
  return { clientNonce, bare, message: `n,,${bare}` };
}

interface ServerFirst {
  nonce: string;
  salt: Buffer;
  iterations: number;
  raw: string;
}

/**
 * Parses server-first-message `r=<nonce>,s=<salt>,i=<count>`: the nonce must extend ours, the salt
 * be canonical base64, and the count lie in pgb-setup's range (checked before any PBKDF2 work, so
 * a server cannot make us compute 2^31 rounds).
 */
export function parseServerFirst(raw: string, clientNonce: string): ServerFirst {
  const m = /^r=([\x21-\x2b\x2d-\x7e]+),s=([A-Za-z0-9+/=]+),i=([0-9]{1,12})(,.*)?$/.exec(raw);
  if (!m) throw new ScramProtocolError('the server\'s SCRAM first message is not r=...,s=...,i=...');
  const [, nonce, saltText, iterText, extensions] = m as unknown as [string, string, string, string, string | undefined];
  if (extensions?.startsWith(',m=')) throw new ScramProtocolError('the server asks for a SCRAM extension pgb-setup does not know');
  if (!nonce.startsWith(clientNonce) || nonce.length === clientNonce.length) throw new ScramProtocolError('the server\'s SCRAM nonce does not extend ours');
  const salt = decodeCanonicalBase64(saltText);
  if (!salt || salt.length === 0) throw new ScramProtocolError('the server\'s SCRAM salt is not base64');
  const iterations = Number(iterText);
  if (!iterationsInRange(iterations)) {
    throw new ScramProtocolError(`the role's SCRAM verifier uses ${iterText} iterations; pgb-setup works with ${SCRAM_ITERATIONS_RANGE} (every login pays them)`);
  }
  return { nonce, salt, iterations, raw };
}

interface ClientFinal {
  message: string;
  /** The server signature a genuine server (one holding our ServerKey) must send back. */
  expectedServerSignature: Buffer;
  /** The verifier PostgreSQL holds if the exchange succeeds. */
  verifier: ParsedScramSecret;
}

export function clientFinal(password: string, first: ClientFirst, server: ServerFirst): ClientFinal {
  const { clientKey, storedKey, serverKey } = scramKeys(scramPasswordBytes(password), server.salt, server.iterations);
  const withoutProof = `c=${GS2_HEADER_B64},r=${server.nonce}`;
  const authMessage = `${first.bare},${server.raw},${withoutProof}`;
  const clientSignature = createHmac('sha256', storedKey).update(authMessage).digest();
  const proof = Buffer.alloc(clientKey.length);
  for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i]! ^ clientSignature[i]!;
  return {
    message: `${withoutProof},p=${proof.toString('base64')}`,
    expectedServerSignature: createHmac('sha256', serverKey).update(authMessage).digest(),
    verifier: { iterations: server.iterations, salt: server.salt, storedKey, serverKey },
  };
}

/** Checks server-final-message `v=<signature>`; returns the verifier text once it is proven. */
export function checkServerFinal(raw: string, final: ClientFinal): string {
  const err = /^e=([^,]*)/.exec(raw);
  if (err) throw new ScramProtocolError(`the server ended the SCRAM exchange with "${err[1]!.slice(0, 80)}"`);
  const m = /^v=([A-Za-z0-9+/=]+)(,.*)?$/.exec(raw);
  const signature = m ? decodeCanonicalBase64(m[1]!) : undefined;
  if (!signature || signature.length !== final.expectedServerSignature.length || !timingSafeEqual(signature, final.expectedServerSignature)) {
    throw new ScramProtocolError('the server\'s SCRAM signature is wrong: it does not hold the verifier it claimed (not the PostgreSQL you meant?)');
  }
  return formatScramSecret(final.verifier);
}
