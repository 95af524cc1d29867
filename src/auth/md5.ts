import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * PostgreSQL / pgbouncer MD5 secret: `'md5' + hex(md5(password || username))`, UTF-8 bytes,
 * password first, no separator, lowercase hex.
 */
export function md5Secret(username: string, password: string): string {
  const hash = createHash('md5');
  hash.update(Buffer.from(password, 'utf8'));
  hash.update(Buffer.from(username, 'utf8'));
  return 'md5' + hash.digest('hex');
}

const MD5_SECRET = /^md5[0-9a-f]{32}$/;

/**
 * Exactly what PostgreSQL and pgbouncer recognise as an MD5 secret: `md5` + 32 lowercase hex digits.
 * Anything else (uppercase hex, wrong length) is silently taken as a plain-text password.
 */
export function isValidMd5Secret(secret: string): boolean {
  return MD5_SECRET.test(secret);
}

/** True when `password` of `username` hashes to `secret` (a well-formed MD5 secret). */
export function verifyMd5Password(secret: string, username: string, password: string): boolean {
  if (!isValidMd5Secret(secret)) return false;
  return timingSafeEqual(Buffer.from(md5Secret(username, password)), Buffer.from(secret));
}
