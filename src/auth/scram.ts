import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { InputError } from '../errors.js';
import { isWellFormedUnicode, saslprep } from './saslprep.js';

/** PostgreSQL defaults (src/include/common/scram-common.h). */
export const SCRAM_DEFAULT_ITERATIONS = 4096;
export const SCRAM_DEFAULT_SALT_LEN = 16;
/** SHA-256 output; StoredKey and ServerKey must decode to exactly this many bytes. */
export const SCRAM_KEY_LEN = 32;
const MAX_ITERATIONS = 2 ** 31 - 1; // PostgreSQL and pgbouncer parse the count into a C int

export interface ScramSecretOptions {
  /** PBKDF2 iteration count, default 4096. */
  iterations?: number;
  /** Salt bytes; a fresh random 16-byte salt when omitted. */
  salt?: Buffer;
}

export interface ParsedScramSecret {
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

/**
 * The bytes PostgreSQL hashes for `password`: its SASLprep form when SASLprep succeeds, otherwise
 * the raw UTF-8 bytes (pg_be_scram_build_secret / libpq do the same).
 * Throws InputError (field `password`) for passwords no PostgreSQL client can send: an empty one
 * (libpq treats it as "no password"), a NUL character (C strings end there) or an unpaired UTF-16
 * surrogate (no UTF-8 encoding).
 */
export function scramPasswordBytes(password: string): Buffer {
  if (password === '') {
    throw new InputError('password is empty; PostgreSQL clients never send an empty password, so give a non-empty one', 'password');
  }
  if (password.includes('\0')) {
    throw new InputError('password contains a NUL character, which PostgreSQL clients cannot send; remove it', 'password');
  }
  if (!isWellFormedUnicode(password)) {
    throw new InputError('password contains an unpaired UTF-16 surrogate and has no UTF-8 form; use valid Unicode text', 'password');
  }
  const prepared = saslprep(password);
  return Buffer.from(prepared.ok ? prepared.value : password, 'utf8');
}

function computeKeys(passwordBytes: Buffer, salt: Buffer, iterations: number): { storedKey: Buffer; serverKey: Buffer } {
  const saltedPassword = pbkdf2Sync(passwordBytes, salt, iterations, SCRAM_KEY_LEN, 'sha256');
  const clientKey = createHmac('sha256', saltedPassword).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', saltedPassword).update('Server Key').digest();
  return { storedKey, serverKey };
}

function checkIterations(iterations: number): void {
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) {
    throw new InputError(`iterations must be a whole number from 1 to ${MAX_ITERATIONS}, got ${String(iterations)}; use 4096 (the PostgreSQL default) or more`, 'iterations');
  }
}

/**
 * A SCRAM-SHA-256 verifier in PostgreSQL's format
 * `SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>`,
 * byte-identical to what PostgreSQL stores for the same password, salt and iteration count.
 */
export function scramSecret(password: string, options: ScramSecretOptions = {}): string {
  const iterations = options.iterations ?? SCRAM_DEFAULT_ITERATIONS;
  checkIterations(iterations);
  const salt = options.salt ?? randomBytes(SCRAM_DEFAULT_SALT_LEN);
  if (!Buffer.isBuffer(salt) || salt.length === 0) {
    throw new InputError('salt must be a non-empty Buffer; omit it to get a random 16-byte salt', 'salt');
  }
  const { storedKey, serverKey } = computeKeys(scramPasswordBytes(password), salt, iterations);
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

const B64 = '[A-Za-z0-9+/]';
const SCRAM_SECRET = new RegExp(
  `^SCRAM-SHA-256\\$([1-9][0-9]{0,9}):((?:${B64}{4})*(?:${B64}{2}==|${B64}{3}=)?)\\$(${B64}{43}=):(${B64}{43}=)$`,
);

/** Decodes canonical padded base64 only (re-encoding must give the same text). */
function decodeCanonicalBase64(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

/**
 * Parses a PostgreSQL SCRAM-SHA-256 verifier. Strict: only canonical, padded base64, a decimal
 * iteration count from 1 to 2^31-1 without leading zeros, a non-empty salt and 32-byte keys.
 * Returns undefined for anything else (PostgreSQL would silently treat such a string as a
 * plain-text password and hash it again).
 */
export function parseScramSecret(secret: string): ParsedScramSecret | undefined {
  const m = SCRAM_SECRET.exec(secret);
  if (!m) return undefined;
  const [, iterText, saltText, storedText, serverText] = m as unknown as [string, string, string, string, string];
  const iterations = Number(iterText);
  if (iterations > MAX_ITERATIONS) return undefined;
  if (saltText.length === 0) return undefined;
  const salt = decodeCanonicalBase64(saltText);
  const storedKey = decodeCanonicalBase64(storedText);
  const serverKey = decodeCanonicalBase64(serverText);
  if (!salt || !storedKey || !serverKey) return undefined;
  if (storedKey.length !== SCRAM_KEY_LEN || serverKey.length !== SCRAM_KEY_LEN) return undefined;
  return { iterations, salt, storedKey, serverKey };
}

export function isValidScramSecret(secret: string): boolean {
  return parseScramSecret(secret) !== undefined;
}

/**
 * True when `password` matches the verifier (recomputed with its salt and iteration count).
 * False for a malformed verifier or a password no client could send.
 */
export function verifyScramPassword(secret: string, password: string): boolean {
  const parsed = parseScramSecret(secret);
  if (!parsed) return false;
  let bytes: Buffer;
  try {
    bytes = scramPasswordBytes(password);
  } catch {
    return false;
  }
  const { storedKey, serverKey } = computeKeys(bytes, parsed.salt, parsed.iterations);
  // Evaluate both comparisons so timing does not depend on which key differs.
  const storedOk = timingSafeEqual(storedKey, parsed.storedKey);
  const serverOk = timingSafeEqual(serverKey, parsed.serverKey);
  return storedOk && serverOk;
}
