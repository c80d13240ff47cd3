/**
 * API tokens: created with a name, shown once, stored as a SHA-256 hash only
 * (see secret.ts), listed, revoked. `verify` is what the TCP listener calls
 * on every request; it records when a token was last used (at most once a
 * minute per token, so a busy client does not turn every request into a
 * database write).
 */
import { eq } from 'drizzle-orm';
import { NotFoundError } from '../errors.js';
import { mapConstraintError } from '../db/errors.js';
import { newId } from '../db/ids.js';
import type { HobDb } from '../db/open.js';
import { tokens } from '../db/schema.js';
import { UNSCOPED, type TokenScope } from './scope.js';
import { generateToken, hashToken, looksLikeToken, tokenMatchesHash } from './secret.js';

/** A token as listed: never the secret. */
export interface TokenInfo {
  readonly id: string;
  readonly name: string;
  /** ISO 8601. */
  readonly createdAt: string;
  /** ISO 8601, or null if never used. Updated at most once a minute. */
  readonly lastUsedAt: string | null;
  /** What the token may reach (auth/scope.ts); UNSCOPED for a token of the whole API. */
  readonly scope: TokenScope;
}

/** A freshly created token: the only time the secret is available. */
export interface CreatedToken extends TokenInfo {
  /** `hob_...`: give it to the client; hob cannot show it again. */
  readonly token: string;
}

/** How often `verify` writes last_used_at for the same token. */
const TOUCH_INTERVAL_MS = 60_000;

export class TokenStore {
  private readonly lastTouch = new Map<string, number>();

  constructor(private readonly db: HobDb) {}

  /** Creates a token, limited to `scope` if given. Throws ConflictError when the name is taken. */
  create(name: string, scope: TokenScope = UNSCOPED): CreatedToken {
    const { token, hash } = generateToken();
    const id = newId();
    const createdAt = new Date();
    try {
      this.db.insert(tokens).values({ id, name, hash, createdAt, lastUsedAt: null, scopePrefix: scope.prefix, maxSandboxes: scope.maxSandboxes }).run();
    } catch (err) {
      mapConstraintError(err, `a token named "${name}" already exists`);
    }
    return { id, name, createdAt: createdAt.toISOString(), lastUsedAt: null, scope, token };
  }

  /** Every token, oldest first. */
  list(): TokenInfo[] {
    return this.db
      .select()
      .from(tokens)
      .all()
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
      .map(toInfo);
  }

  /** Deletes a token: requests using it fail from now on. Throws NotFoundError. */
  revoke(id: string): void {
    const result = this.db.delete(tokens).where(eq(tokens.id, id)).run();
    if (result.changes === 0) throw new NotFoundError(`no token with id ${id}`);
    this.lastTouch.delete(id);
  }

  /** The token a presented secret belongs to, or undefined. Records the use. */
  verify(presented: string): TokenInfo | undefined {
    if (!looksLikeToken(presented)) return undefined;
    const row = this.db.select().from(tokens).where(eq(tokens.hash, hashToken(presented))).get();
    if (!row || !tokenMatchesHash(presented, row.hash)) return undefined;
    const now = Date.now();
    if (now - (this.lastTouch.get(row.id) ?? 0) >= TOUCH_INTERVAL_MS) {
      this.lastTouch.set(row.id, now);
      this.db.update(tokens).set({ lastUsedAt: new Date(now) }).where(eq(tokens.id, row.id)).run();
      return toInfo({ ...row, lastUsedAt: new Date(now) });
    }
    return toInfo(row);
  }
}

function toInfo(row: typeof tokens.$inferSelect): TokenInfo {
  return {
    id: row.id,
    name: row.name,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt ? row.lastUsedAt.toISOString() : null,
    scope: { prefix: row.scopePrefix, maxSandboxes: row.maxSandboxes },
  };
}
