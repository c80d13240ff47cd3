/**
 * Opening the database: pragmas, then the migrations in daemon/db/migrations.
 *
 * Durability: WAL with synchronous=FULL. With WAL every commit is appended to
 * the -wal file; NORMAL would already survive a crash of hobd (the committed
 * frames are in the OS page cache), but not a power loss or kernel panic, which
 * could lose the last commits. Losing a checkpoint row whose btrfs snapshot
 * exists would make the start-up reconcile treat the snapshot as unknown and
 * delete it, so hob pays one fsync per commit (hob writes a few rows per user
 * action, so this costs nothing noticeable).
 */
import { existsSync, mkdirSync, openSync, closeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import type { BaseSQLiteDatabase } from 'drizzle-orm/sqlite-core';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { HobError } from '../errors.js';
import * as schema from './schema.js';

/** The typed database handle. `db.$client` is the better-sqlite3 connection (close it with closeDatabase). */
export type HobDb = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

/** A HobDb or a transaction on it: what the data-access functions take. */
export type DbLike = BaseSQLiteDatabase<'sync', Database.RunResult, typeof schema>;

export interface OpenDatabaseOptions {
  /** Folder of drizzle-kit migrations. Default: daemon/db/migrations next to this module. Tests pass others. */
  migrationsFolder?: string;
  /** How long a statement waits for a lock held by another connection, in ms. Default 5000. */
  busyTimeoutMs?: number;
}

const MIGRATIONS_TABLE = '__drizzle_migrations';

/**
 * The migrations folder: next to this module when run from source (tsx,
 * vitest), or in the source tree when run from dist/ (tsc does not copy .sql).
 */
export function defaultMigrationsFolder(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'migrations'), join(here, '..', '..', '..', 'daemon', 'db', 'migrations')];
  return candidates.find((c) => existsSync(join(c, 'meta', '_journal.json'))) ?? candidates[0]!;
}

/**
 * Opens (creating if needed, mode 0600) the SQLite database at `path` and
 * brings its schema up to date. Pragmas: journal_mode=WAL, synchronous=FULL,
 * foreign_keys=ON, busy_timeout.
 * @throws HobError 'internal' if the file cannot be opened, was written by a
 *   newer hob (a migration this version does not know), a migration fails
 *   (then nothing of it is applied: all run in one transaction), or foreign
 *   keys are violated afterwards.
 */
export function openDatabase(path: string, opts: OpenDatabaseOptions = {}): HobDb {
  const migrationsFolder = opts.migrationsFolder ?? defaultMigrationsFolder();
  let sqlite: Database.Database;
  try {
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      // Token hashes live here: create the file private; -wal/-shm inherit its mode.
      closeSync(openSync(path, 'a', 0o600));
    }
    sqlite = new Database(path);
  } catch (err) {
    throw new HobError('internal', `cannot open database ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const mode = sqlite.pragma('journal_mode = WAL', { simple: true });
    if (path !== ':memory:' && mode !== 'wal') throw new Error(`journal_mode is ${String(mode)}, not wal`);
    sqlite.pragma('synchronous = FULL');
    sqlite.pragma(`busy_timeout = ${Math.trunc(opts.busyTimeoutMs ?? 5000)}`);
    // Migrations that rebuild a table (drizzle-kit's way to change a column) must not
    // trigger ON DELETE CASCADE; checked below with foreign_key_check instead.
    sqlite.pragma('foreign_keys = OFF');

    const db = drizzle({ client: sqlite, schema });
    refuseNewerDatabase(sqlite, migrationsFolder, path);
    migrate(db, { migrationsFolder, migrationsTable: MIGRATIONS_TABLE });

    const violations = sqlite.pragma('foreign_key_check') as unknown[];
    if (violations.length > 0) throw new Error(`foreign key violations after migration: ${JSON.stringify(violations.slice(0, 5))}`);
    sqlite.pragma('foreign_keys = ON');
    return db;
  } catch (err) {
    sqlite.close();
    if (err instanceof HobError) throw err;
    throw new HobError('internal', `cannot open database ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Closes the connection (checkpointing the WAL). Idempotent. */
export function closeDatabase(db: HobDb): void {
  if (db.$client.open) db.$client.close();
}

function refuseNewerDatabase(sqlite: Database.Database, migrationsFolder: string, path: string): void {
  const table = sqlite.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?`).get(MIGRATIONS_TABLE);
  if (!table) return;
  const row = sqlite.prepare(`SELECT max(created_at) AS last FROM ${MIGRATIONS_TABLE}`).get() as { last: number | null };
  const known = readMigrationFiles({ migrationsFolder }).at(-1)?.folderMillis ?? 0;
  if (row.last !== null && Number(row.last) > known) {
    throw new HobError('internal', `database ${path} was written by a newer version of hob (migration of ${new Date(Number(row.last)).toISOString()} is unknown to this one); upgrade hob or restore a backup`);
  }
}
