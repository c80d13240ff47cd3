/**
 * The btrfs pool: the only owner of everything under the pool root. Other
 * modules ask it for paths (`pool.path(...)`) and for subvolume operations;
 * they never run `btrfs` themselves.
 *
 * Failure modes common to every operation:
 * - BadRequestError: a name is not a safe single component, or a path is not
 *   inside the pool's areas / crosses a symlink (nothing was touched).
 * - PoolFullError: btrfs or the kernel said ENOSPC/EDQUOT (nothing half-made
 *   is left behind at the destination).
 * - HobError 'internal': any other failure, with the command and its stderr.
 */
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, rename, rm, statfs } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ConflictError, HobError, NotFoundError } from '../errors.js';
import { fsError, run } from './errors.js';
import { POOL_DIR_MODE, POOL_FILE_MODE, restrictPool, restrictRoot, restrictTree } from './modes.js';
import { locatePool, unmountPool, type PoolKind } from './mount.js';
import { AREAS, SAFE_NAME, assertInsidePool, buildPoolPath, type Area, type PoolPath } from './paths.js';
import * as subvol from './subvolume.js';
import { TrashQueue } from './trash.js';
import { syncTree, type TreeSyncStats } from './tree-sync.js';
import { chooseUsageMode, exclusiveBytes, poolUsage, type PoolUsage, type UsageMode } from './usage.js';

export interface PoolOptions {
  /** hob's state directory; the embedded pool lives in it (`pool.img`, `pool/`). */
  stateDir: string;
  /** An existing directory on btrfs to use instead of the embedded pool (config `pool.path`). */
  path?: string | undefined;
  /** Apparent size of a new embedded image, bytes or 'auto' (config `pool.imageSize`). */
  imageSize?: 'auto' | number | undefined;
  /** Mount options of the embedded image (config `pool.mountOptions`). */
  mountOptions?: string | undefined;
  /**
   * Called when a background trash deletion fails (the entry stays in
   * `trash/` and is retried at the next start). Default: console.error.
   */
  onBackgroundError?: ((err: Error, path: string) => void) | undefined;
}

/** An entry of a pool directory. */
export interface PoolEntry {
  readonly name: string;
  readonly path: PoolPath;
  /** The entry is the root of a subvolume (else a plain file or directory). */
  readonly subvolume: boolean;
}

export class Pool {
  private readonly trashQueue: TrashQueue;

  private constructor(
    /** Real path of the pool root. */
    readonly root: string,
    /** How the filesystem was found: 'loop' (embedded image), 'directory' (state dir on btrfs), 'external' (config path). */
    readonly kind: PoolKind,
    /** How `exclusiveBytes` measures: simple quotas ('qgroup') or `btrfs filesystem du` ('du'). */
    readonly usageMode: UsageMode,
    /** For kind 'loop': the image file. */
    readonly imageFile: string | undefined,
    onBackgroundError: (err: Error, path: string) => void,
  ) {
    this.trashQueue = new TrashQueue(join(root, 'trash'), onBackgroundError);
  }

