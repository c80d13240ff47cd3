/**
 * Spare sandboxes (docs/architecture.md §31) in tests: with warm templates on, hobd keeps a
 * paused spare per template, with its own VMM process, subvolume, run dir and network, made
 * and removed in the background. Tests that count hobd's resources leave spares out.
 *
 * Scan the resources first, then ask for the spares: a spare's row is written before any of its
 * resources exists and deleted after they are gone, so every spare resource a scan saw belongs
 * to a row that is still there (unless that spare was removed in between).
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';

export interface SpareRow {
  readonly id: string;
  readonly name: string;
  readonly state: string;
}

/** The spare sandboxes in `stateDir`'s database now, straight from it (the API never shows them); [] without a database. */
export function spareRows(d: { readonly stateDir: string }): SpareRow[] {
  let db: Database.Database;
  try {
    db = new Database(join(d.stateDir, 'hob.db'), { readonly: true, fileMustExist: true });
  } catch {
    return [];
  }
  try {
    return db.prepare('SELECT id, name, state FROM sandboxes WHERE spare = 1').all() as SpareRow[];
  } finally {
    db.close();
  }
}

/** The ids of the spare sandboxes now. */
export function spareIds(d: { readonly stateDir: string }): string[] {
  return spareRows(d).map((r) => r.id);
}

/** `items` without those that belong to a spare (`idOf` gives the sandbox id an item is named by, if any). */
export function withoutSpares<T>(d: { readonly stateDir: string }, items: readonly T[], idOf: (item: T) => string | undefined): T[] {
  const spares = new Set(spareIds(d));
  return items.filter((item) => {
    const id = idOf(item);
    return id === undefined || !spares.has(id);
  });
}
