/**
 * API token secrets: generation, hashing, comparison.
 *
 * A token is `hob_` followed by 32 random bytes in base64url (43 characters).
 * Only its SHA-256 is stored. A plain hash (no salt, no slow KDF) is enough
 * because the secret is 256 random bits, not a password: there is nothing to
 * guess, and a stolen hash cannot be reversed. Lookups go by hash; the final
 * comparison is constant-time anyway.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const TOKEN_PREFIX = 'hob_';
const TOKEN_PATTERN = /^hob_[A-Za-z0-9_-]{43}$/;

/** A new token secret (shown to the user once) and the hash to store. */
export function generateToken(): { token: string; hash: string } {
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  return { token, hash: hashToken(token) };
}

/** Hex SHA-256 of a token, as stored. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Whether a string has the shape of a hob token (cheap check before hashing anything). */
export function looksLikeToken(text: string): boolean {
  return TOKEN_PATTERN.test(text);
}

/** Constant-time check of a presented token against a stored hash. */
export function tokenMatchesHash(token: string, storedHash: string): boolean {
  const presented = createHash('sha256').update(token, 'utf8').digest();
  if (!/^[0-9a-f]{64}$/.test(storedHash)) return false;
  return timingSafeEqual(presented, Buffer.from(storedHash, 'hex'));
}
