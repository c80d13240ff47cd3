/**
 * Checkpoints (docs/architecture.md §3): read-only checkpoint volumes
 * (SandboxVolumes) and their rows. This module keeps the two in step; the
 * manager decides when to call it and holds the sandbox's lock meanwhile.
 *
 * Crash safety (nothing written is lost, nothing half-made is kept):
 * - take: the volume comes first, the row second. A crash in between leaves
 *   an orphan volume, which reconcile removes; a checkpoint only counts once
 *   its row exists.
 * - remove: the row goes first, then the volume (an orphan again at worst).
 * - restore: see SandboxVolumes.restore; reconcile finishes a restore a
 *   crash interrupted (finishRestore).
 */
import {
  deleteCheckpoint,
  getCheckpoint,
  insertCheckpoint,
  listCheckpoints,
  newId,
  type Checkpoint,
  type HobDb,
  type Sandbox as SandboxRow,
} from '../db/index.js';
import { NotFoundError, PoolFullError } from '../errors.js';
import { isNoSpace, type CheckpointVolume, type RestoreOutcome, type SandboxVolumes, type StrayVolume } from '../storage/index.js';
import type { VmHandle } from '../vmm/types.js';
import { checkpointName } from './checkpoint-info.js';
import { crashPoint } from './crash-point.js';
import { requireFreeSpace } from './free-space.js';

/** A checkpoint needs at least this much free pool space (btrfs metadata of the snapshot, and room for the guest to go on writing). */
export const MIN_FREE_FOR_CHECKPOINT_BYTES = 128 * 1024 ** 2;
/** Automatic checkpoints kept per sandbox when its schedule says nothing else. */
export const DEFAULT_AUTO_KEEP = 5;

const MiB = 1024 ** 2;

export class CheckpointStore {
  constructor(private readonly db: HobDb, private readonly volumes: SandboxVolumes) {}

  /** A checkpoint by "vN" or uid. @throws NotFoundError */
  find(sandbox: SandboxRow, ref: string): Checkpoint {
    const row = getCheckpoint(this.db, sandbox.id, ref);
    if (!row) throw new NotFoundError(`sandbox ${sandbox.name} has no checkpoint ${ref}`);
    return row;
  }

  list(sandbox: SandboxRow): Checkpoint[] {
    return listCheckpoints(this.db, sandbox.id);
  }

  /** The checkpoint's disk image, for the ext4 diff. */
  disk(cp: CheckpointVolume): string {
    return this.volumes.checkpointDisk(cp);
  }

  /** @throws PoolFullError when the pool has less than `needBytes` (plus the checkpoint minimum) free. */
  requireSpace(what: string, needBytes = 0): Promise<void> {
    return requireFreeSpace(this.volumes, needBytes + MIN_FREE_FOR_CHECKPOINT_BYTES, what, 'checkpoints, sandboxes or images');
  }

  /**
   * Snapshots the sandbox's volume read-only and records it. The caller has
   * made the disk consistent (stopped VM, frozen or paused guest).
   */
  async take(sandbox: SandboxRow, opts: { comment: string; auto: boolean; kind: Checkpoint['kind'] }): Promise<Checkpoint> {
    const volume = { sandboxId: sandbox.id, id: newId() };
    await this.snapshotSandbox(volume);
    if (opts.kind === 'disk' && !opts.auto) crashPoint('checkpoint.snapshotted');
    try {
      return insertCheckpoint(this.db, { ...volume, kind: opts.kind, comment: opts.comment, auto: opts.auto });
    } catch (err) {
      await this.volumes.trashCheckpoint(volume).catch(() => undefined);
      throw err;
    }
  }

  /**
   * A live checkpoint: the VM is paused, its memory written into the sandbox's
   * volume, the volume snapshotted with it, and the memory removed from the
   * sandbox again. The VM is resumed on every path.
   */
  async takeLive(sandbox: SandboxRow, vm: VmHandle, opts: { comment: string; auto: boolean }, onStep: (text: string) => void): Promise<Checkpoint> {
    const memory = this.volumes.memory(sandbox.id);
    await memory.remove();
    onStep('Pausing the VM...');
    await vm.pause();
    crashPoint('checkpoint-live.paused');
    try {
      await memory.create();
      onStep(`Saving memory (${sandbox.memoryMiB} MiB)...`);
      try {
        await vm.snapshot(memory.dir);
      } catch (err) {
        throw await this.asPoolFull(err, 'saving the memory');
      }
      crashPoint('checkpoint-live.memory-saved');
      onStep('Saving filesystem state...');
      return await this.take(sandbox, { ...opts, kind: 'live' });
    } finally {
      await memory.remove().catch(() => undefined);
      await vm.resume();
    }
  }

