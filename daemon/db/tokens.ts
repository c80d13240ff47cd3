/** Data access for API tokens. Only the SHA-256 of a token is stored. */
import { createHash } from 'node:crypto';
import { asc, eq, or } from 'drizzle-orm';
import { mapConstraintError } from './errors.js';
import { newId } from './ids.js';
import type { DbLike } from './open.js';
import { tokens } from './schema.js';

/** A token row (never the token itself). */
export type TokenRow = typeof tokens.$inferSelect;

/** Hex SHA-256 of a token: what is stored and looked up. Tokens are long random strings, so no salt/KDF is needed. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

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

/** Sets last_used_at. */
export function touchToken(db: DbLike, id: string, at: Date = new Date()): void {
  db.update(tokens).set({ lastUsedAt: at }).where(eq(tokens.id, id)).run();
}

export function listTokens(db: DbLike): TokenRow[] {
  return db.select().from(tokens).orderBy(asc(tokens.createdAt), asc(tokens.name)).all();
}

/** Deletes by id or name. Returns false if none matched. */
export function deleteToken(db: DbLike, idOrName: string): boolean {
  return db.delete(tokens).where(or(eq(tokens.id, idOrName), eq(tokens.name, idOrName))).run().changes > 0;
}
