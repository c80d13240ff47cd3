/** Data access for API tokens. Only the SHA-256 of a token is stored. */
import { eq } from 'drizzle-orm';
import { mapConstraintError } from './errors.js';
import { newId } from './ids.js';
import type { DbLike } from './open.js';
import { tokens } from './schema.js';

/** A token row (never the token itself). */
export type TokenRow = typeof tokens.$inferSelect;

export { hashToken } from '../auth/secret.js';

/** @throws ConflictError if the name is taken. */
export function insertToken(db: DbLike, input: { name: string; hash: string }): TokenRow {
  try {
    return db.insert(tokens).values({ id: newId(), name: input.name, hash: input.hash, createdAt: new Date() }).returning().get();
  } catch (err) {
    return mapConstraintError(err, `a token named "${input.name}" already exists`);
  }
}

export function getTokenByHash(db: DbLike, hash: string): TokenRow | undefined {
  return db.select().from(tokens).where(eq(tokens.hash, hash)).get();
}

