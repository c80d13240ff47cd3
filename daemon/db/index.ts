/**
 * hob's database: SQLite (better-sqlite3) through drizzle. `openDatabase`
 * gives a typed handle with the schema migrated; the data-access functions
 * take it (or a transaction) as their first argument.
 */
export { openDatabase, closeDatabase, defaultMigrationsFolder, type HobDb, type DbLike, type OpenDatabaseOptions } from './open.js';
export * as schema from './schema.js';
export { SANDBOX_STATES, CHECKPOINT_KINDS, URL_AUTH, VMM_KINDS, type SandboxState, type SandboxExtraConfig } from './schema.js';
export { newId, idSchema, sandboxNameSchema } from './ids.js';
export * from './sandboxes.js';
export * from './checkpoints.js';
export * from './events.js';
export * from './tokens.js';
