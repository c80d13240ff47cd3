/**
 * The secret store (docs/architecture.md §11): secrets (name, hosts, sealed
 * value) and their grants to sandboxes, in hob's database. Every input is
 * validated before anything is written and each change is one transaction,
 * so a refused request leaves nothing behind. Values leave the store only
 * through `activeSecrets`, for the secret proxy; nothing else returns them.
 */
import { and, asc, eq } from 'drizzle-orm';
import { mapConstraintError } from '../db/errors.js';
import type { DbLike } from '../db/open.js';
import { sandboxes, secretGrants, secrets } from '../db/schema.js';
import type { SecretCipher } from './cipher.js';
import { SecretConflictError, SecretNotFoundError } from './errors.js';
import { newPlaceholder } from './placeholder.js';
import { envNameSchema, hostPatternsSchema, parseField, secretNameSchema, secretValueSchema } from './validate.js';

/** A secret as hob shows it: never the value. */
export interface SecretInfo {
  name: string;
  hosts: string[];
  createdAt: Date;
  updatedAt: Date;
}

/** A grant of a secret to a sandbox. */
export interface GrantInfo {
  sandboxId: string;
  secretName: string;
  /** The guest variable holding the placeholder. */
  env: string;
  placeholder: string;
  createdAt: Date;
}

/** What the secret proxy needs for one granted secret, value included. */
export interface ActiveSecret {
  secretName: string;
  hosts: readonly string[];
  placeholder: string;
  value: string;
}

/** The variable a grant uses when none is given: the name in upper case, '-' as '_'. */
export function defaultEnvName(secretName: string): string {
  return secretName.toUpperCase().replaceAll('-', '_');
}

export class SecretStore {
  constructor(
    private readonly db: DbLike,
    private readonly cipher: SecretCipher,
  ) {}

  /**
   * Creates the secret or replaces its hosts and value (its grants and their
   * placeholders stay, so running sandboxes use the new value at their next request).
   * @throws InvalidSecretInputError for a bad name, hosts or value (nothing is written).
   */
  set(input: { name: unknown; hosts: unknown; value: unknown }): SecretInfo {
    const name = parseField(secretNameSchema, 'name', input.name);
    const hosts = parseField(hostPatternsSchema, 'hosts', input.hosts);
    const value = parseField(secretValueSchema, 'value', input.value);
    const sealed = this.cipher.seal(name, value);
    const now = new Date();
    const row = this.db.insert(secrets)
      .values({ name, hosts, valueSealed: sealed, createdAt: now, updatedAt: now })
      .onConflictDoUpdate({ target: secrets.name, set: { hosts, valueSealed: sealed, updatedAt: now } })
      .returning({ name: secrets.name, hosts: secrets.hosts, createdAt: secrets.createdAt, updatedAt: secrets.updatedAt })
      .get();
    return row;
  }

  /** All secrets, by name. */
  list(): SecretInfo[] {
    return this.db.select({ name: secrets.name, hosts: secrets.hosts, createdAt: secrets.createdAt, updatedAt: secrets.updatedAt })
      .from(secrets).orderBy(asc(secrets.name)).all();
  }

  /** @throws SecretNotFoundError, InvalidSecretInputError */
  get(name: unknown): SecretInfo {
    const n = parseField(secretNameSchema, 'name', name);
    const row = this.db.select({ name: secrets.name, hosts: secrets.hosts, createdAt: secrets.createdAt, updatedAt: secrets.updatedAt })
      .from(secrets).where(eq(secrets.name, n)).get();
    if (!row) throw new SecretNotFoundError(`no secret named "${n}"`);
    return row;
  }

  /** Removes the secret and every grant of it. @throws SecretNotFoundError, InvalidSecretInputError */
  remove(name: unknown): void {
    const n = parseField(secretNameSchema, 'name', name);
    const r = this.db.delete(secrets).where(eq(secrets.name, n)).run();
    if (r.changes === 0) throw new SecretNotFoundError(`no secret named "${n}"`);
  }

