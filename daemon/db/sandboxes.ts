/** Data access for the `sandboxes` table. Every state change is logged as an event in the same transaction. */
import { and, asc, eq } from 'drizzle-orm';
import { ConflictError, NotFoundError } from '../errors.js';
import { mapConstraintError } from './errors.js';
import { appendEvent, deleteEventsOf } from './events.js';
import { newId } from './ids.js';
import type { DbLike } from './open.js';
import { sandboxes, type SandboxState } from './schema.js';

/** A sandbox row. */
export type Sandbox = typeof sandboxes.$inferSelect;

/** What a new sandbox needs; times, seq and (unless given) the id are filled in. */
export type NewSandbox = Omit<typeof sandboxes.$inferInsert, 'id' | 'createdAt' | 'updatedAt' | 'stateSince' | 'checkpointSeq'> & {
  /** Default: a new random id. */
  id?: string;
};

/** Fields that can be changed with updateSandbox (state has its own function). */
export type SandboxPatch = Partial<Pick<Sandbox, 'cpus' | 'memoryMiB' | 'diskBytes' | 'urlAuth' | 'labels' | 'environment' | 'config' | 'lastError' | 'vmm'>>;

/**
 * Inserts a sandbox and logs its first state as a 'state' event.
 * @throws ConflictError if the name (or id) is taken; HobError 'internal' if a
 *   CHECK fails (name not a DNS label, non-positive sizes...: validate first).
 */
export function insertSandbox(db: DbLike, input: NewSandbox): Sandbox {
  const now = new Date();
  try {
    return db.transaction((tx) => {
      const row = tx.insert(sandboxes).values({ ...input, id: input.id ?? newId(), createdAt: now, updatedAt: now, stateSince: now }).returning().get();
      appendEvent(tx, { sandboxId: row.id, type: 'state', data: { from: null, to: row.state } });
      return row;
    }, { behavior: 'immediate' });
  } catch (err) {
    return mapConstraintError(err, `a sandbox named "${input.name}" already exists`);
  }
}

export function getSandbox(db: DbLike, id: string): Sandbox | undefined {
  return db.select().from(sandboxes).where(eq(sandboxes.id, id)).get();
}

/** The sandbox named `name`; never a spare (nobody can name one). */
export function getSandboxByName(db: DbLike, name: string): Sandbox | undefined {
  return db.select().from(sandboxes).where(and(eq(sandboxes.name, name), eq(sandboxes.spare, false))).get();
}

export interface ListSandboxesOptions {
  /**
   * Which rows: 'users' (default) the sandboxes users see, no spare (docs/architecture.md §31);
   * 'spares' only the spares; 'all' both (start-up reconcile).
   */
  readonly rows?: 'users' | 'spares' | 'all';
}

/** Sandboxes, oldest first. */
export function listSandboxes(db: DbLike, opts: ListSandboxesOptions = {}): Sandbox[] {
  const rows = opts.rows ?? 'users';
  const where = rows === 'all' ? undefined : eq(sandboxes.spare, rows === 'spares');
  return db.select().from(sandboxes).where(where).orderBy(asc(sandboxes.createdAt), asc(sandboxes.id)).all();
}

/** What a create sets when it claims a spare (the rest of the row is the spare's). */
export type SpareClaim = Pick<Sandbox, 'name' | 'urlAuth' | 'labels' | 'environment' | 'diskBytes'>;

/**
 * A create takes spare `id` over (docs/architecture.md §31): in one transaction the row stops
 * being a spare, gets the create's name and settings and state `creating`, and its history
 * starts over (the spare's own events are dropped: they were never shown). Returns the row.
 * @throws NotFoundError if `id` is not a spare (any more); ConflictError if the name is taken.
 */
export function claimSpare(db: DbLike, id: string, claim: SpareClaim): Sandbox {
  const now = new Date();
  try {
    return db.transaction((tx) => {
      const row = tx
        .update(sandboxes)
        .set({ ...claim, spare: false, state: 'creating', stateSince: now, updatedAt: now, createdAt: now })
        .where(and(eq(sandboxes.id, id), eq(sandboxes.spare, true)))
        .returning()
        .get();
      if (!row) throw new NotFoundError(`no spare sandbox with id ${id}`);
      deleteEventsOf(tx, id);
      appendEvent(tx, { sandboxId: id, type: 'state', data: { from: null, to: 'creating' } });
      return row;
    }, { behavior: 'immediate' });
  } catch (err) {
    if (err instanceof NotFoundError) throw err;
    return mapConstraintError(err, `cannot create sandbox ${claim.name}`);
  }
}

