/**
 * Checkpoints on disk (docs/architecture.md §3): read-only btrfs snapshots of a
 * sandbox subvolume at `checkpoints/<sandbox-id>/<checkpoint-id>/`.
 *
 * This module owns the checkpoint subvolumes and their rows; the manager
 * decides when to call it and holds the sandbox's lock meanwhile.
 *
 * Crash safety (nothing written is lost, nothing half-made is kept):
 * - take: the snapshot comes first, the row second. A crash in between leaves
 *   an orphan subvolume, which reconcile removes; a checkpoint only counts once
 *   its row exists.
 * - remove: the row goes first, then the subvolume (an orphan again at worst).
 * - swap (restore): the checkpoint is snapshotted to `sandboxes/<id>.restore`,
 *   the current subvolume goes to the trash, and the staged one is renamed into
 *   place; reconcile finishes a swap a crash interrupted (finishRestoreSwap).
 */
import { mkdir, statfs } from 'node:fs/promises';
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
import { isNoSpace, type Pool, type PoolPath } from '../storage/index.js';
import type { VmHandle } from '../vmm/types.js';
import { checkpointName } from './checkpoint-info.js';
import { crashPoint } from './crash-point.js';
import { DISK_FILE, MEMORY_DIR, restoreStagingName } from './layout.js';

/** A checkpoint needs at least this much free pool space (btrfs metadata of the snapshot, and room for the guest to go on writing). */
export const MIN_FREE_FOR_CHECKPOINT_BYTES = 128 * 1024 ** 2;
/** Automatic checkpoints kept per sandbox when its schedule says nothing else. */
export const DEFAULT_AUTO_KEEP = 5;

const MiB = 1024 ** 2;

export class CheckpointStore {
  constructor(private readonly db: HobDb, private readonly pool: Pool) {}

  /** A checkpoint by "vN" or uid. @throws NotFoundError */
  find(sandbox: SandboxRow, ref: string): Checkpoint {
    const row = getCheckpoint(this.db, sandbox.id, ref);
    if (!row) throw new NotFoundError(`sandbox ${sandbox.name} has no checkpoint ${ref}`);
    return row;
  }

  list(sandbox: SandboxRow): Checkpoint[] {
    return listCheckpoints(this.db, sandbox.id);
  }

  path(cp: Pick<Checkpoint, 'sandboxId' | 'id'>): PoolPath {
    return this.pool.checkpointPath(cp.sandboxId, cp.id);
  }

  diskPath(cp: Pick<Checkpoint, 'sandboxId' | 'id'>): PoolPath {
    return this.pool.path('checkpoints', cp.sandboxId, cp.id, DISK_FILE);
  }

  memoryDir(cp: Pick<Checkpoint, 'sandboxId' | 'id'>): PoolPath {
    return this.pool.path('checkpoints', cp.sandboxId, cp.id, MEMORY_DIR);
  }

  /** @throws PoolFullError when the pool has less than `needBytes` (plus the checkpoint minimum) free. */
  async requireSpace(what: string, needBytes = 0): Promise<void> {
    // statfs, not `btrfs filesystem usage`: no process to start on the checkpoint's hot path.
    const fs = await statfs(this.pool.path('sandboxes'));
    const freeBytes = Number(fs.bavail) * Number(fs.bsize);
    const need = needBytes + MIN_FREE_FOR_CHECKPOINT_BYTES;
    if (freeBytes < need) {
      throw new PoolFullError(`the pool has ${Math.floor(freeBytes / MiB)} MiB free; ${what} needs at least ${Math.ceil(need / MiB)} MiB (remove checkpoints, sandboxes or images, or grow the pool)`);
    }
  }

  /**
   * Snapshots the sandbox subvolume read-only and records it. The caller has
   * made the disk consistent (stopped VM, frozen or paused guest).
   */
  async take(sandbox: SandboxRow, opts: { comment: string; auto: boolean; kind: Checkpoint['kind'] }): Promise<Checkpoint> {
    const id = newId();
    await this.snapshotSandbox(sandbox.id, this.pool.checkpointPath(sandbox.id, id));
    if (opts.kind === 'disk' && !opts.auto) crashPoint('checkpoint.snapshotted');
    try {
      return insertCheckpoint(this.db, { sandboxId: sandbox.id, id, kind: opts.kind, comment: opts.comment, auto: opts.auto });
    } catch (err) {
      await this.pool.trash(this.pool.checkpointPath(sandbox.id, id)).catch(() => undefined);
      throw err;
    }
  }