  /**
   * Grants secret `secretName` to sandbox `sandboxId` (an id, not a name) under
   * variable `env` (default: defaultEnvName) with a new placeholder.
   * @throws InvalidSecretInputError, SecretNotFoundError (sandbox or secret),
   *   SecretConflictError (already granted, or the variable is taken).
   */
  grant(sandboxId: string, secretName: unknown, env?: unknown): GrantInfo {
    const name = parseField(secretNameSchema, 'name', secretName);
    const variable = parseField(envNameSchema, 'env', env ?? defaultEnvName(name));
    return this.db.transaction((tx) => {
      if (!tx.select({ id: sandboxes.id }).from(sandboxes).where(eq(sandboxes.id, sandboxId)).get()) throw new SecretNotFoundError(`no sandbox with id "${sandboxId}"`);
      if (!tx.select({ name: secrets.name }).from(secrets).where(eq(secrets.name, name)).get()) throw new SecretNotFoundError(`no secret named "${name}"`);
      const existing = tx.select().from(secretGrants).where(eq(secretGrants.sandboxId, sandboxId)).all();
      if (existing.some((g) => g.secretName === name)) throw new SecretConflictError(`secret "${name}" is already granted to this sandbox; revoke it first`);
      if (existing.some((g) => g.env === variable)) throw new SecretConflictError(`variable ${variable} already holds another secret in this sandbox`);
      try {
        return tx.insert(secretGrants).values({ sandboxId, secretName: name, env: variable, placeholder: newPlaceholder(sandboxId), createdAt: new Date() }).returning().get();
      } catch (err) {
        return mapConstraintError(err, `secret "${name}" cannot be granted as ${variable}`);
      }
    });
  }

  /** Ends a grant; the proxy stops substituting at the next request. @throws SecretNotFoundError, InvalidSecretInputError */
  revoke(sandboxId: string, secretName: unknown): void {
    const name = parseField(secretNameSchema, 'name', secretName);
    const r = this.db.delete(secretGrants).where(and(eq(secretGrants.sandboxId, sandboxId), eq(secretGrants.secretName, name))).run();
    if (r.changes === 0) throw new SecretNotFoundError(`secret "${name}" is not granted to this sandbox`);
  }

  /** The grants of one sandbox, by secret name. */
  grants(sandboxId: string): GrantInfo[] {
    return this.db.select().from(secretGrants).where(eq(secretGrants.sandboxId, sandboxId)).orderBy(asc(secretGrants.secretName)).all();
  }

  /** Ids of the sandboxes a secret is granted to. */
  sandboxesGranted(secretName: string): string[] {
    return this.db.select({ id: secretGrants.sandboxId }).from(secretGrants).where(eq(secretGrants.secretName, secretName)).all().map((r) => r.id);
  }

  /** The host patterns of every secret granted to the sandbox (no values: the redirect's question). */
  grantedHosts(sandboxId: string): string[] {
    return this.db.select({ hosts: secrets.hosts }).from(secretGrants).innerJoin(secrets, eq(secrets.name, secretGrants.secretName))
      .where(eq(secretGrants.sandboxId, sandboxId)).all().flatMap((r) => r.hosts);
  }

  /**
   * The sandbox's granted secrets with their values, read afresh at every call
   * (the proxy calls it per request, which is how a revoke takes effect at once).
   * @throws SecretKeyError if a value does not decrypt.
   */
  activeSecrets(sandboxId: string): ActiveSecret[] {
    const rows = this.db.select({ secretName: secrets.name, hosts: secrets.hosts, sealed: secrets.valueSealed, placeholder: secretGrants.placeholder })
      .from(secretGrants).innerJoin(secrets, eq(secrets.name, secretGrants.secretName))
      .where(eq(secretGrants.sandboxId, sandboxId)).all();
    return rows.map((r) => ({ secretName: r.secretName, hosts: r.hosts, placeholder: r.placeholder, value: this.cipher.open(r.secretName, r.sealed) }));
  }
}
