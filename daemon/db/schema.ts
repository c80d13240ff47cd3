/**
 * The database schema (drizzle, SQLite). Changing it means generating a new
 * migration: `npx drizzle-kit generate` (see drizzle.config.ts), committing
 * the SQL it writes to daemon/db/migrations, and never editing a migration
 * that was released. Times are unix milliseconds (`Date` in TypeScript).
 *
 * CHECK constraints repeat the most important rules of the API's validation
 * so that no code path can store a row the rest of hob cannot handle.
 */
import { sql } from 'drizzle-orm';
import { blob, check, index, integer, primaryKey, sqliteTable, text, unique } from 'drizzle-orm/sqlite-core';

/** Lifecycle states, see docs/architecture.md §7. */
export const SANDBOX_STATES = ['creating', 'running', 'paused', 'hibernated', 'stopped', 'error', 'destroying'] as const;
export type SandboxState = (typeof SANDBOX_STATES)[number];

/** Same values as VmmKind in daemon/vmm/types.ts. */
export const VMM_KINDS = ['qemu', 'cloud-hypervisor'] as const;
export const URL_AUTH = ['private', 'public'] as const;
/** 'disk': filesystem only (the VM keeps running); 'live': disk plus memory (VM paused and snapshotted). */
export const CHECKPOINT_KINDS = ['disk', 'live'] as const;

/** Settings kept as JSON for features that do not have a column yet. Keys are owned by core/. */
export type SandboxExtraConfig = Record<string, unknown>;

/** SQL `IN (...)` list of string literals, for CHECK constraints on enum columns. */
const oneOf = (values: readonly string[]) => sql.raw(`(${values.map((v) => `'${v}'`).join(', ')})`);

const createdAt = () => integer('created_at', { mode: 'timestamp_ms' }).notNull().$defaultFn(() => new Date());

export const sandboxes = sqliteTable('sandboxes', {
  /** Short random id (see ids.ts); names the subvolume, run dir, tap... never reused. */
  id: text('id').primaryKey(),
  /** User-facing name, a DNS label (lowercase letters, digits, '-', 1-63 chars); unique. */
  name: text('name').notNull().unique(),
  state: text('state', { enum: SANDBOX_STATES }).notNull(),
  /** When `state` was last set. */
  stateSince: integer('state_since', { mode: 'timestamp_ms' }).notNull(),
  /** Image the sandbox was created from. */
  image: text('image').notNull(),
  cpus: integer('cpus').notNull(),
  memoryMiB: integer('memory_mib').notNull(),
  /** Apparent size of disk.img in bytes. */
  diskBytes: integer('disk_bytes').notNull(),
  /** VMM the sandbox runs under; a memory snapshot can only be resumed by the same one. */
  vmm: text('vmm', { enum: VMM_KINDS }).notNull(),
  createdAt: createdAt(),
  updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull().$defaultFn(() => new Date()),
  /** Why the sandbox is in state 'error' (or the last failure), else null. */
  lastError: text('last_error'),
  /** Whether its URL needs a token ('private', default) or not ('public'). */
  urlAuth: text('url_auth', { enum: URL_AUTH }).notNull().default('private'),
  /** User labels (Sprites: a list of strings). */
  labels: text('labels', { mode: 'json' }).$type<string[]>().notNull().default([]),
  /** Environment variables for exec sessions and services, string to string. */
  environment: text('environment', { mode: 'json' }).$type<Record<string, string>>().notNull().default({}),
  /** Future settings without a column of their own. */
  config: text('config', { mode: 'json' }).$type<SandboxExtraConfig>().notNull().default({}),
  /** Highest checkpoint seq ever given out for this sandbox: seqs are never reused, even after deletes. */
  checkpointSeq: integer('checkpoint_seq').notNull().default(0),
  /**
   * A spare (docs/architecture.md §31): a sandbox resumed from a warm template ahead of any
   * create and kept paused, which the next create of its shape takes over. Hidden from every
   * list, lookup by name and event listing until a create claims it (db/sandboxes.ts).
   */
  spare: integer('spare', { mode: 'boolean' }).notNull().default(false),
}, (t) => [
  check('sandboxes_name_dns_label', sql`length(${t.name}) BETWEEN 1 AND 63 AND ${t.name} NOT GLOB '*[^a-z0-9-]*' AND ${t.name} NOT GLOB '-*' AND ${t.name} NOT GLOB '*-'`),
  check('sandboxes_resources', sql`${t.cpus} > 0 AND ${t.memoryMiB} > 0 AND ${t.diskBytes} > 0`),
  check('sandboxes_json', sql`json_valid(${t.labels}) AND json_valid(${t.environment}) AND json_valid(${t.config})`),
  check('sandboxes_checkpoint_seq', sql`${t.checkpointSeq} >= 0`),
  check('sandboxes_enums', sql`${t.state} IN ${oneOf(SANDBOX_STATES)} AND ${t.vmm} IN ${oneOf(VMM_KINDS)} AND ${t.urlAuth} IN ${oneOf(URL_AUTH)}`),
]);