  /** Removes a checkpoint (row first, then the volume in the background). */
  async remove(cp: Checkpoint): Promise<void> {
    deleteCheckpoint(this.db, cp.id);
    await this.volumes.trashCheckpoint(cp);
  }

  /** Deletes the oldest automatic checkpoints beyond `keep`, never one whose id is in `protect`. Returns their names. */
  async pruneAuto(sandbox: SandboxRow, keep: number, protect: readonly string[] = []): Promise<string[]> {
    const excess = selectAutoPrune(this.list(sandbox), keep, protect);
    for (const cp of excess) await this.remove(cp);
    return excess.map(checkpointName);
  }

  /** Exclusive bytes of a checkpoint (what deleting it frees); null if it cannot be measured. */
  async measure(cp: Checkpoint): Promise<number | null> {
    return this.volumes.checkpointExclusiveBytes(cp).catch(() => null);
  }

  /**
   * Makes the sandbox's volume a copy of `cp`'s, in place where it can (see
   * SandboxVolumes.restore). The VM must not be running.
   */
  restoreVolume(sandbox: SandboxRow, cp: Checkpoint): Promise<RestoreOutcome> {
    return this.volumes.restore(sandbox.id, cp, () => crashPoint('restore.staged'));
  }

  /** After a crash: finishes a restore that was staged (see SandboxVolumes.recoverRestore); undefined if there was none. */
  finishRestore(sandboxId: string): Promise<RestoreOutcome | undefined> {
    return this.volumes.recoverRestore(sandboxId);
  }

  /** Checkpoint volumes of `sandboxId` that no row owns (crash leftovers, temporary diff snapshots). */
  orphans(sandboxId: string): Promise<StrayVolume[]> {
    return this.volumes.strayCheckpoints(sandboxId, new Set(listCheckpoints(this.db, sandboxId).map((c) => c.id)));
  }

  /**
   * A read-only snapshot of the sandbox's current volume for a one-off reader
   * (diff): a checkpoint volume without a row, so reconcile removes it if the
   * caller cannot. The caller calls `discard`.
   */
  async snapshotForReading(sandbox: SandboxRow): Promise<{ disk: string; discard: () => Promise<void> }> {
    const volume = { sandboxId: sandbox.id, id: `tmp-${newId()}` };
    await this.snapshotSandbox(volume);
    return { disk: this.volumes.checkpointDisk(volume), discard: async () => void (await this.volumes.trashCheckpoint(volume)) };
  }

  private async snapshotSandbox(volume: CheckpointVolume): Promise<void> {
    try {
      await this.volumes.checkpointSandbox(volume);
    } catch (err) {
      throw await this.asPoolFull(err, 'the snapshot');
    }
  }

  private async asPoolFull(err: unknown, what: string): Promise<unknown> {
    if (err instanceof PoolFullError) return err;
    const freeBytes = await this.volumes.freeBytes().catch(() => Number.MAX_SAFE_INTEGER);
    if (isNoSpace(err) || freeBytes < MIN_FREE_FOR_CHECKPOINT_BYTES) {
      return new PoolFullError(`the pool ran out of space during ${what} (${Math.floor(freeBytes / MiB)} MiB free); the sandbox is unchanged`, { cause: err });
    }
    return err;
  }
}

/**
 * The automatic checkpoints a prune removes from `all` (oldest first): those
 * older than the newest `keep`, except the protected ones (a restore protects
 * its target and the checkpoint it just kept, so a sandbox may briefly hold one
 * or two more than `keep`; the next prune evens that out).
 */
export function selectAutoPrune<C extends Pick<Checkpoint, 'id' | 'auto'>>(all: readonly C[], keep: number, protect: readonly string[] = []): C[] {
  const autos = all.filter((c) => c.auto);
  return autos.slice(0, Math.max(0, autos.length - keep)).filter((c) => !protect.includes(c.id));
}