export interface SetStateOptions {
  /** Only change the state if it currently is one of these (compare-and-set). */
  from?: readonly SandboxState[];
  /** Sets last_error (null clears it). Unset: unchanged. */
  error?: string | null;
}

/**
 * Sets the state (and state_since, updated_at), logs a 'state' event
 * {from, to, error?}, all in one transaction. Setting the current state again
 * only updates last_error (if given) and logs nothing.
 * @throws NotFoundError if there is no such sandbox; ConflictError if `from`
 *   is given and the current state is not in it.
 */
export function setSandboxState(db: DbLike, id: string, to: SandboxState, opts: SetStateOptions = {}): Sandbox {
  return db.transaction((tx) => {
    const cur = getSandbox(tx, id);
    if (!cur) throw new NotFoundError(`no sandbox with id ${id}`);
    if (opts.from && !opts.from.includes(cur.state)) {
      throw new ConflictError(`sandbox ${cur.name} is ${cur.state}, expected ${opts.from.join(' or ')}`);
    }
    const now = new Date();
    const errorPatch = opts.error !== undefined ? { lastError: opts.error } : {};
    if (cur.state === to) {
      if (opts.error === undefined) return cur;
      return tx.update(sandboxes).set({ ...errorPatch, updatedAt: now }).where(eq(sandboxes.id, id)).returning().get();
    }
    const row = tx.update(sandboxes).set({ state: to, stateSince: now, updatedAt: now, ...errorPatch }).where(eq(sandboxes.id, id)).returning().get();
    appendEvent(tx, { sandboxId: id, type: 'state', data: { from: cur.state, to, ...(opts.error ? { error: opts.error } : {}) } });
    return row;
  }, { behavior: 'immediate' });
}

/**
 * Changes other fields of a sandbox.
 * @throws NotFoundError if there is no such sandbox; HobError 'internal' on a CHECK failure.
 */
export function updateSandbox(db: DbLike, id: string, patch: SandboxPatch): Sandbox {
  let row: Sandbox | undefined;
  try {
    row = db.update(sandboxes).set({ ...patch, updatedAt: new Date() }).where(eq(sandboxes.id, id)).returning().get();
  } catch (err) {
    return mapConstraintError(err, `cannot update sandbox ${id}`);
  }
  if (!row) throw new NotFoundError(`no sandbox with id ${id}`);
  return row;
}

/**
 * Deletes the row (its checkpoint rows go with it; events stay, except a spare's, which was
 * never shown and leaves no trace). Returns false if it did not exist.
 */
export function deleteSandbox(db: DbLike, id: string): boolean {
  return db.transaction((tx) => {
    const deleted = tx.delete(sandboxes).where(eq(sandboxes.id, id)).returning({ name: sandboxes.name, spare: sandboxes.spare }).get();
    // The name goes into the event: the history of a destroyed sandbox keeps it (db/events.ts listNamedEvents).
    if (deleted?.spare) deleteEventsOf(tx, id);
    else if (deleted) appendEvent(tx, { sandboxId: id, type: 'deleted', data: { name: deleted.name } });
    return deleted !== undefined;
  }, { behavior: 'immediate' });
}

/**
 * Gives a sandbox a network slot (config key `netSlot`: the index of its transit /30, see
 * net/addresses.ts) unless it has one: the lowest slot no other sandbox holds. A slot stays
 * with its sandbox until the row is deleted, so a VM that outlives hobd keeps its addresses.
 * One immediate transaction, so concurrent creates never get the same slot.
 * @throws NotFoundError if there is no such sandbox; ConflictError when all `slotCount` slots are taken.
 */
export function allocateNetSlot(db: DbLike, id: string, slotCount: number): number {
  return db.transaction((tx) => {
    const rows = tx.select({ id: sandboxes.id, config: sandboxes.config }).from(sandboxes).all();
    const own = rows.find((r) => r.id === id);
    if (!own) throw new NotFoundError(`no sandbox with id ${id}`);
    const current = own.config['netSlot'];
    if (typeof current === 'number' && Number.isInteger(current) && current >= 0 && current < slotCount) return current;
    const taken = new Set(rows.filter((r) => r.id !== id).map((r) => r.config['netSlot']));
    let slot = 0;
    while (taken.has(slot)) slot++;
    if (slot >= slotCount) {
      throw new ConflictError(`all ${slotCount} network slots of the transit range are taken: remove sandboxes or configure a larger network.transitRange`);
    }
    tx.update(sandboxes).set({ config: { ...own.config, netSlot: slot } }).where(eq(sandboxes.id, id)).run();
    return slot;
  }, { behavior: 'immediate' });
}
