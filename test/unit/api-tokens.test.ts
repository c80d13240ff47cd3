import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateToken, hashToken, looksLikeToken, tokenMatchesHash } from '../../daemon/auth/secret.js';
import { TokenStore } from '../../daemon/auth/tokens.js';
import { closeDatabase, openDatabase, type HobDb } from '../../daemon/db/open.js';
import { ConflictError, NotFoundError } from '../../daemon/errors.js';

describe('token secrets', () => {
  it('generates distinct hob_ tokens of 256 random bits and hashes them with SHA-256', () => {
    const a = generateToken();
    const b = generateToken();
    expect(a.token).toMatch(/^hob_[A-Za-z0-9_-]{43}$/);
    expect(a.token).not.toBe(b.token);
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(a.hash).toBe(hashToken(a.token));
    expect(a.hash).not.toContain(a.token.slice(4));
    expect(looksLikeToken(a.token)).toBe(true);
    expect(looksLikeToken('hob_short')).toBe(false);
  });

  it('compares against a stored hash', () => {
    const { token, hash } = generateToken();
    expect(tokenMatchesHash(token, hash)).toBe(true);
    expect(tokenMatchesHash(token + 'x', hash)).toBe(false);
    expect(tokenMatchesHash(token, 'not-a-hash')).toBe(false);
  });
});

describe('TokenStore', () => {
  let dir: string;
  let db: HobDb;
  let store: TokenStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hob-tokens-'));
    db = openDatabase(join(dir, 'hob.db'));
    store = new TokenStore(db);
  });
  afterEach(() => {
    closeDatabase(db);
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a token, stores only its hash, and verifies it', () => {
    const created = store.create('laptop');
    expect(created.token).toMatch(/^hob_/);
    const rows = db.$client.prepare('SELECT * FROM tokens').all() as Array<Record<string, unknown>>;
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(created.token);
    expect(rows[0]?.hash).toBe(hashToken(created.token));
    const verified = store.verify(created.token);
    expect(verified?.id).toBe(created.id);
    expect(verified?.lastUsedAt).not.toBeNull();
    expect(store.verify(generateToken().token)).toBeUndefined();
    expect(store.verify('garbage')).toBeUndefined();
  });

  it('records the last use', () => {
    const created = store.create('ci');
    expect(store.list()[0]?.lastUsedAt).toBeNull();
    store.verify(created.token);
    expect(store.list()[0]?.lastUsedAt).not.toBeNull();
  });

  it('lists without secrets, refuses duplicate names, revokes', () => {
    const a = store.create('a');
    store.create('b');
    expect(() => store.create('a')).toThrow(ConflictError);
    const listed = store.list();
    expect(listed.map((t) => t.name)).toEqual(['a', 'b']);
    expect(JSON.stringify(listed)).not.toContain('hob_');
    store.revoke(a.id);
    expect(store.verify(a.token)).toBeUndefined();
    expect(store.list().map((t) => t.name)).toEqual(['b']);
    expect(() => store.revoke(a.id)).toThrow(NotFoundError);
  });
});