  /**
   * Finds, creates or mounts the pool (see locatePool: idempotent), creates
   * the layout (`images/ sandboxes/ checkpoints/ trash/`), makes everything
   * in it root-only (fixing a pool made by an older hob, see modes.ts), picks
   * the usage mode and starts deleting whatever a previous run left in
   * `trash/` (`drainTrash()` waits for it).
   * @throws HobError if the configured path is not btrfs, or mkfs/mount fail;
   *   PoolFullError if the host lacks space for a new image.
   */
  static async open(opts: PoolOptions): Promise<Pool> {
    const loc = await locatePool(opts);
    try {
      for (const area of AREAS) {
        await mkdir(join(loc.root, area), { recursive: true, mode: POOL_DIR_MODE }).catch((e) => { throw fsError('mkdir', join(loc.root, area), e); });
      }
      await restrictPool(loc.root, AREAS);
      const usageMode = await chooseUsageMode(loc.root, loc.kind !== 'external');
      const pool = new Pool(loc.root, loc.kind, usageMode, loc.imageFile, opts.onBackgroundError ?? ((err, p) => console.error(`hob: cannot delete ${p} from the trash: ${err.message}`)));
      await pool.trashQueue.enqueueExisting();
      return pool;
    } catch (err) {
      if (loc.mounted) await unmountPool(loc.root).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Absolute path `<root>/<area>/<names...>`, every name checked to be one
   * safe component (see SAFE_NAME). Pure: touches nothing.
   * @throws BadRequestError for an unsafe name.
   */
  path(area: Area, ...names: string[]): PoolPath {
    return buildPoolPath(this.root, area, names);
  }

  /** `images/<name>`: an image subvolume. */
  imagePath(name: string): PoolPath { return this.path('images', name); }
  /** `sandboxes/<id>`: a sandbox's subvolume. */
  sandboxPath(id: string): PoolPath { return this.path('sandboxes', id); }
  /** `checkpoints/<sandboxId>`: plain directory holding a sandbox's checkpoints. */
  checkpointsDir(sandboxId: string): PoolPath { return this.path('checkpoints', sandboxId); }
  /** `checkpoints/<sandboxId>/<checkpointId>`: a read-only checkpoint subvolume. */
  checkpointPath(sandboxId: string, checkpointId: string): PoolPath { return this.path('checkpoints', sandboxId, checkpointId); }

  /** True if something exists at `p`. */
  async exists(p: PoolPath): Promise<boolean> {
    await this.check(p, true);
    return lstat(p).then(() => true, (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return false;
      throw fsError('stat', p, e);
    });
  }

  /** True if `p` is the root of a subvolume. */
  async isSubvolume(p: PoolPath): Promise<boolean> {
    await this.check(p);
    return subvol.isSubvolume(p);
  }

  /**
   * Creates an empty writable subvolume at `p` (mode 0700), and missing plain
   * parent directories (e.g. `checkpoints/<id>/`).
   * @throws ConflictError if `p` exists.
   */
  async createSubvolume(p: PoolPath): Promise<void> {
    await this.prepareDestination(p);
    await subvol.createSubvolume(p);
    await restrictRoot(p).catch(async (err: unknown) => {
      await subvol.deleteTree(p).catch(() => undefined);
      throw err;
    });
  }

  /**
   * Snapshot of subvolume `src` at `dst`, writable or read-only. O(1): shares
   * every extent. Creates missing plain parent directories of `dst`.
   * Atomic (one btrfs transaction): on failure nothing exists at `dst`.
   * Modes: a writable snapshot's root becomes 0700 (a sandbox made from an
   * image of an older hob, whose root was 0755); if that fails (ENOSPC) the
   * snapshot is deleted again. For a read-only one, which cannot be chmod'ed
   * afterwards, a writable `src` is made root-only first.
   * @throws NotFoundError if `src` is not a subvolume; ConflictError if `dst` exists.
   */
  async snapshot(src: PoolPath, dst: PoolPath, opts: { readOnly?: boolean } = {}): Promise<void> {
    await this.check(src);
    if (!(await subvol.isSubvolume(src))) throw new NotFoundError(`no subvolume at ${src}`);
    await this.prepareDestination(dst);
    if (opts.readOnly) await restrictTree(src);
    await subvol.snapshotSubvolume(src, dst, opts.readOnly ?? false);
    if (!opts.readOnly) {
      await restrictRoot(dst).catch(async (err: unknown) => {
        await subvol.deleteTree(dst).catch(() => undefined);
        throw err;
      });
    }
  }

  /**
   * Deletes `p` and everything under it, nested and read-only subvolumes
   * included, synchronously (see `trash` for the background variant).
   * Returns false if nothing was there.
   * @throws HobError from btrfs; what remains can be deleted again.
   */
  async delete(p: PoolPath): Promise<boolean> {
    await this.check(p, true);
    return subvol.deleteTree(p);
  }

  /** @throws NotFoundError if `p` is not a subvolume. */
  async isReadOnly(p: PoolPath): Promise<boolean> {
    await this.requireSubvolume(p);
    return subvol.isReadOnly(p);
  }

  /**
   * Sets or clears the read-only property of subvolume `p`. Before it
   * becomes read-only its content is made root-only (see modes.ts).
   * @throws NotFoundError if `p` is not a subvolume.
   */
  async setReadOnly(p: PoolPath, readOnly: boolean): Promise<void> {
    await this.requireSubvolume(p);
    if (readOnly) await restrictTree(p);
    await subvol.setReadOnly(p, readOnly);
  }

  /**
   * Entries of an area (`list('sandboxes')`) or of a directory below one
   * (`list(pool.checkpointsDir(id))`), sorted by name, each marked subvolume
   * or not. Names that are not SAFE_NAME are skipped (hob never makes them).
   * A missing directory lists as empty.
   */
  async list(dir: Area | PoolPath): Promise<PoolEntry[]> {
    const abs = (AREAS as readonly string[]).includes(dir) ? join(this.root, dir) : (await this.check(dir), dir);
    let names: string[];
    try {
      names = await readdir(abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fsError('readdir', abs, err);
    }
    const out: PoolEntry[] = [];
    for (const name of names.sort()) {
      if (!SAFE_NAME.test(name)) continue;
      const p = join(abs, name) as PoolPath;
      out.push({ name, path: p, subvolume: await subvol.isSubvolume(p) });
    }
    return out;
  }

  /**
   * Renames `src` to `dst` (atomic; both in the pool). Creates missing plain
   * parent directories of `dst`. btrfs moves a read-only subvolume only
   * within its own directory: clear the flag first to move it elsewhere.
   * Files and plain directories cannot leave the subvolume they live in.
   * @throws NotFoundError if `src` is missing; ConflictError if `dst` exists;
   *   HobError 'internal' for a read-only subvolume moved to another directory
   *   (EROFS) or a file moved to another subvolume (EXDEV).
   */
  async move(src: PoolPath, dst: PoolPath): Promise<void> {
    await this.check(src, true);
    if (!(await this.exists(src))) throw new NotFoundError(`nothing at ${src}`);
    await this.prepareDestination(dst);
    await rename(src, dst).catch((e) => { throw fsError('rename', `${src} -> ${dst}`, e); });
  }

  /**
   * Copies file `src` to `dst` sharing its extents (`cp --reflink=always`):
   * O(extents), no data copied. Creates missing plain parent directories.
   * `dst` is 0600. On failure `dst` is removed.
   * @throws NotFoundError if `src` is missing; ConflictError if `dst` exists;
   *   PoolFullError (metadata space) ; HobError otherwise.
   */
  async reflinkCopy(src: PoolPath, dst: PoolPath): Promise<void> {
    await this.check(src);
    const st = await lstat(src).catch(() => undefined);
    if (!st?.isFile()) throw new NotFoundError(`no file at ${src}`);
    await this.prepareDestination(dst);
    try {
      await run('cp', ['--reflink=always', '--no-target-directory', '--', src, dst]);
      await chmod(dst, POOL_FILE_MODE).catch((e) => { throw fsError('chmod', dst, e); });
    } catch (err) {
      await rm(dst, { force: true }).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Makes subvolume `dst` hold what subvolume `src` holds, in place and sharing extents
   * (tree-sync.ts): ranges of a file that both already share are not touched, so they keep
   * their pages in the host's page cache. Not atomic: after a failure or a crash `dst` may be
   * part old, part new, and calling it again finishes the work.
   * @throws NotFoundError if either is not a subvolume; PoolFullError; HobError 'internal'
   *   (xfs_io missing or failing, more extents than a map is read for, a symlink in `src`).
   */
  async syncInto(src: PoolPath, dst: PoolPath): Promise<TreeSyncStats> {
    await this.requireSubvolume(src);
    await this.requireSubvolume(dst);
    return syncTree(src, dst);
  }

  /**
   * Moves `p` into `trash/` at once (atomic rename) and deletes it in the
   * background. After this resolves nothing is at `p` any more. Meant for
   * subvolumes and directories directly in an area or below plain
   * directories (`sandboxes/<id>`, `checkpoints/<id>/<cp>`, `checkpoints/<id>`).
   * Special cases:
   * - a read-only subvolume is made writable first (btrfs refuses to move it
   *   to another directory); a crash in between leaves it in place, writable,
   *   with unchanged content;
   * - something that lives inside another subvolume (a file in a sandbox)
   *   cannot be renamed into `trash/` (EXDEV) and is deleted right away.
   * Returns false if nothing was there.
   */
  async trash(p: PoolPath): Promise<boolean> {
    const parts = await this.check(p, true);
    if (parts[0] === 'trash') throw new HobError('internal', `${p} is already in the trash`);
    const name = `${Date.now()}-${randomBytes(4).toString('hex')}-${basename(p)}`.slice(0, 128);
    const dst = join(this.root, 'trash', name);
    try {
      await rename(p, dst);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return false;
      if (code === 'EXDEV') return subvol.deleteTree(p);
      if (code !== 'EROFS' || !(await subvol.isSubvolume(p))) throw fsError('rename', `${p} -> ${dst}`, err);
      await subvol.setReadOnly(p, false);
      await rename(p, dst).catch((e) => { throw fsError('rename', `${p} -> ${dst}`, e); });
    }
    this.trashQueue.enqueue(dst);
    return true;
  }

  /** Resolves once the background deletions queued so far (and any queued meanwhile) are done. Never rejects. */
  drainTrash(): Promise<void> {
    return this.trashQueue.drain();
  }

  /** Exclusive bytes of `p` (a subvolume, or a file with 'du'): what deleting it would free. */
  async exclusiveBytes(p: PoolPath): Promise<number> {
    await this.check(p);
    if (!(await this.exists(p))) throw new NotFoundError(`nothing at ${p}`);
    return exclusiveBytes(p, this.usageMode === 'qgroup' && (await subvol.isSubvolume(p)) ? 'qgroup' : 'du');
  }

  /**
   * Bytes the pool can still take (statfs: f_bavail blocks). The one measure
   * hob's space checks use (create, checkpoint, hibernate, an ENOSPC's
   * message): it starts no process, which matters on the checkpoint's hot
   * path; `usage()` runs `btrfs filesystem usage` and is for reports.
   * @throws HobError 'internal' if statfs fails.
   */
  async freeBytes(): Promise<number> {
    const fs = await statfs(this.root).catch((e) => { throw fsError('statfs', this.root, e); });
    return Number(fs.bavail) * Number(fs.bsize);
  }

  /**
   * Size and free bytes of the pool filesystem from statfs (f_blocks, f_bavail): cheap, for a
   * dashboard that asks often; on btrfs an estimate, as `df`'s.
   * @throws HobError 'internal' if statfs fails.
   */
  async space(): Promise<{ sizeBytes: number; freeBytes: number }> {
    const fs = await statfs(this.root).catch((e) => { throw fsError('statfs', this.root, e); });
    return { sizeBytes: Number(fs.blocks) * Number(fs.bsize), freeBytes: Number(fs.bavail) * Number(fs.bsize) };
  }

  /** Size, used and free bytes of the whole pool filesystem, as `btrfs filesystem usage` reports them. */
  async usage(): Promise<PoolUsage> {
    return poolUsage(this.root);
  }

  /** Writes all dirty data of the pool filesystem to disk and commits the transaction (`btrfs filesystem sync`). */
  async sync(): Promise<void> {
    await run('btrfs', ['filesystem', 'sync', this.root]);
  }

  /**
   * Waits for background deletions; with `unmount` and kind 'loop', also
   * unmounts the image (the loop device is released). hobd normally keeps the
   * pool mounted across restarts; tests and uninstall unmount.
   * @throws HobError if umount fails (e.g. a file in the pool is still open).
   */
  async close(opts: { unmount?: boolean } = {}): Promise<void> {
    await this.drainTrash();
    if (opts.unmount && this.kind === 'loop') await unmountPool(this.root);
  }

  /** Runtime check that `p` is inside an area, with safe components and no symlinks (but the last, if allowed). */
  private check(p: string, allowFinalSymlink = false): Promise<string[]> {
    return assertInsidePool(this.root, p, allowFinalSymlink);
  }

  private async requireSubvolume(p: PoolPath): Promise<void> {
    await this.check(p);
    if (!(await subvol.isSubvolume(p))) throw new NotFoundError(`no subvolume at ${p}`);
  }

  /** Checks `dst`, refuses if it exists, creates its missing parents (plain directories). */
  private async prepareDestination(dst: PoolPath): Promise<void> {
    await this.check(dst);
    if (await this.exists(dst)) throw new ConflictError(`${dst} already exists`);
    await mkdir(dirname(dst), { recursive: true, mode: POOL_DIR_MODE }).catch((e) => { throw fsError('mkdir', dirname(dst), e); });
  }
}
