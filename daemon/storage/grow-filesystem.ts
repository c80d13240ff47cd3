/**
 * Growing a new sandbox's ext4 filesystem to its disk's size on the host, before its first
 * boot (docs/architecture.md §24). In the guest the same resize2fs sat on the boot's critical
 * path (seconds under TCG for a 4 GiB disk) and raced nothing, whereas here it takes about a
 * tenth of a second of host CPU for 100 GiB: it writes only the new groups' metadata, sparse.
 *
 * Only for a disk just made from an image: that filesystem is hob's own build, never touched
 * by a guest, so the host parses no guest-made data (§8.5). A fork or a restore that grows a
 * disk leaves the growth to the guest's init, as before.
 */
import { PoolFullError } from '../errors.js';
import { run } from './errors.js';

/**
 * Grows the filesystem in `disk` (unmounted, never booted) to the file's size. A failure other
 * than a full pool is not one for the create: the guest's init grows the filesystem at its
 * first boot when it finds it smaller than the disk.
 * @throws PoolFullError
 */
export async function growImageFilesystem(disk: string): Promise<void> {
  try {
    await run('resize2fs', [disk]);
  } catch (err) {
    if (err instanceof PoolFullError) throw err;
  }
}
