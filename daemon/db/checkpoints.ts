/** Data access for the `checkpoints` table. */
import { and, asc, eq, sql } from 'drizzle-orm';
import { NotFoundError } from '../errors.js';
import { mapConstraintError } from './errors.js';
import { appendEvent } from './events.js';
import { newId } from './ids.js';
import type { DbLike } from './open.js';
import { checkpoints, sandboxes } from './schema.js';

/** A checkpoint row. Its user-facing name is `v${seq}`. */
export type Checkpoint = typeof checkpoints.$inferSelect;

export interface NewCheckpoint {
  sandboxId: string;
  kind: Checkpoint['kind'];
  /** Default ''. */
  comment?: string;
  /** Default false. */
  auto?: boolean;
  /** Default: a new random id. */
  id?: string;
  sizeBytes?: number | null;
}

/** The seq the next checkpoint of this sandbox will get (does not reserve it). @throws NotFoundError */
export function nextCheckpointSeq(db: DbLike, sandboxId: string): number {
  const row = db.select({ seq: sandboxes.checkpointSeq }).from(sandboxes).where(eq(sandboxes.id, sandboxId)).get();
  if (!row) throw new NotFoundError(`no sandbox with id ${sandboxId}`);
  return row.seq + 1;
}

/**
 * Inserts a checkpoint with the next seq of its sandbox, taken atomically (so
 * concurrent inserts get distinct seqs, and a seq is never given out twice,
 * even after deletes). Logs a 'checkpoint' event.
 * @throws NotFoundError if the sandbox does not exist; ConflictError if the id is taken.
 */
export function insertCheckpoint(db: DbLike, input: NewCheckpoint): Checkpoint {
  try {
    return db.transaction((tx) => {
      const bumped = tx.update(sandboxes).set({ checkpointSeq: sql`${sandboxes.checkpointSeq} + 1` })
        .where(eq(sandboxes.id, input.sandboxId)).returning({ seq: sandboxes.checkpointSeq }).get();
      if (!bumped) throw new NotFoundError(`no sandbox with id ${input.sandboxId}`);
      const row = tx.insert(checkpoints).values({
        id: input.id ?? newId(),
        sandboxId: input.sandboxId,
        seq: bumped.seq,
        kind: input.kind,
        comment: input.comment ?? '',
        auto: input.auto ?? false,
        sizeBytes: input.sizeBytes ?? null,
        createdAt: new Date(),
      }).returning().get();
      appendEvent(tx, { sandboxId: input.sandboxId, type: 'checkpoint', data: { id: row.id, seq: row.seq, kind: row.kind } });
      return row;
    }, { behavior: 'immediate' });
  } catch (err) {
    return mapConstraintError(err, `checkpoint id ${input.id ?? ''} already exists`);
  }
}

/** Checkpoints of a sandbox, by seq. */
export function listCheckpoints(db: DbLike, sandboxId: string): Checkpoint[] {
  return db.select().from(checkpoints).where(eq(checkpoints.sandboxId, sandboxId)).orderBy(asc(checkpoints.seq)).all();
}

/** A checkpoint of `sandboxId` by its id or its name `v<seq>`. */
export function getCheckpoint(db: DbLike, sandboxId: string, ref: string): Checkpoint | undefined {
  const m = /^v([1-9][0-9]{0,15})$/.exec(ref);
  const byRef = m ? eq(checkpoints.seq, Number(m[1])) : eq(checkpoints.id, ref);
  return db.select().from(checkpoints).where(and(eq(checkpoints.sandboxId, sandboxId), byRef)).get();
}

/** Records the measured size. @throws NotFoundError */
export function setCheckpointSize(db: DbLike, id: string, sizeBytes: number): void {
  const r = db.update(checkpoints).set({ sizeBytes }).where(eq(checkpoints.id, id)).run();
  if (r.changes === 0) throw new NotFoundError(`no checkpoint with id ${id}`);
}

/** Returns false if it did not exist. */
export function deleteCheckpoint(db: DbLike, id: string): boolean {
  return db.delete(checkpoints).where(eq(checkpoints.id, id)).run().changes > 0;
}