export const checkpoints = sqliteTable('checkpoints', {
  /** Random id (see ids.ts); names the subvolume checkpoints/<sandbox-id>/<id>. */
  id: text('id').primaryKey(),
  /** Deleting the sandbox row deletes its checkpoint rows. */
  sandboxId: text('sandbox_id').notNull().references(() => sandboxes.id, { onDelete: 'cascade' }),
  /** 1, 2, 3... per sandbox; shown as "v1", "v2"... Unique per sandbox, never reused. */
  seq: integer('seq').notNull(),
  comment: text('comment').notNull().default(''),
  kind: text('kind', { enum: CHECKPOINT_KINDS }).notNull(),
  /** Taken by hob itself (e.g. before a restore), not asked for by the user. */
  auto: integer('auto', { mode: 'boolean' }).notNull().default(false),
  createdAt: createdAt(),
  /** Exclusive bytes of the checkpoint's subvolume when last measured; null until then. */
  sizeBytes: integer('size_bytes'),
}, (t) => [
  unique('checkpoints_sandbox_seq').on(t.sandboxId, t.seq),
  check('checkpoints_seq_positive', sql`${t.seq} >= 1`),
  check('checkpoints_kind', sql`${t.kind} IN ${oneOf(CHECKPOINT_KINDS)}`),
]);

export const tokens = sqliteTable('tokens', {
  id: text('id').primaryKey(),
  /** Human name ("laptop", "ci"); unique. */
  name: text('name').notNull().unique(),
  /** Hex SHA-256 of the token. The token itself is never stored. */
  hash: text('hash').notNull().unique(),
  createdAt: createdAt(),
  lastUsedAt: integer('last_used_at', { mode: 'timestamp_ms' }),
  /** Scope (docs/architecture.md §16): only sandboxes whose names start with this; null = all. */
  scopePrefix: text('scope_prefix'),
  /** Scope: at most this many sandboxes in the prefix (creates beyond it are refused); null = no limit. */
  maxSandboxes: integer('max_sandboxes'),
}, (t) => [
  check('tokens_hash_sha256', sql`length(${t.hash}) = 64 AND ${t.hash} NOT GLOB '*[^0-9a-f]*'`),
  check('tokens_scope_prefix', sql`${t.scopePrefix} IS NULL OR (length(${t.scopePrefix}) BETWEEN 1 AND 62 AND ${t.scopePrefix} NOT GLOB '*[^a-z0-9-]*' AND ${t.scopePrefix} NOT GLOB '-*')`),
  check('tokens_max_sandboxes', sql`${t.maxSandboxes} IS NULL OR ${t.maxSandboxes} BETWEEN 0 AND 10000`),
]);

export const events = sqliteTable('events', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  /**
   * The sandbox the event is about, or null for daemon-wide events. Not a
   * foreign key on purpose: the history of a destroyed sandbox stays.
   */
  sandboxId: text('sandbox_id'),
  /** e.g. 'state' (data: {from, to, error?}); other modules add their own types. */
  type: text('type').notNull(),
  data: text('data', { mode: 'json' }).$type<Record<string, unknown>>().notNull().default({}),
  at: integer('at', { mode: 'timestamp_ms' }).notNull().$defaultFn(() => new Date()),
}, (t) => [
  index('events_sandbox_id').on(t.sandboxId, t.id),
  check('events_data_json', sql`json_valid(${t.data})`),
]);

/**
 * Secrets that never enter a sandbox (docs/architecture.md §11). The value is
 * stored only as AES-256-GCM ciphertext (daemon/secrets/cipher.ts); the key is a
 * root-only file beside the database, so a copy of the database alone reveals
 * nothing. Names and hosts follow daemon/secrets/validate.ts.
 */
export const secrets = sqliteTable('secrets', {
  /** Letters, digits, '_' and '-', starting with a letter, 1-64 chars; the key of the secret. */
  name: text('name').primaryKey(),
  /** Host patterns ("api.example.com" or "*.example.com"), normalized, at least one. */
  hosts: text('hosts', { mode: 'json' }).$type<string[]>().notNull(),
  /** Format version byte, 12-byte nonce, 16-byte tag, ciphertext (daemon/secrets/cipher.ts). */
  valueSealed: blob('value_sealed', { mode: 'buffer' }).notNull(),
  createdAt: createdAt(),
  updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull().$defaultFn(() => new Date()),
}, (t) => [
  check('secrets_name', sql`length(${t.name}) BETWEEN 1 AND 64 AND ${t.name} NOT GLOB '*[^A-Za-z0-9_-]*' AND ${t.name} GLOB '[A-Za-z]*'`),
  check('secrets_hosts_json', sql`json_valid(${t.hosts}) AND json_type(${t.hosts}) = 'array' AND json_array_length(${t.hosts}) >= 1`),
  check('secrets_value_sealed', sql`length(${t.valueSealed}) > 29`),
]);

/**
 * A secret granted to a sandbox: the guest sees `placeholder` in variable
 * `env`, hob's secret proxy swaps it for the value on the way to the secret's
 * hosts. Deleting the sandbox or the secret deletes the grant.
 */
export const secretGrants = sqliteTable('secret_grants', {
  sandboxId: text('sandbox_id').notNull().references(() => sandboxes.id, { onDelete: 'cascade' }),
  secretName: text('secret_name').notNull().references(() => secrets.name, { onDelete: 'cascade', onUpdate: 'cascade' }),
  /** Environment variable the guest reads the placeholder from. */
  env: text('env').notNull(),
  /** `hob-secret-<sandbox id>-<26 random base32 chars>` (daemon/secrets/placeholder.ts); unique everywhere. */
  placeholder: text('placeholder').notNull().unique(),
  createdAt: createdAt(),
}, (t) => [
  primaryKey({ columns: [t.sandboxId, t.secretName] }),
  unique('secret_grants_sandbox_env').on(t.sandboxId, t.env),
  check('secret_grants_env', sql`length(${t.env}) BETWEEN 1 AND 128 AND ${t.env} NOT GLOB '*[^A-Za-z0-9_]*' AND ${t.env} NOT GLOB '[0-9]*'`),
  check('secret_grants_placeholder', sql`${t.placeholder} GLOB 'hob-secret-*'`),
]);