  /**
   * A live checkpoint: the VM is paused, its memory written into the sandbox
   * subvolume, the subvolume snapshotted with it, and the memory removed from
   * the sandbox again. The VM is resumed on every path.
   */
  async takeLive(sandbox: SandboxRow, vm: VmHandle, opts: { comment: string; auto: boolean }, onStep: (text: string) => void): Promise<Checkpoint> {
    const memoryDir = this.pool.path('sandboxes', sandbox.id, MEMORY_DIR);
    await this.pool.delete(memoryDir);
    onStep('Pausing the VM...');
    await vm.pause();
    crashPoint('checkpoint-live.paused');
    try {
      await mkdir(memoryDir, { mode: 0o700 });
      onStep(`Saving memory (${sandbox.memoryMiB} MiB)...`);
      try {
        await vm.snapshot(memoryDir);
      } catch (err) {
        throw await this.asPoolFull(err, 'saving the memory');
      }
      crashPoint('checkpoint-live.memory-saved');
      onStep('Saving filesystem state...');
      return await this.take(sandbox, { ...opts, kind: 'live' });
    } finally {
      await this.pool.delete(memoryDir).catch(() => undefined);
      await vm.resume();
    }
  }

  /** Removes a checkpoint (row first, then the subvolume in the background). */
  async remove(cp: Checkpoint): Promise<void> {
    deleteCheckpoint(this.db, cp.id);
    await this.pool.trash(this.path(cp));
  }

  /** Deletes the oldest automatic checkpoints beyond `keep`, never one whose id is in `protect`. Returns their names. */
  async pruneAuto(sandbox: SandboxRow, keep: number, protect: readonly string[] = []): Promise<string[]> {
    const excess = selectAutoPrune(this.list(sandbox), keep, protect);
    for (const cp of excess) await this.remove(cp);
    return excess.map(checkpointName);
  }

  /** Exclusive bytes of a checkpoint (what deleting it frees); null if it cannot be measured. */
  async measure(cp: Checkpoint): Promise<number | null> {
    return this.pool.exclusiveBytes(this.path(cp)).catch(() => null);
  }

  /**
   * Replaces the sandbox's subvolume by a writable snapshot of `cp`. The VM
   * must not be running. The old subvolume goes to the trash.
   */
  async swapIn(sandbox: SandboxRow, cp: Checkpoint): Promise<void> {
    const staging = this.pool.path('sandboxes', restoreStagingName(sandbox.id));
    await this.pool.delete(staging);
    await this.pool.snapshot(this.path(cp), staging);
    await this.pool.trash(this.pool.sandboxPath(sandbox.id));
    crashPoint('restore.swap');
    await this.pool.move(staging, this.pool.sandboxPath(sandbox.id));
  }

  /**
   * After a crash: a staged restore whose swap did not finish is moved into
   * place (the old subvolume was already in the trash) or, if the swap did
   * finish, the leftover is removed. Returns true if it moved something.
   */
  async finishRestoreSwap(sandboxId: string): Promise<boolean> {
    const staging = this.pool.path('sandboxes', restoreStagingName(sandboxId));
    if (!(await this.pool.exists(staging))) return false;
    if (await this.pool.exists(this.pool.sandboxPath(sandboxId))) {
      await this.pool.trash(staging);
      return false;
    }
    await this.pool.move(staging, this.pool.sandboxPath(sandboxId));
    return true;
  }

  /** Checkpoint subvolumes of `sandboxId` that no row owns (crash leftovers, temporary diff snapshots). */
  async orphans(sandboxId: string): Promise<PoolPath[]> {
    const known = new Set(listCheckpoints(this.db, sandboxId).map((c) => c.id));
    const entries = await this.pool.list(this.pool.checkpointsDir(sandboxId));
    return entries.filter((e) => !known.has(e.name)).map((e) => e.path);
  }

  /** A read-only snapshot of the sandbox's current subvolume for a one-off reader (diff); the caller removes it. */
  async snapshotForReading(sandbox: SandboxRow): Promise<{ path: PoolPath; disk: PoolPath }> {
    const name = `tmp-${newId()}`;
    const path = this.pool.checkpointPath(sandbox.id, name);
    await this.snapshotSandbox(sandbox.id, path);
    return { path, disk: this.pool.path('checkpoints', sandbox.id, name, DISK_FILE) };
  }

  private async snapshotSandbox(sandboxId: string, dst: PoolPath): Promise<void> {
    try {
      await this.pool.snapshot(this.pool.sandboxPath(sandboxId), dst, { readOnly: true });
    } catch (err) {
      throw await this.asPoolFull(err, 'the snapshot');
    }
  }

  private async asPoolFull(err: unknown, what: string): Promise<unknown> {
    if (err instanceof PoolFullError) return err;
    const { freeBytes } = await this.pool.usage().catch(() => ({ freeBytes: Number.MAX_SAFE_INTEGER }));
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
