/**
 * Sandbox and checkpoint volumes (docs/architecture.md §3): the pool in the
 * domain's words. Core asks for a sandbox volume made from an image, a
 * checkpoint of a sandbox, a checkpoint restored into a sandbox; this module
 * knows the areas, the files inside a volume and the order of the btrfs steps
 * that keeps each operation crash safe (§7). The host paths that leave it are
 * opaque values handed on as they are: the files a VMM boots from, a memory
 * image directory, a checkpoint's disk for the ext4 reader.
 *
 * Failure modes, unless an operation says more: those of Pool (BadRequestError
 * for an id that is not a safe name, PoolFullError, HobError 'internal').
 */
import { stat, truncate } from 'node:fs/promises';
import { growImageFilesystem } from './grow-filesystem.js';
import { MemoryImage } from './memory-image.js';
import type { PoolPath } from './paths.js';
import type { Pool } from './pool.js';
import { DISK_FILE, IMAGE_FILES, MEMORY_DIR, restoreStagingName } from './volume-layout.js';

/** A checkpoint volume: `checkpoints/<sandboxId>/<id>`. A checkpoint row is one. */
export interface CheckpointVolume {
  readonly sandboxId: string;
  readonly id: string;
}

/** How a restore replaced the sandbox's volume (SandboxVolumes.restore). */
export type RestoreOutcome =
  /** Changed in place: `changedBytes` were cloned from the checkpoint or made holes. */
  | { readonly inPlace: true; readonly changedBytes: number }
  /** The staged snapshot of the checkpoint was swapped in, for `reason`. */
  | { readonly inPlace: false; readonly reason: string };

/** What a VMM boots a sandbox from: its volume's disk, kernel and initramfs. */
export interface BootFiles {
  readonly disk: PoolPath;
  readonly kernel: PoolPath;
  readonly initramfs: PoolPath;
}

/** A volume start-up found without an owner; `trashStray` removes it. */
export interface StrayVolume {
  /** Its name in its area (for a sandbox volume: the id it was made for). */
  readonly name: string;
  /** Pool-relative name, for logs and reports. */
  readonly label: string;
  readonly path: PoolPath;
}

export class SandboxVolumes {
  constructor(private readonly pool: Pool) {}

  // ---------------------------------------------------------------- sandbox volumes

  /**
   * A sandbox volume from an image: a writable snapshot of the image, its
   * rootfs renamed to the disk and grown (sparse) to `diskBytes`. A crash or
   * failure part way leaves a volume that `trashSandbox` removes.
   * @throws NotFoundError if there is no such image; ConflictError if the sandbox has a volume.
   */
  async createFromImage(sandboxId: string, image: string, diskBytes: number): Promise<void> {
    await this.pool.snapshot(this.pool.imagePath(image), this.pool.sandboxPath(sandboxId));
    await this.pool.move(this.pool.path('sandboxes', sandboxId, IMAGE_FILES.rootfs), this.disk(sandboxId));
    await this.growDisk(sandboxId, diskBytes);
    await growImageFilesystem(this.disk(sandboxId));
  }

  /**
   * A sandbox volume made from another sandbox: a writable snapshot of
   * checkpoint `from`, or of sandbox `from`'s current volume (the caller holds
   * that guest still meanwhile). Atomic.
   * @throws NotFoundError if the source has no volume; ConflictError if the new sandbox has one.
   */
  async fork(sandboxId: string, from: { readonly checkpoint: CheckpointVolume } | { readonly sandboxId: string }): Promise<void> {
    const src = 'checkpoint' in from ? this.checkpoint(from.checkpoint) : this.pool.sandboxPath(from.sandboxId);
    await this.pool.snapshot(src, this.pool.sandboxPath(sandboxId));
  }

  /** Sets the disk's size; sparse, so growing costs nothing until the guest writes (the guest grows its filesystem at boot). */
  async growDisk(sandboxId: string, bytes: number): Promise<void> {
    await truncate(this.disk(sandboxId), bytes);
  }

  /**
   * Bytes the sandbox's disk image occupies in the pool (its allocated blocks: what the
   * guest has written, extents shared with the image or checkpoints included). One stat,
   * cheap enough for stats every few seconds; null when there is no disk.
   */
  async diskAllocatedBytes(sandboxId: string): Promise<number | null> {
    try {
      return (await stat(this.disk(sandboxId))).blocks * 512;
    } catch {
      return null;
    }
  }

  /** The files a VMM boots the sandbox from (they may not exist yet). */
  bootFiles(sandboxId: string): BootFiles {
    return {
      disk: this.disk(sandboxId),
      kernel: this.pool.path('sandboxes', sandboxId, IMAGE_FILES.kernel),
      initramfs: this.pool.path('sandboxes', sandboxId, IMAGE_FILES.initramfs),
    };
  }

  /** The memory image inside the sandbox's volume (hibernation, a live checkpoint being taken or restored). */
  memory(sandboxId: string): MemoryImage {
    return new MemoryImage(this.pool, this.pool.path('sandboxes', sandboxId, MEMORY_DIR), `sandboxes/${sandboxId}/${MEMORY_DIR}`);
  }

  /** Moves every volume of a sandbox to the trash: its own, a staged restore, its checkpoints. Idempotent. */
  async trashSandbox(sandboxId: string): Promise<void> {
    await this.pool.trash(this.pool.sandboxPath(sandboxId));
    await this.pool.trash(this.staging(sandboxId));
    await this.pool.trash(this.pool.checkpointsDir(sandboxId));
  }

  // ---------------------------------------------------------------- checkpoints

