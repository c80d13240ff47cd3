import type { Checkpoint } from '../db/index.js';
import type { CheckpointInfo } from './types.js';

/** The user-facing name of a checkpoint. */
export function checkpointName(row: Pick<Checkpoint, 'seq'>): string {
  return `v${row.seq}`;
}

/** The public view of a checkpoint row. */
export function toCheckpointInfo(row: Checkpoint, sandboxName: string, sizeBytes: number | null = row.sizeBytes): CheckpointInfo {
  return {
    id: checkpointName(row),
    uid: row.id,
    sandbox: sandboxName,
    comment: row.comment,
    kind: row.kind,
    auto: row.auto,
    createdAt: row.createdAt.toISOString(),
    sizeBytes,
  };
}
