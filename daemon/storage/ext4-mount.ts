/**
 * Read-only loop mounts of raw ext4 disk images on the host, for the time of
 * one operation (the checkpoint diff).
 *
 * Each image is mounted with `mount -t ext4 -o ro,noload,loop,nosuid,nodev,noexec`:
 * - `ro` + `loop`: util-linux attaches a read-only loop device with autoclear,
 *   so the device goes away with the last unmount (it reuses an existing
 *   read-only loop device of the same file, e.g. when two diffs read the same
 *   checkpoint at once).
 * - `noload`: the journal is never replayed. The images live in read-only
 *   snapshots and the caller guarantees they were quiesced (fsfreeze/pause)
 *   when taken, so there is nothing to replay that matters.
 * - `nosuid,nodev,noexec`: the content is the guest's, never trusted.
 *
 * Mount points are `<scratchDir>/ext4-diff-XXXXXX/<n>` (mkdtemp, mode 0700:
 * only root can look into a guest's files while they are mounted, and
 * concurrent operations never share a name). They are unmounted and removed
 * in `finally`, also when the operation throws.
 *
 * Caveats:
 * - Mounting makes the host kernel parse a filesystem the guest wrote. hob
 *   trusts the host kernel's ext4 driver with its own sandboxes' images.
 * - The mounts live in the caller's mount namespace. A process that creates
 *   a new mount namespace while they exist (`unshare -m`, `ip netns exec`,
 *   a systemd unit with PrivateTmp) gets copies of them; such a copy keeps
 *   the loop device attached after our umount until that namespace ends.
 *   Running hobd in a mount namespace of its own (or the diff in a child
 *   process in one) avoids that.
 */
import { open, readdir, realpath, mkdir, mkdtemp, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HobError } from '../errors.js';
import { run } from './errors.js';
import { findMount } from './mount.js';

const MOUNT_OPTIONS = 'ro,noload,loop,nosuid,nodev,noexec';
/** Prefix of the per-operation directory in the scratch dir. */
const PREFIX = 'ext4-diff-';
/** ext2/3/4 superblock magic, little-endian u16 at byte 1024 + 56. */
const EXT_MAGIC = 0xef53;

/**
 * Checks that `image` is a regular file with an ext2/3/4 superblock, so that a
 * wrong input fails with a clear message before anything is mounted.
 * @throws HobError 'internal' if it is missing, not a regular file, or not ext.
 */
export async function assertExt4Image(image: string): Promise<void> {
  const st = await stat(image).catch((err: NodeJS.ErrnoException) => {
    throw new HobError('internal', `disk image ${image} is not readable: ${err.message}`, { cause: err });
  });
  if (!st.isFile()) throw new HobError('internal', `disk image ${image} is not a regular file`);
  const fh = await open(image, 'r');
  try {
    const buf = Buffer.alloc(2);
    const { bytesRead } = await fh.read(buf, 0, 2, 1024 + 56);
    if (bytesRead !== 2 || buf.readUInt16LE(0) !== EXT_MAGIC) {
      throw new HobError('internal', `disk image ${image} is not an ext4 filesystem (no ext2/3/4 superblock)`);
    }
  } finally {
    await fh.close();
  }
}

/**
 * Mounts every image read-only (see the header), runs `fn` with the mount
 * points (same order as `images`), then unmounts them and removes the mount
 * points, whether `fn` resolved or threw. `fn` must not leave file handles
 * open or work running when it settles (umount would be busy).
 * @throws HobError 'internal' if an image is not ext4 or mount fails (with
 *   mount's message); if unmounting fails after `fn` resolved (if `fn` threw,
 *   its error wins and the unmount is retried lazily).
 */
export async function withExt4Mounts<T>(images: readonly string[], scratchDir: string, fn: (dirs: readonly string[]) => Promise<T>): Promise<T> {
  for (const image of images) await assertExt4Image(image);
  await mkdir(scratchDir, { recursive: true, mode: 0o700 });
  const base = await mkdtemp(join(await realpath(scratchDir), PREFIX));
  const mounted: string[] = [];
  let failed = false;
  try {
    for (const [i, image] of images.entries()) {
      const dir = join(base, String(i));
      await mkdir(dir, { mode: 0o700 });
      try {
        await run('mount', ['-t', 'ext4', '-o', MOUNT_OPTIONS, image, dir]);
      } catch (err) {
        throw new HobError('internal', `cannot mount disk image ${image} read-only as ext4: ${(err as Error).message}`, { cause: err });
      }
      mounted.push(dir);
    }
    return await fn(mounted);
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    const errors: unknown[] = [];
    for (const dir of mounted.reverse()) await unmount(dir).catch((e: unknown) => errors.push(e));
    await removeDirs(base).catch((e: unknown) => errors.push(e));
    // Only surface a cleanup failure when there is no better error to report.
    if (!failed && errors.length > 0) throw errors[0];
  }
}

/**
 * Unmounts `dir`; retries a busy target a few times (a handle closed just
 * before may still be draining), then detaches it lazily so that it goes
 * away as soon as the last user does.
 * @throws HobError if it is still mounted afterwards.
 */
async function unmount(dir: string): Promise<void> {
  let last: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    if (!(await findMount(dir))) return;
    try {
      await run('umount', [dir]);
      return;
    } catch (err) {
      last = err;
      await sleep(50 * (attempt + 1));
    }
  }
  await run('umount', ['-l', dir]).catch(() => undefined);
  if (await findMount(dir)) throw new HobError('internal', `cannot unmount ${dir}: ${(last as Error)?.message ?? 'busy'}`, { cause: last });
}

/** rmdir of the mount points under `base` and `base` itself; never recursive removal (a mount could still be there). */
async function removeDirs(base: string): Promise<void> {
  for (const name of await readdir(base)) await rmdir(join(base, name));
  await rmdir(base);
}

/**
 * Unmounts and removes what a crashed process left in `scratchDir`
 * (`ext4-diff-*` directories). Call it at daemon start-up only, never while
 * a diff may run. Returns the number of leftover directories removed.
 * @throws HobError if something there cannot be unmounted.
 */
export async function cleanupExt4Scratch(scratchDir: string): Promise<number> {
  const root = await realpath(scratchDir).catch(() => undefined);
  if (!root) return 0;
  let n = 0;
  for (const name of await readdir(root)) {
    if (!name.startsWith(PREFIX)) continue;
    const base = join(root, name);
    for (const sub of await readdir(base).catch(() => [] as string[])) await unmount(join(base, sub));
    await removeDirs(base);
    n++;
  }
  return n;
}