  /**
   * Snapshots the sandbox's volume read-only as checkpoint `cp`. Atomic: on
   * failure nothing exists at the checkpoint. The caller made the disk consistent.
   * @throws ConflictError if the checkpoint exists; NotFoundError if the sandbox has no volume.
   */
  async checkpointSandbox(cp: CheckpointVolume): Promise<void> {
    await this.pool.snapshot(this.pool.sandboxPath(cp.sandboxId), this.checkpoint(cp), { readOnly: true });
  }

  /** Moves a checkpoint to the trash (deleted in the background). Returns false if there was none. */
  trashCheckpoint(cp: CheckpointVolume): Promise<boolean> {
    return this.pool.trash(this.checkpoint(cp));
  }

  /** What deleting the checkpoint would free. @throws NotFoundError if there is none. */
  checkpointExclusiveBytes(cp: CheckpointVolume): Promise<number> {
    return this.pool.exclusiveBytes(this.checkpoint(cp));
  }

  /** The checkpoint's disk image, for a reader (the ext4 diff); it is read-only. */
  checkpointDisk(cp: CheckpointVolume): PoolPath {
    return this.pool.path('checkpoints', cp.sandboxId, cp.id, DISK_FILE);
  }

  /** Checkpoint volumes of a sandbox whose id is not in `known` (crash leftovers, temporary ones). */
  async strayCheckpoints(sandboxId: string, known: ReadonlySet<string>): Promise<StrayVolume[]> {
    const entries = await this.pool.list(this.pool.checkpointsDir(sandboxId));
    return entries.filter((e) => !known.has(e.name)).map((e) => ({ name: e.name, label: `checkpoints/${sandboxId}/${e.name}`, path: e.path }));
  }

  // ---------------------------------------------------------------- restore

  /**
   * Makes the sandbox's volume a copy of `cp` (docs/architecture.md §30). A writable
   * snapshot of `cp` is staged at `sandboxes/<id>.restore`; the sandbox's volume is then
   * changed in place to match it, so that what the two share keeps its place in the host's
   * page cache (a swapped-in snapshot's files are new inodes, read again from disk at the
   * next boot); the staged snapshot goes to the trash last. If the in-place sync fails (xfs_io
   * missing, a disk of too many extents, anything), the staged snapshot is swapped in
   * instead. The VM must not be running. The staged snapshot is the restore's record until
   * it is done: after a crash `recoverRestore` finishes the restore from it. `staged` runs
   * once it exists (the crash tests' `restore.staged`).
   * @throws NotFoundError if the checkpoint has no volume (the sandbox is unchanged).
   */
  async restore(sandboxId: string, cp: CheckpointVolume, staged: () => void = () => {}): Promise<RestoreOutcome> {
    const staging = this.staging(sandboxId);
    await this.pool.delete(staging);
    await this.pool.snapshot(this.checkpoint(cp), staging);
    staged();
    return this.finishRestore(sandboxId);
  }

  /**
   * After a crash: a staged restore is finished (in place, or by moving the staged volume
   * into place when the sandbox's own is gone or cannot be synced). Returns what it did,
   * or undefined if no restore was staged.
   */
  async recoverRestore(sandboxId: string): Promise<RestoreOutcome | undefined> {
    if (!(await this.pool.exists(this.staging(sandboxId)))) return undefined;
    return this.finishRestore(sandboxId);
  }

  private async finishRestore(sandboxId: string): Promise<RestoreOutcome> {
    const staging = this.staging(sandboxId);
    const live = this.pool.sandboxPath(sandboxId);
    if (await this.pool.exists(live)) {
      try {
        const synced = await this.pool.syncInto(staging, live);
        await this.pool.trash(staging);
        return { inPlace: true, changedBytes: synced.clonedBytes + synced.punchedBytes };
      } catch (err) {
        await this.pool.trash(live);
        await this.pool.move(staging, live);
        return { inPlace: false, reason: (err as Error).message };
      }
    }
    await this.pool.move(staging, live);
    return { inPlace: false, reason: 'the volume was already gone' };
  }

  // ---------------------------------------------------------------- the pool as a whole

  /** Bytes the pool can still take (see Pool.freeBytes). */
  freeBytes(): Promise<number> {
    return this.pool.freeBytes();
  }

  /** Sandbox volumes (and staged restores) not named after an id in `known`. */
  async straySandboxVolumes(known: ReadonlySet<string>): Promise<StrayVolume[]> {
    return this.strays('sandboxes', known);
  }

  /** Checkpoint directories of sandboxes whose id is not in `known`. */
  async strayCheckpointDirs(known: ReadonlySet<string>): Promise<StrayVolume[]> {
    return this.strays('checkpoints', known);
  }

  /** Moves a stray volume to the trash. */
  async trashStray(stray: StrayVolume): Promise<void> {
    await this.pool.trash(stray.path);
  }

  private async strays(area: 'sandboxes' | 'checkpoints', known: ReadonlySet<string>): Promise<StrayVolume[]> {
    const entries = await this.pool.list(area);
    return entries.filter((e) => !known.has(e.name)).map((e) => ({ name: e.name, label: `${area}/${e.name}`, path: e.path }));
  }

  private disk(sandboxId: string): PoolPath {
    return this.pool.path('sandboxes', sandboxId, DISK_FILE);
  }

  private checkpoint(cp: CheckpointVolume): PoolPath {
    return this.pool.checkpointPath(cp.sandboxId, cp.id);
  }

  private staging(sandboxId: string): PoolPath {
    return this.pool.path('sandboxes', restoreStagingName(sandboxId));
  }
}
