import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { InputError } from '../text/errors.js';
import { isWellFormedUnicode, saslprep } from './saslprep.js';

/** PostgreSQL defaults (src/include/common/scram-common.h). */
const SCRAM_DEFAULT_ITERATIONS = 4096;
const SCRAM_DEFAULT_SALT_LEN = 16;
/** SHA-256 output; StoredKey and ServerKey must decode to exactly this many bytes. */
const SCRAM_KEY_LEN = 32;
/**
 * The iteration counts pgb-setup reads and writes. PostgreSQL 16 lets scram_iterations go up to
 * 2^31-1, but every login pays the PBKDF2 rounds (100,000 take about 55 ms here; 2^31-1 took a
 * PostgreSQL backend 10 uncancellable minutes), so a verifier from a file or a server above this
 * bound is refused instead of computed.
 */
const SCRAM_MIN_ITERATIONS = 1;
export const SCRAM_MAX_ITERATIONS = 100_000;

interface ScramSecretOptions {
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

/** StoredKey and ServerKey (RFC 5802) for prepared password bytes; the caller checks the count. */
export function scramKeys(passwordBytes: Buffer, salt: Buffer, iterations: number): { storedKey: Buffer; serverKey: Buffer; clientKey: Buffer } {
  const saltedPassword = pbkdf2Sync(passwordBytes, salt, iterations, SCRAM_KEY_LEN, 'sha256');
  const clientKey = createHmac('sha256', saltedPassword).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', saltedPassword).update('Server Key').digest();
  return { storedKey, serverKey, clientKey };
}

export function iterationsInRange(iterations: number): boolean {
  return Number.isInteger(iterations) && iterations >= SCRAM_MIN_ITERATIONS && iterations <= SCRAM_MAX_ITERATIONS;
}

/** "from 1 to 100000": for messages. */
export const SCRAM_ITERATIONS_RANGE = `from ${SCRAM_MIN_ITERATIONS} to ${SCRAM_MAX_ITERATIONS}`;

function checkIterations(iterations: number): void {
  if (!iterationsInRange(iterations)) {
    throw new InputError(`iterations must be a whole number ${SCRAM_ITERATIONS_RANGE}, got ${String(iterations)}; use 4096 (the PostgreSQL default)`, 'iterations');
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
  const { storedKey, serverKey } = scramKeys(scramPasswordBytes(password), salt, iterations);
  return formatScramSecret({ iterations, salt, storedKey, serverKey });
}

export function formatScramSecret(p: ParsedScramSecret): string {
  return `SCRAM-SHA-256$${p.iterations}:${p.salt.toString('base64')}$${p.storedKey.toString('base64')}:${p.serverKey.toString('base64')}`;
}

const B64 = '[A-Za-z0-9+/]';
const SCRAM_SECRET = new RegExp(
  `^SCRAM-SHA-256\\$(-?[0-9]+):((?:${B64}{4})*(?:${B64}{2}==|${B64}{3}=)?)\\$(${B64}{43}=):(${B64}{43}=)$`,
);

/** Decodes canonical padded base64 only (re-encoding must give the same text). */
export function decodeCanonicalBase64(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

interface ScramSecretShape {
  /** The iteration count as written (may be out of range, negative or huge). */
  iterationsText: string;
  /** True when the count is a plain decimal from 1 to SCRAM_MAX_ITERATIONS. */
  iterationsOk: boolean;
}

/**
 * A verifier's structure without judging its iteration count: PostgreSQL's own parser takes
 * `SCRAM-SHA-256$0:...` or `$99999999999:...` as a SCRAM verifier (strtol, no range check), so
 * such a string is an out-of-range verifier, not a plain-text password. Undefined when the
 * structure is wrong (bad base64, wrong key length, empty salt).
 */
export function scramSecretShape(secret: string): ScramSecretShape | undefined {
  const m = SCRAM_SECRET.exec(secret);
  if (!m) return undefined;
  const [, iterText, saltText, storedText, serverText] = m as unknown as [string, string, string, string, string];
  if (saltText.length === 0) return undefined;
  const salt = decodeCanonicalBase64(saltText);
  const storedKey = decodeCanonicalBase64(storedText);
  const serverKey = decodeCanonicalBase64(serverText);
  if (!salt || !storedKey || !serverKey) return undefined;
  if (storedKey.length !== SCRAM_KEY_LEN || serverKey.length !== SCRAM_KEY_LEN) return undefined;
  return { iterationsText: iterText, iterationsOk: /^[1-9][0-9]{0,9}$/.test(iterText) && iterationsInRange(Number(iterText)) };
}

/**
 * Parses a PostgreSQL SCRAM-SHA-256 verifier. Strict: only canonical, padded base64, a decimal
 * iteration count from 1 to SCRAM_MAX_ITERATIONS without leading zeros, a non-empty salt and
 * 32-byte keys. Returns undefined for anything else; see scramSecretShape for telling an
 * out-of-range count from a malformed string.
 */
export function parseScramSecret(secret: string): ParsedScramSecret | undefined {
  const shape = scramSecretShape(secret);
  if (!shape?.iterationsOk) return undefined;
  const m = SCRAM_SECRET.exec(secret)!;
  return {
    iterations: Number(shape.iterationsText),
    salt: Buffer.from(m[2]!, 'base64'),
    storedKey: Buffer.from(m[3]!, 'base64'),
    serverKey: Buffer.from(m[4]!, 'base64'),
  };
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
  const { storedKey, serverKey } = scramKeys(bytes, parsed.salt, parsed.iterations);
  // Evaluate both comparisons so timing does not depend on which key differs.
  const storedOk = timingSafeEqual(storedKey, parsed.storedKey);
  const serverOk = timingSafeEqual(serverKey, parsed.serverKey);
  return storedOk && serverOk;
}
